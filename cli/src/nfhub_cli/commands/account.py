"""``nfhub login``, ``logout`` and ``whoami``: the token the other commands use."""

from __future__ import annotations

import getpass
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from nfhub_cli.api import Api
from nfhub_cli.commands.common import err, out
from nfhub_cli.commands.projects import only_project, resolve_project
from nfhub_cli.config import Config, ConfigError, derive_urls


def login(
    url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="admin's URL; by default the last one you logged in to."),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", metavar="NAME", help="Your user name.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help='Read the password from stdin, e.g. echo "$PW" | nfhub login -u NAME '
            "--password-stdin (implied when stdin is not a terminal).",
        ),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(metavar="TOKEN", help="A personal access token to use instead of a password."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="An extra CA to trust, e.g. make run's .nfhub/tls/ca.pem.",
            exists=True,
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option(metavar="PROJECT", help="The project to work in (slug or id).")
    ] = None,
    compute_url: Annotated[
        str | None, typer.Option(metavar="URL", help="compute's URL, if not derived from --url.")
    ] = None,
    files_url: Annotated[
        str | None, typer.Option(metavar="URL", help="files' URL, if not derived from --url.")
    ] = None,
    miner_url: Annotated[
        str | None, typer.Option(metavar="URL", help="miner's URL, if not derived from --url.")
    ] = None,
    token_days: Annotated[
        int,
        typer.Option(
            min=1, max=3650, metavar="DAYS", help="How long the token login creates stays valid."
        ),
    ] = 90,
) -> None:
    """Log in with a password (a personal access token is made and stored) or with a token.

    The other services' URLs follow from admin's: make run's next ports, or a gateway's
    compute., files. and miner. host names.
    """
    try:
        config = Config.load()
    except ConfigError:
        config = Config()  # an unreadable config is what login replaces
    config.env_token = config.env_project = None  # this login's own token, not NFHUB_TOKEN
    admin_url = url or config.urls.get("admin")
    if not admin_url:
        raise ConfigError("give --url, admin's URL (make run prints it)")
    overrides = {"compute": compute_url, "files": files_url, "miner": miner_url}
    if url is None:
        overrides = {name: value or config.urls.get(name) for name, value in overrides.items()}
    # The token this login replaces is revoked below, if it belongs to the same admin.
    same_admin = config.urls.get("admin") == admin_url.rstrip("/")
    previous_token_id = config.token_id if same_admin else None
    config.urls = derive_urls(admin_url, overrides)
    if ca_file is not None:
        config.ca_file = str(ca_file.resolve())
    config.token, config.token_id = None, None
    with Api(config) as api:
        if token is None:
            # Piped in (echo pw | nfhub login): read it, as getpass would only warn and do.
            from_stdin = password_stdin or not sys.stdin.isatty()
            if username is None and from_stdin:
                raise ConfigError("give --username: stdin carries the password")
            user = username or typer.prompt("username")
            if from_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
                if not password:
                    raise ConfigError("no password on stdin (--password-stdin reads one line)")
            else:
                password = getpass.getpass("password: ")
            pair = api.json(
                "admin",
                "POST",
                "/auth/login",
                json={"username": user, "password": password},
                project=False,
                auth=False,
            )
            config.token = pair["access_token"]
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            created = api.json(
                "admin",
                "POST",
                "/tokens",
                json={
                    # Unique per login: token names are unique among a user's active ones.
                    "name": f"nfhub-cli on {socket.gethostname()} at {stamp}"[:100],
                    "expires_in_days": token_days,
                },
                project=False,
            )
            api.request(
                "admin",
                "POST",
                "/auth/logout",
                json={"refresh_token": pair["refresh_token"]},
                project=False,
                auth=False,
            )
            config.token, config.token_id = created["token"], created["id"]
        else:
            config.token = token
        me = api.json("admin", "GET", "/users/me", project=False)
        config.username = me["username"]
        if previous_token_id and previous_token_id != config.token_id:
            # The token an earlier `nfhub login` here made: replaced, so revoked.
            api.request(
                "admin", "DELETE", f"/tokens/{previous_token_id}", project=False,
                expect=(204, 403, 404),
            )  # fmt: skip
        chosen = resolve_project(api, project) if project else only_project(api)
        if chosen is not None:
            config.project_id, config.project_name = chosen["id"], chosen["slug"]
    config.save()
    err.print(f"logged in to {config.urls['admin']} as [bold]{config.username}[/]")
    err.print(f"token stored in {config.path} (readable by you only)")
    if config.project_id:
        err.print(f"project: {config.project_name} ({config.project_id})")
    else:
        err.print("choose a project with `nfhub projects use <slug>`")


def logout() -> None:
    """Revoke the token `nfhub login` created and forget it."""
    config = Config.load()
    config.env_token = None  # the stored token revokes itself, whatever NFHUB_TOKEN says
    if config.token and config.token_id:
        with Api(config) as api:
            api.request(
                "admin", "DELETE", f"/tokens/{config.token_id}", project=False, expect=(204, 404)
            )
    config.token, config.token_id = None, None
    config.save()
    err.print("logged out")


def whoami() -> None:
    """Who you are logged in as, where, and in which project."""
    config = Config.load()
    with Api(config) as api:
        me = api.json("admin", "GET", "/users/me", project=False)
    out.print(f"{me['username']} at {config.url('admin')}")
    project_id = config.current_project()
    out.print(f"project: {config.project_name or '-'} ({project_id or 'none chosen'})")
