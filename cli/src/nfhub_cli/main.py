"""``nfhub``: log in, pick a project, move files, import samples, get an order's samplesheet,
launch and watch runs. Data goes to stdout (tables, or JSON with ``--json``); progress and
messages to stderr, so ``nfhub orders samplesheet ORD > sheet.csv`` stays clean."""

from __future__ import annotations

import getpass
import json
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from nfhub_cli import demo as demo_module
from nfhub_cli.api import Api, ApiError
from nfhub_cli.config import Config, ConfigError, derive_urls
from nfhub_cli.transfer import (
    MIN_PART_SIZE,
    MULTIPART_THRESHOLD,
    Progress,
    download,
    download_folder,
    upload,
    upload_folder,
)
from nfhub_cli.watch import watch_run

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="nfhub's command line: the platform's API for people and CI jobs.",
)
projects_app = typer.Typer(no_args_is_help=True, help="Projects you can work in.")
files_app = typer.Typer(no_args_is_help=True, help="The current project's files.")
samples_app = typer.Typer(no_args_is_help=True, help="Samples of the current project.")
orders_app = typer.Typer(no_args_is_help=True, help="Orders of the current project.")
runs_app = typer.Typer(no_args_is_help=True, help="Pipeline runs of the current project.")
app.add_typer(projects_app, name="projects")
app.add_typer(files_app, name="files")
app.add_typer(samples_app, name="samples")
app.add_typer(orders_app, name="orders")
app.add_typer(runs_app, name="runs")

# Piped output is read by scripts: rows are never cut to a terminal's width.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def main() -> None:
    """Entry point: errors the user can act on are one red line, not a traceback."""
    try:
        app()
    except (ApiError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume a transfer")
        sys.exit(130)


def _api() -> Api:
    return Api(Config.load())


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------------
# login


@app.command()
def login(
    url: Annotated[
        str | None, typer.Option(help="admin's URL (default: the last one you logged in to)")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u")] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from stdin (for scripts).")
    ] = False,
    token: Annotated[
        str | None, typer.Option(help="Use this personal access token instead of a password.")
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="Extra CA to trust (make run's .nfhub/tls/ca.pem).", exists=True),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project to use (slug or id).")] = None,
    compute_url: Annotated[str | None, typer.Option()] = None,
    files_url: Annotated[str | None, typer.Option()] = None,
    miner_url: Annotated[str | None, typer.Option()] = None,
    token_days: Annotated[
        int, typer.Option(min=1, max=3650, help="Lifetime of the token login creates.")
    ] = 90,
) -> None:
    """Log in with a password (a personal access token is created and stored) or a token."""
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
            user = username or typer.prompt("username")
            password = sys.stdin.readline().rstrip("\n") if password_stdin else None
            if password is None:
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
        chosen = _resolve_project(api, project) if project else _only_project(api)
        if chosen is not None:
            config.project_id, config.project_name = chosen["id"], chosen["slug"]
    config.save()
    err.print(f"logged in to {config.urls['admin']} as [bold]{config.username}[/]")
    err.print(f"token stored in {config.path} (readable by you only)")
    if config.project_id:
        err.print(f"project: {config.project_name} ({config.project_id})")
    else:
        err.print("choose a project with `nfhub projects use <slug>`")


@app.command()
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


@app.command()
def whoami() -> None:
    """Who you are logged in as, where, and in which project."""
    config = Config.load()
    with Api(config) as api:
        me = api.json("admin", "GET", "/users/me", project=False)
    out.print(f"{me['username']} at {config.url('admin')}")
    project_id = config.current_project()
    out.print(f"project: {config.project_name or '-'} ({project_id or 'none chosen'})")


def _only_project(api: Api) -> dict[str, Any] | None:
    projects = list(api.pages("admin", "/projects", project=False))
    return projects[0] if len(projects) == 1 else None


def _resolve_project(api: Api, wanted: str) -> dict[str, Any]:
    projects = list(api.pages("admin", "/projects", project=False))
    matches = [p for p in projects if wanted in (p["id"], p["slug"])]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(p["slug"] for p in projects)) or "none"
        raise ConfigError(f"no project {wanted!r} among yours ({known})")
    ids = ", ".join(p["id"] for p in matches)
    raise ConfigError(f"several projects are called {wanted!r}; use its id ({ids})")


# ---------------------------------------------------------------------------------------------
# projects


@projects_app.command("list")
def projects_list(as_json: JsonOption = False) -> None:
    """The projects you can see."""
    config = Config.load()
    with Api(config) as api:
        projects = list(api.pages("admin", "/projects", project=False))
    if as_json:
        _print_json(projects)
        return
    table = Table("", "slug", "name", "id", box=None)
    current = config.current_project()
    for item in projects:
        table.add_row("*" if item["id"] == current else "", item["slug"], item["name"], item["id"])
    out.print(table)


@projects_app.command("use")
def projects_use(project: Annotated[str, typer.Argument(help="Slug or id")]) -> None:
    """Make a project the one every other command works in."""
    config = Config.load()
    with Api(config) as api:
        chosen = _resolve_project(api, project)
    config.project_id, config.project_name = chosen["id"], chosen["slug"]
    config.save()
    err.print(f"using project {chosen['slug']} ({chosen['id']})")


