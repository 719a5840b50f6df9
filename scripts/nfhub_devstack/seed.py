"""The demo user's token, kept across restarts: ``make run`` prints the same token every time
as long as it still works, so a ``TOKEN`` exported yesterday still works today. And the demo
org's primary compute environment (``local``, under the state folder), made on the first start
so a launch that names none runs as it always did."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from nfhub_devstack.errors import StackError, console
from nfhub_devstack.services import SEED_MODULE, SERVICES
from nfhub_devstack.state import State, write_private
from nfhub_devstack.supervisor import Stack

SEED_KEYS = ("user", "password", "org_id", "project_id", "token")


def demo_seed(stack: Stack, env: Mapping[str, str]) -> dict[str, Any]:
    """The stored demo seed when its token still reaches the demo project, else a new seed
    (the seed module revokes the old token and makes another) stored in its place."""
    state = stack.state
    kept = read_seed(state)
    why: str | None = "no stored demo token yet"
    if kept is not None:
        why = token_problem(stack, kept)
        if why is None:
            console.print(
                f"demo token kept from the last start ({state.demo_seed})", soft_wrap=True
            )
            ensure_compute_env(stack, kept)
            return kept
    output = stack.run_step("seed", [sys.executable, "-m", SEED_MODULE], env, capture=True)
    seed = parse_seed(output)
    write_private(state.demo_seed, (json.dumps(seed, indent=2) + "\n").encode())
    if kept is not None:
        console.print(
            f"[bold yellow]a new demo token was made: the stored one no longer works ({why}); "
            "export the new TOKEN below[/]",
            soft_wrap=True,
        )
    ensure_compute_env(stack, seed)
    return seed


def _call(
    stack: Stack, seed: dict[str, Any], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """(status, JSON answer) of a call to compute as the demo user in the demo project."""
    compute = next(s for s in SERVICES if s.name == "compute").url(stack.scheme)
    request = urllib.request.Request(  # noqa: S310 - our own URL
        f"{compute}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {seed['token']}",
            "X-Project-ID": str(seed["project_id"]),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=stack.ssl_context) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StackError(f"{method} compute {path} failed: {getattr(exc, 'reason', exc)}") from exc


def ensure_compute_env(stack: Stack, seed: dict[str, Any]) -> None:
    """The demo org's primary ``local`` environment, made when the org has none: its launch
    and work folders under the state folder, beside COMPUTE_WORK_ROOT."""
    status, envs = _call(stack, seed, "GET", "/api/v1/compute-envs")
    if status != 200:
        raise StackError(f"GET compute /api/v1/compute-envs answered {status}")
    if envs["count"]:
        return
    root = stack.state.root / "compute" / "envs" / "local"
    for folder in (root / "work", root / "launch"):
        folder.mkdir(parents=True, exist_ok=True)
    status, env = _call(
        stack,
        seed,
        "POST",
        "/api/v1/compute-envs",
        {
            "name": "local",
            "description": "This machine (made by make run)",
            "backend": "local",
            "work_dir": str(root / "work"),
            "launch_dir": str(root / "launch"),
            "is_primary": True,
        },
    )
    if status != 201:
        raise StackError(f"POST compute /api/v1/compute-envs answered {status}")
    # Not validated here: without nextflow on PATH validate would mark it INVALID and refuse
    # launches, where a newcomer's runs have always been accepted and ended saying why.
    console.print(f"demo compute environment 'local' made, primary ({env['id']})", soft_wrap=True)


def read_seed(state: State) -> dict[str, Any] | None:
    try:
        data = json.loads(state.demo_seed.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(not data.get(key) for key in SEED_KEYS):
        return None
    return data


def token_problem(stack: Stack, seed: dict[str, Any]) -> str | None:
    """Why the stored token cannot be used (None when it can): it must still be the demo
    user's and reach the demo project."""
    admin = next(s for s in SERVICES if s.name == "admin").url(stack.scheme)
    checks = (
        ("/api/v1/users/me", "username", seed["user"]),
        (f"/api/v1/projects/{seed['project_id']}", "id", seed["project_id"]),
    )
    for path, key, expected in checks:
        request = urllib.request.Request(  # noqa: S310 - our own URL
            f"{admin}{path}", headers={"Authorization": f"Bearer {seed['token']}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=stack.ssl_context) as answer:  # noqa: S310
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return f"GET {path} answered {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"GET {path} failed: {getattr(exc, 'reason', exc)}"
        if str(body.get(key)) != str(expected):
            return f"GET {path} names {key} {body.get(key)!r}, not {expected!r}"
    # A token made before a scope existed lacks it (compute-envs:read, say).
    status, _ = _call(stack, seed, "GET", "/api/v1/compute-envs")
    if status != 200:
        return f"GET /api/v1/compute-envs answered {status}"
    return None


def parse_seed(output: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    raise StackError(f"the seed printed no JSON line: {output[-500:]!r}")
