"""One run of the stack, from the database up to the banner, and back down on the way out."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from nfhub_devstack.banner import print_banner
from nfhub_devstack.database import Database
from nfhub_devstack.errors import (
    Shutdown,
    Signals,
    StackError,
    console,
    err_console,
    fail,
    log_tail,
)
from nfhub_devstack.migrations import behind_head
from nfhub_devstack.seed import demo_seed
from nfhub_devstack.services import REPO_ROOT, SEED_MODULE, SERVICES, module_exists
from nfhub_devstack.state import (
    GENERATED_SECRETS,
    State,
    read_env_file,
    single_instance,
    stack_env_text,
    write_private,
)
from nfhub_devstack.supervisor import Stack, port_in_use
from nfhub_shared.devtls import DevTls


def child_env(
    state: State,
    database_url: str,
    stack_secrets: Mapping[str, str],
    scheme: str,
    tls: DevTls | None,
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **stack_secrets)
    env.setdefault("ENVIRONMENT", "dev")
    env.setdefault("LOG_JSON", "false")
    env.setdefault("ADMIN_JWT_PRIVATE_KEY_FILE", str(state.jwt_key))
    for service in SERVICES:
        url = service.url(scheme)
        if url is not None and service.available():
            env[f"{service.name.upper()}_URL"] = url
    if "WEB_URL" in env:
        # OpenID Connect logins come back to the web app (admin hands it the tokens).
        env.setdefault("ADMIN_FRONTEND_URL", env["WEB_URL"])
        # The web app's Files page uploads straight to the files service's signed URLs.
        env.setdefault("FILES_CORS_ORIGINS", json.dumps([env["WEB_URL"]]))
    if tls is None:
        # Plain HTTP (make run HTTP=1): a browser drops Secure cookies there, so web's session
        # cookie goes without Secure (and without the __Host- prefix, which needs it).
        env.setdefault("WEB_COOKIE_SECURE", "false")
    if tls is not None:
        # The services call each other (and admin calls OIDC providers) over HTTPS: trust the
        # public CAs and the dev CA. Runs launched by the worker inherit it too.
        env["SSL_CERT_FILE"] = str(tls.bundle)
    return env


def run_stack(ready_timeout: float, echo: bool, seed: bool, http: bool) -> int:
    t0 = time.monotonic()
    state = State.from_env()
    state.prepare()
    tls = None if http else state.tls.ensure()
    dotenv = read_env_file(REPO_ROOT / ".env")
    external_db = os.environ.get("DATABASE_URL") or dotenv.get("DATABASE_URL") or None
    generated = read_env_file(state.secrets_env)
    stack_secrets = {
        name: os.environ.get(name) or dotenv.get(name) or generated[name]
        for name in GENERATED_SECRETS
    }

    services = [s for s in SERVICES if s.available()]
    skipped = [s.name for s in SERVICES if s not in services]
    if not services:
        fail("no service package is importable; run `uv sync --frozen` first")
    if skipped:
        console.print(f"[dim]not installed yet, skipped: {', '.join(skipped)}[/]")

    signals = Signals()
    with single_instance(state):
        stack = Stack(state, signals, echo, tls)
        db = Database(state, external_db)
        signals.install()
        try:
            stack.kill_leftovers()
            busy = [s for s in services if s.port is not None and port_in_use(s.port)]
            if busy:
                names = ", ".join(f"{s.name} ({s.port})" for s in busy)
                raise StackError(f"port already in use: {names}; is another stack running?")

            console.print(
                "starting the embedded PostgreSQL…" if db.embedded else "using DATABASE_URL"
            )
            database_url = db.start()
            env = child_env(state, database_url, stack_secrets, stack.scheme, tls)

            migrated = [s for s in services if s.has_migrations()]
            behind = behind_head(migrated, database_url)
            current = [s.name for s in migrated if s not in behind]
            if current:
                console.print(f"[dim]already migrated to head: {', '.join(current)}[/]")
            if behind:
                console.print(f"migrating {', '.join(s.name for s in behind)}…")
                stack.run_steps(
                    [
                        (
                            f"{s.name}-migrate",
                            [sys.executable, "-m", f"{s.package}.migrate"],
                            {**env, **{k: state.expand(v) for k, v in s.env.items()}},
                        )
                        for s in behind
                    ]
                )

            console.print(f"starting {', '.join(s.name for s in services)}…")
            started = [
                stack.start(s, {**env, **{k: state.expand(v) for k, v in s.env.items()}})
                for s in services
            ]
            for child in started:
                if child.service.port is not None:
                    stack.wait_ready(child, ready_timeout)

            seed_data: dict[str, Any] | None = None
            if seed and module_exists(SEED_MODULE):
                seed_data = demo_seed(stack, env)
            elif seed:
                console.print(f"[yellow]{SEED_MODULE} does not exist yet: no demo data[/]")

            elapsed = time.monotonic() - t0
            write_private(
                state.stack_json,
                (
                    json.dumps(
                        {
                            "database_url": database_url,
                            "services": {
                                c.service.name: c.service.url(stack.scheme) for c in started
                            },
                            "ca_file": str(tls.ca_cert) if tls is not None else None,
                            "seed": seed_data,
                        },
                        indent=2,
                    )
                    + "\n"
                ).encode(),
            )
            urls = {c.service.name: c.service.url(stack.scheme) for c in started}
            write_private(state.stack_env, stack_env_text(urls, tls, seed_data).encode())
            print_banner(stack, started, db, seed_data, elapsed)
            stack.supervise()
        except Shutdown as exc:
            console.print(f"\n{exc} received, shutting down")
            return 0
        except StackError as exc:
            err_console.print(Text(f"devstack: {exc}", style="bold red"), soft_wrap=True)
            if exc.log is not None:
                err_console.print(Text(f"--- last lines of {exc.log} ---", style="red"))
                err_console.print(Text(log_tail(exc.log)), soft_wrap=True)
            return 1
        finally:
            # Signals during cleanup only hurry it along; a second Ctrl-C skips the grace period.
            signals.received = signals.received or signal.SIGTERM
            try:
                stack.stop_children()
            finally:
                if db.embedded:
                    console.print("stopping PostgreSQL…")
                db.stop()
                state.stack_json.unlink(missing_ok=True)
                state.stack_env.unlink(missing_ok=True)
                console.print("stopped")
    return 0
