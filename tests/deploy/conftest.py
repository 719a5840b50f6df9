"""What the container deployment says, read from its files: compose, Caddyfile, Dockerfile.

No Docker engine is needed: the files are parsed, and deploy/entrypoint.sh is run with stand-ins
for ``python`` and ``uvicorn`` that only record how they were called.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CADDYFILE = REPO / "deploy" / "Caddyfile"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"

SERVICES = ("admin", "compute", "files", "miner", "web")
# The services and one-shots run the runtime image; the worker its own, with Nextflow.
NFHUB_IMAGES = {"nfhub:local": "runtime", "nfhub-worker:local": "worker"}
# What a variable given as ${NAME} in compose stands for in these tests.
DUMMY_SECRET = "0123456789abcdef" * 4

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolated_names(text: str) -> set[str]:
    """Names compose substitutes in a file's text (``${A}``, ``${A:-x}``, ``$A``; not ``$$``)."""
    return {
        m.group("braced") or m.group("bare")
        for m in _INTERPOLATION.finditer(text)
        if not m.group("escaped")
    }


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's substitution, enough for this file: defaults, required values, ``$$``."""

    def replace(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("braced") or m.group("bare")
        op, arg = m.group("op") or "", m.group("arg") or ""
        present = name in env and (env[name] != "" or not op.startswith(":"))
        if op.endswith("-"):
            return env[name] if present else arg
        if op.endswith("?"):
            if not present:
                raise KeyError(f"compose would stop: {arg or name}")
            return env[name]
        if op.endswith("+"):
            return arg if present else ""
        return env.get(name, "")

    return _INTERPOLATION.sub(replace, value)


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping, values as compose passes them (strings)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(name): _env_value(value) for name, value in env.items()}


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass(frozen=True)
class Compose:
    document: dict[str, Any]
    text: str

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["services"])

    def nfhub_services(self) -> dict[str, dict[str, Any]]:
        """Services running the nfhub image, whatever their role."""
        return {n: s for n, s in self.services.items() if s.get("image") in NFHUB_IMAGES}

    def stage(self, name: str) -> str:
        """The Dockerfile stage an nfhub service's image is built from, by its image name."""
        return NFHUB_IMAGES[self.services[name]["image"]]

    def role(self, name: str) -> str:
        return str(self.services[name]["command"][0])

    def by_role(self, role: str) -> str:
        names = [n for n in self.nfhub_services() if self.role(n) == role]
        assert len(names) == 1, f"expected one compose service with role {role!r}, got {names}"
        return names[0]

    def environment(self, name: str) -> dict[str, str]:
        return environment_of(self.services[name])

    def resolved_environment(self, name: str, env: Mapping[str, str]) -> dict[str, str]:
        return {k: interpolate(v, env) for k, v in self.environment(name).items()}

    def variables(self) -> set[str]:
        """Every variable the file interpolates (from .env or the caller's environment)."""
        return interpolated_names(self.text)


@pytest.fixture(scope="session")
def compose() -> Compose:
    text = COMPOSE_FILE.read_text()
    return Compose(yaml.safe_load(text), text)


@pytest.fixture(scope="session")
def compose_variables(compose: Compose) -> dict[str, str]:
    """A value for every variable the compose file interpolates, as a filled-in .env would."""
    return dict.fromkeys(interpolated_names(compose.text), DUMMY_SECRET)


# --------------------------------------------------------------------------------------------
# Settings


def settings_class(service: str) -> type[BaseSettings]:
    cls: type[BaseSettings] = importlib.import_module(f"nfhub_{service}.config").Settings
    return cls


