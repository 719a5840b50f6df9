"""Write the committed OpenAPI documents (`make openapi`) or check them (`make openapi-check`).

For every service package that is installed, build its app with default settings
(``ENVIRONMENT=test``, a fixed ``ADMIN_URL``, no ``.env``, no stack variables from the caller's
environment) and call ``app.openapi()`` without running the lifespan, so no database is needed.

    python scripts/openapi.py write    # (re)write openapi/<service>.json
    python scripts/openapi.py check    # exit 1 when a file is missing, stale or left over
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENAPI_DIR = REPO_ROOT / "openapi"
SERVICES = ("admin", "compute", "files", "miner")
FIXED_ENV = {"ENVIRONMENT": "test", "ADMIN_URL": "http://127.0.0.1:8001"}
# Variables kept from the caller's environment; every other one could change a setting.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "VIRTUAL_ENV")
DIFF_LINES = 60


def installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def isolate_environment() -> None:
    """Keep the documents independent of whoever runs this (their .env, DATABASE_URL, …)."""
    kept = {name: os.environ[name] for name in KEPT_ENV if name in os.environ}
    os.environ.clear()
    os.environ.update(kept)
    os.environ.update(FIXED_ENV)


def render(service: str) -> str:
    package = f"nfhub_{service}"
    config = importlib.import_module(f"{package}.config")
    main = importlib.import_module(f"{package}.main")
    settings = config.Settings(_env_file=None, **FIXED_ENV)
    app = main.create_app(settings)
    schema: dict[str, Any] = app.openapi()
    return json.dumps(schema, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Rendered document per installed service, keyed by file name."""
    isolate_environment()
    rendered: dict[str, str] = {}
    for service in SERVICES:
        if installed(f"nfhub_{service}"):
            rendered[f"{service}.json"] = render(service)
    if not rendered:
        raise SystemExit("openapi: no service package is installed; run `uv sync --frozen`")
    return rendered


def write() -> int:
    OPENAPI_DIR.mkdir(exist_ok=True)
    for name, text in documents().items():
        path = OPENAPI_DIR / name
        old = path.read_text() if path.exists() else None
        if old != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        else:
            print(f"unchanged {path.relative_to(REPO_ROOT)}")
    return 0


def check() -> int:
    expected = documents()
    problems = 0
    for name, text in expected.items():
        path = OPENAPI_DIR / name
        rel = str(path.relative_to(REPO_ROOT))
        if not path.exists():
            print(f"{rel} is missing: run `make openapi` and commit it", file=sys.stderr)
            problems += 1
            continue
        current = path.read_text()
        if current != text:
            diff = list(
                difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    f"{rel} (committed)",
                    f"{rel} (generated)",
                    lineterm="",
                )
            )
            print(f"{rel} is out of date: run `make openapi` and commit it", file=sys.stderr)
            print("\n".join(diff[:DIFF_LINES]), file=sys.stderr)
            if len(diff) > DIFF_LINES:
                print(f"… {len(diff) - DIFF_LINES} more diff lines", file=sys.stderr)
            problems += 1
    for path in sorted(OPENAPI_DIR.glob("*.json")):
        if path.name not in expected:
            stale = path.relative_to(REPO_ROOT)
            print(f"{stale} has no installed service behind it: delete it", file=sys.stderr)
            problems += 1
    if problems:
        return 1
    print(f"openapi: {', '.join(sorted(expected))} up to date")
    return 0


def main(argv: list[str]) -> int:
    commands = {"write": write, "check": check}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: {Path(__file__).name} write|check", file=sys.stderr)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