# ---------------------------------------------------------------------------------------------
# files


def _transfer_progress() -> RichProgress:
    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _progress_for(bar: RichProgress, description: str) -> Progress:
    task = bar.add_task(description, total=None)
    return Progress(
        start=lambda total: bar.update(task, total=total),
        advance=lambda count: bar.advance(task, count),
        reset=lambda total: bar.update(task, total=total, completed=0),
    )


@files_app.command("ls")
def files_ls(
    path: Annotated[str, typer.Argument(help="Folder in the project")] = "",
    as_json: JsonOption = False,
) -> None:
    """List a folder of the current project."""
    with _api() as api:
        entries = list(api.pages("files", "/files", params={"path": path}))
    if as_json:
        _print_json(entries)
        return
    table = Table("kind", "size", "modified", "path", box=None)
    for entry in entries:
        size = "" if entry.get("size") is None else str(entry["size"])
        table.add_row(entry["kind"], size, str(entry.get("modified") or "")[:19], entry["path"])
    out.print(table)


@files_app.command("upload")
def files_upload(
    sources: Annotated[
        list[Path], typer.Argument(help="Local files or folders", exists=True, dir_okay=True)
    ],
    destination: Annotated[str, typer.Argument(help="Project path (a folder if it ends in /)")],
    multipart_threshold: Annotated[
        int, typer.Option(help="Files this big or bigger go in parts", min=1)
    ] = MULTIPART_THRESHOLD,
    part_size: Annotated[
        int | None,
        typer.Option(
            help="Bytes per part (at least 5 MiB); by default the server's choice, which "
            "grows with the file",
            min=MIN_PART_SIZE,
        ),
    ] = None,
) -> None:
    """Upload files, or folders with all below them (big files in parts; the same command
    again resumes an interrupted upload, skipping files the project holds whole)."""
    if len(sources) > 1 and not destination.endswith("/"):
        raise ConfigError("several files go to a folder: end the destination with /")
    with _api() as api, _transfer_progress() as bar:
        for source in sources:
            remote = destination + source.name if destination.endswith("/") else destination
            progress = _progress_for(bar, source.name)
            if source.is_dir():
                sent = upload_folder(
                    api, source, remote, progress=progress,
                    multipart_threshold=multipart_threshold, part_size=part_size,
                )  # fmt: skip
                bar.console.print(f"uploaded {source} → {remote} ({len(sent)} files sent)")
                continue
            entry = upload(
                api, source, remote, progress=progress,
                multipart_threshold=multipart_threshold, part_size=part_size,
            )  # fmt: skip
            bar.console.print(f"uploaded {source} → {entry['path']} ({entry['size']} bytes)")


@files_app.command("download")
def files_download(
    source: Annotated[str, typer.Argument(help="Project path of a file or a folder")],
    destination: Annotated[Path, typer.Argument(help="Local file or folder")] = Path(),
) -> None:
    """Download a file, or a folder with all below it into DESTINATION/<folder name>
    (the same command again continues where it stopped, skipping files already whole)."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    with _api() as api, _transfer_progress() as bar:
        entry = api.json("files", "GET", "/files/stat", params={"path": source})
        if entry["kind"] == "file":
            target = download(
                api, source, destination, progress=_progress_for(bar, name), entry=entry
            )
            bar.console.print(f"downloaded {source} → {target}")
            return
        if destination.exists() and not destination.is_dir():
            raise ConfigError(f"{destination} is a file; a folder downloads into a folder")
        written = download_folder(api, source, destination, progress=_progress_for(bar, name))
        bar.console.print(
            f"downloaded {source} → {destination / name} ({len(written)} files written)"
        )


# ---------------------------------------------------------------------------------------------
# samples and orders

IMPORT_TYPES = {".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson"}


@samples_app.command("import")
def samples_import(
    sheet: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV/TSV or JSONL")],
    as_json: JsonOption = False,
) -> None:
    """Create samples (and their subjects) from a samplesheet: all rows or none."""
    content_type = IMPORT_TYPES.get(sheet.suffix.lower(), "text/csv")
    # Bytes, not the open file: a retried request (429/503) must send the whole sheet again.
    content = sheet.read_bytes()
    with _api() as api:
        result = api.json(
            "miner",
            "POST",
            "/samples/import",
            content=content,
            headers={"Content-Type": content_type},
        )
    if as_json:
        _print_json(result)
        return
    err.print(
        f"imported {result['samples_created']} samples ({result['subjects_created']} new subjects)"
    )
    table = Table("sample", "id", box=None)
    for sample in result["samples"]:
        table.add_row(sample["display_id"], sample["id"])
    out.print(table)


@orders_app.command("samplesheet")
def orders_samplesheet(
    order: Annotated[str, typer.Argument(help="Order id")],
    file_format: Annotated[str, typer.Option("--format", help="csv, tsv or json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """The order's nf-core samplesheet, to stdout (or --output)."""
    _check_uuid(order, "order")
    with _api() as api:
        response = api.request(
            "miner", "GET", f"/orders/{order}/samplesheet", params={"format": file_format}
        )
    if output is None:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    else:
        output.write_bytes(response.content)
        err.print(f"wrote {output}")