def accepted_env_names(cls: type[BaseSettings]) -> set[str]:
    """Every variable a settings class reads: PREFIX_FIELD, and FIELD itself (BaseServiceSettings
    adds an unprefixed source for every field, so one .env configures the whole stack)."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    fields = {name.upper() for name in cls.model_fields}
    return fields | {f"{prefix}{name}".upper() for name in fields}


@pytest.fixture(name="settings_class", scope="session")
def settings_class_fixture() -> Callable[[str], type[BaseSettings]]:
    return settings_class


@pytest.fixture(scope="session")
def settings_names() -> dict[str, set[str]]:
    return {service: accepted_env_names(settings_class(service)) for service in SERVICES}


@pytest.fixture
def isolated_environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, str]], None]:
    """Replace os.environ (for settings classes, which read it) with exactly ``env``."""

    def use(env: Mapping[str, str]) -> None:
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return use


@pytest.fixture(scope="session")
def app_routes() -> dict[str, set[tuple[str, str]]]:
    """(METHOD, path) of every route of each service's app, built as scripts/openapi.py does:
    test settings, no .env, no lifespan, so no database."""
    routes: dict[str, set[tuple[str, str]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name not in ("PATH", "HOME", "TMPDIR", "LANG"):
                patch.delenv(name)
        for service in SERVICES:
            settings = settings_class(service)(_env_file=None, ENVIRONMENT="test")
            app: FastAPI = importlib.import_module(f"nfhub_{service}.main").create_app(settings)
            routes[service] = {
                (method, route.path)
                for route in app.routes
                for method in (getattr(route, "methods", None) or ())
            }
    return routes


# --------------------------------------------------------------------------------------------
# The entrypoint, run with recording stand-ins


STUB = """#!/bin/sh
{ printf '%s' "$(basename "$0")"; for arg in "$@"; do printf ' %s' "$arg"; done; echo; } \\
    >> "$NFHUB_TEST_CALLS"
exit "${NFHUB_TEST_EXIT:-0}"
"""


@dataclass(frozen=True)
class EntrypointRun:
    returncode: int
    calls: list[list[str]]
    stderr: str


@pytest.fixture
def run_entrypoint(tmp_path: Path) -> Callable[..., EntrypointRun]:
    """Run deploy/entrypoint.sh ROLE ARGS with ``python`` and ``uvicorn`` that record argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "uvicorn"):
        stub = bin_dir / name
        stub.write_text(STUB)
        stub.chmod(0o755)
    calls = tmp_path / "calls"

    def run(*args: str, exit_code: int = 0) -> EntrypointRun:
        calls.write_text("")
        result = subprocess.run(
            ["/bin/sh", str(ENTRYPOINT), *args],
            env={
                "PATH": f"{bin_dir}:/usr/bin:/bin",
                "NFHUB_TEST_CALLS": str(calls),
                "NFHUB_TEST_EXIT": str(exit_code),
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        recorded = [line.split() for line in calls.read_text().splitlines()]
        return EntrypointRun(result.returncode, recorded, result.stderr)

    return run


@dataclass(frozen=True)
class ServedApp:
    """What ``entrypoint.sh <service>`` serves: migrations first, then uvicorn."""

    migrate_module: str
    app: str
    port: int
    uvicorn_args: list[str]


def served_app(run: EntrypointRun) -> ServedApp:
    assert run.returncode == 0, run.stderr
    assert len(run.calls) == 2, f"expected migrate then uvicorn, got {run.calls}"
    migrate, uvicorn = run.calls
    assert migrate[:2] == ["python", "-m"] and len(migrate) == 3, migrate
    assert uvicorn[0] == "uvicorn", uvicorn
    args = uvicorn[1:]
    port = int(args[args.index("--port") + 1])
    return ServedApp(migrate[2], args[0], port, args)


@pytest.fixture
def served(run_entrypoint: Callable[..., EntrypointRun]) -> dict[str, ServedApp]:
    return {service: served_app(run_entrypoint(service)) for service in SERVICES}


# --------------------------------------------------------------------------------------------
# Caddyfile and Dockerfile


def parse_caddyfile(text: str) -> dict[tuple[str, ...], list[list[str]]]:
    """Top-level blocks (by their addresses; () is the global options block) → their
    directives, one word list per line at depth 1. Enough for a `caddy fmt`-formatted file."""
    blocks: dict[tuple[str, ...], list[list[str]]] = {}
    depth = 0
    current: tuple[str, ...] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "}":
            depth -= 1
            if depth == 0:
                current = None
            continue
        words = line.removesuffix("{").replace(",", " ").split()
        if depth == 0:
            current = tuple(words)
            blocks[current] = []
        elif depth == 1 and current is not None:
            blocks[current].append(words)
        if line.endswith("{"):
            depth += 1
    assert depth == 0, "unbalanced braces in the Caddyfile"
    return blocks


@pytest.fixture(scope="session")
def caddy_blocks() -> dict[tuple[str, ...], list[list[str]]]:
    return parse_caddyfile(CADDYFILE.read_text())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split()), start))
    return instructions


@pytest.fixture(scope="session")
def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())
