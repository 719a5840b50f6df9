"""``nfhub runs``: launch, list, watch and cancel pipeline runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nfhub_cli.commands.common import (
    JsonOption,
    RunId,
    check_uuid,
    current_api,
    err,
    out,
    print_json,
)
from nfhub_cli.commands.compute_envs import resolve_env
from nfhub_cli.config import ConfigError
from nfhub_cli.watch import watch_run

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="markdown", help="Pipeline runs of the current project."
)


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


@app.command("launch")
def runs_launch(
    pipeline: Annotated[str, typer.Argument(metavar="PIPELINE", help="The pipeline's slug.")],
    version: Annotated[
        str | None,
        typer.Option(metavar="VERSION", help="The pipeline version; the latest if left out."),
    ] = None,
    input_path: Annotated[
        str | None,
        typer.Option("--input", metavar="PATH", help="The samplesheet's path in the project."),
    ] = None,
    order: Annotated[
        str | None, typer.Option(metavar="ORDER", help="The order this run is for (its id).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A pipeline parameter (JSON values allowed); repeat for more.",
        ),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="A JSON file of parameters (--param wins).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option(metavar="PROFILE", help="A Nextflow profile; repeat for more."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(metavar="LABEL", help="A label for the run; repeat for more."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="The run's name; generated if left out.")
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="A pipeline secret the run reads as secrets.NAME (see nfhub secrets); repeat "
            "for more.",
        ),
    ] = None,
    compute_env: Annotated[
        str | None,
        typer.Option(
            metavar="ENV",
            help="The compute environment (name or id); the org's primary if left out.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run; exit 0 only if it completes.")
    ] = False,
) -> None:
    """Launch a pipeline run and print its id."""
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
        **_given(version=version, profiles=profile, labels=label, name=name, secrets=secret),
    }
    if input_path or order:
        body["input"] = {"path": input_path, "order_id": order}
    with current_api() as api:
        if compute_env:
            body["compute_env_id"] = resolve_env(api, compute_env)["id"]
        run = api.json("compute", "POST", "/runs", json=body)
        err.print(f"launched {run['name']} ({run['state']})")
        out.print(run["id"])
        if wait:
            raise typer.Exit(watch_run(api, run["id"], interval=2.0, console=err))


@app.command("list")
def runs_list(
    state: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATE", help="Only runs in this state, e.g. RUNNING; repeat for more."
        ),
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(metavar="PIPELINE", help="Only runs of this pipeline (slug).")
    ] = None,
    label: Annotated[
        str | None, typer.Option(metavar="LABEL", help="Only runs with this label.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=500, metavar="N", help="How many runs to show.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest runs."""
    states = [value.upper() for value in state or []]
    params = {"limit": limit, **_given(state=states, pipeline=pipeline, label=label)}
    with current_api() as api:
        page = api.json("compute", "GET", "/runs", params=params)
    if as_json:
        print_json(page["items"])
        return
    table = Table("id", "name", "pipeline", "state", "tasks", "created", box=None)
    for run in page["items"]:
        tasks = run.get("tasks")  # null only in the answer to a launch
        done = f"{tasks['succeeded'] + tasks['cached']}/{tasks['total']}" if tasks else "-"
        pipe = run.get("pipeline")
        # An external run (reported with -with-tower) has no pipeline version of nfhub's.
        shown = (
            f"{pipe.get('slug')} {pipe.get('version')}"
            if pipe
            else f"{run.get('repository') or '-'} {run.get('revision') or ''} (external)"
        )
        table.add_row(
            run["id"], run["name"], shown, run["state"], done, run["created_at"][:19],
        )  # fmt: skip
    out.print(table)
    if page["count"] > len(page["items"]):
        err.print(f"{len(page['items'])} of {page['count']}; --limit shows more")


@app.command("watch")
def runs_watch(
    run_id: RunId,
    interval: Annotated[
        float,
        typer.Option(
            min=0.2,
            metavar="SECONDS",
            help="How often to redraw the counters (and to ask, with --poll).",
        ),
    ] = 2.0,
    poll: Annotated[
        bool, typer.Option("--poll", help="Ask every interval instead of following the stream.")
    ] = False,
) -> None:
    """Show a run's live task progress; exit 0 if it completes, 1 if it fails or is canceled.

    Follows the run's event stream (falls back to asking every interval when the server has
    none)."""
    check_uuid(run_id, "run")
    with current_api() as api:
        raise typer.Exit(watch_run(api, run_id, interval, console=err, stream=not poll))


@app.command("cancel")
def runs_cancel(run_id: RunId) -> None:
    """Ask a run to stop (CANCELING, then CANCELED once Nextflow has)."""
    check_uuid(run_id, "run")
    with current_api() as api:
        run = api.json("compute", "POST", f"/runs/{run_id}/cancel")
    err.print(f"{run['name']}: {run['state']}")
