"""The demo user's token, kept across restarts: ``make run`` prints the same token every time
as long as it still works, so a ``TOKEN`` exported yesterday still works today."""

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
    return seed


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
