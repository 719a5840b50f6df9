"""A process's start (nfhub_shared.startup), in processes of their own: a test process must
not freeze its own garbage."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run(code: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_imports_run_without_collections_then_what_they_made_is_frozen() -> None:
    paused, enabled, frozen = run(
        "import gc, json\n"
        "from nfhub_shared.startup import process_start\n"
        "with process_start():\n"
        "    import nfhub_shared.app\n"
        "    paused = gc.isenabled()\n"
        "print(json.dumps([paused, gc.isenabled(), gc.get_freeze_count()]))\n"
    )
    assert not paused
    assert enabled  # collections again for what the process makes from now on
    assert frozen > 10_000  # the app factory's modules: FastAPI, SQLAlchemy, pydantic…


def test_a_collector_that_was_off_stays_off() -> None:
    assert (
        run(
            "import gc, json\n"
            "from nfhub_shared.startup import process_start\n"
            "gc.disable()\n"
            "with process_start():\n"
            "    pass\n"
            "print(json.dumps(gc.isenabled()))\n"
        )
        is False
    )


def test_httpx_comes_without_its_command_line() -> None:
    imports = (
        "import httpx, json, sys\n"
        "loaded = sorted({'click', 'rich', 'pygments'} & set(sys.modules))\n"
    )
    # Without: httpx imports its CLI's libraries (they are installed, for nfhub's CLI).
    assert run(imports + "print(json.dumps(loaded))") == ["click", "pygments", "rich"]
    found, main = run(
        "from nfhub_shared.startup import process_start\n"
        "with process_start():\n"
        + "".join(f"    {line}\n" for line in imports.splitlines())
        + "print(json.dumps([loaded, callable(httpx.main)]))\n"
    )
    assert found == []
    assert main  # httpx's own stand-in for a missing CLI