def _check_uuid(value: str, what: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a valid {what} id (a UUID)") from None


# ---------------------------------------------------------------------------------------------
# runs


def _parse_param(item: str) -> tuple[str, Any]:
    key, separator, raw = item.partition("=")
    if not separator or not key:
        raise ConfigError(f"--param {item!r}: write it as name=value")
    try:
        return key, json.loads(raw)  # numbers, booleans, lists as JSON
    except ValueError:
        return key, raw


def _given(**values: Any) -> dict[str, Any]:
    """The options the user gave (left-out ones stay out of the request)."""
    return {key: value for key, value in values.items() if value}


@runs_app.command("launch")
def runs_launch(
    pipeline: Annotated[str, typer.Argument(help="Pipeline slug")],
    version: Annotated[str | None, typer.Option(help="Default: the latest")] = None,
    input_path: Annotated[
        str | None, typer.Option("--input", help="Samplesheet path in the project")
    ] = None,
    order: Annotated[str | None, typer.Option(help="The order this run is for")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeat)")
    ] = None,
    params_file: Annotated[
        Path | None, typer.Option(help="JSON file of parameters", exists=True, dir_okay=False)
    ] = None,
    profile: Annotated[list[str] | None, typer.Option(help="Nextflow profile (repeat)")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Label (repeat)")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    wait: Annotated[bool, typer.Option(help="Watch it; exit 0 only if it completes")] = False,
) -> None:
    """Launch a pipeline run; prints its id."""
    params: dict[str, Any] = {}
    if params_file is not None:
        loaded = json.loads(params_file.read_text())
        if not isinstance(loaded, dict):
            raise ConfigError(f"{params_file} must hold a JSON object")
        params.update(loaded)
    params.update(_parse_param(item) for item in param or [])
    body = {
        "pipeline": pipeline,
        "params": params,
        **_given(version=version, profiles=profile, labels=label, name=name),
    }
    if input_path or order:
        body["input"] = {"path": input_path, "order_id": order}
    with _api() as api:
        run = api.json("compute", "POST", "/runs", json=body)
        err.print(f"launched {run['name']} ({run['state']})")
        out.print(run["id"])
        if wait:
            raise typer.Exit(watch_run(api, run["id"], interval=2.0, console=err))


@runs_app.command("list")
def runs_list(
    state: Annotated[list[str] | None, typer.Option(help="Only these states (repeat)")] = None,
    pipeline: Annotated[str | None, typer.Option()] = None,
    label: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest runs."""
    states = [value.upper() for value in state or []]
    params = {"limit": limit, **_given(state=states, pipeline=pipeline, label=label)}
    with _api() as api:
        page = api.json("compute", "GET", "/runs", params=params)
    if as_json:
        _print_json(page["items"])
        return
    table = Table("id", "name", "pipeline", "state", "tasks", "created", box=None)
    for run in page["items"]:
        tasks = run.get("tasks")  # the list leaves counts out; GET /runs/{id} has them
        done = f"{tasks['succeeded'] + tasks['cached']}/{tasks['total']}" if tasks else "-"
        pipe = run["pipeline"]
        table.add_row(
            run["id"], run["name"], f"{pipe.get('slug')} {pipe.get('version')}", run["state"],
            done, run["created_at"][:19],
        )  # fmt: skip
    out.print(table)
    if page["count"] > len(page["items"]):
        err.print(f"{len(page['items'])} of {page['count']}; --limit shows more")


@runs_app.command("watch")
def runs_watch(
    run_id: Annotated[str, typer.Argument(help="Run id")],
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between polls")] = 2.0,
) -> None:
    """Show a run's live task progress; exit 0 if it completes, 1 if it fails or is canceled."""
    _check_uuid(run_id, "run")
    with _api() as api:
        raise typer.Exit(watch_run(api, run_id, interval, console=err))


@runs_app.command("cancel")
def runs_cancel(run_id: Annotated[str, typer.Argument(help="Run id")]) -> None:
    """Ask a run to stop (CANCELING, then CANCELED once Nextflow has)."""
    _check_uuid(run_id, "run")
    with _api() as api:
        run = api.json("compute", "POST", f"/runs/{run_id}/cancel")
    err.print(f"{run['name']}: {run['state']}")


# ---------------------------------------------------------------------------------------------
# demo


@app.command()
def demo(
    stack: Annotated[
        Path,
        typer.Option(help="make run's stack.json (URLs, CA, demo user)", dir_okay=False),
    ] = Path(".nfhub/stack.json"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run")] = 300.0,
) -> None:
    """Walk the whole path against a running stack: login, upload, samples, order, run, outputs."""
    # Its own console: the demo is read by a person, at the terminal's width even when piped.
    console = Console(highlight=False, soft_wrap=True)
    raise typer.Exit(demo_module.run_demo(stack, timeout=timeout, console=console))
