"""``nfhub compute-envs``: where the org's runs go (list, add, validate, choose the primary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nfhub_cli.api import Api
from nfhub_cli.commands.common import JsonOption, current_api, err, out, print_json
from nfhub_cli.config import ConfigError

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Compute environments of the current project's org: where runs go.",
)
EnvArgument = Annotated[
    str, typer.Argument(metavar="ENV", help="The environment's name or id.", show_default=False)
]


def resolve_env(api: Api, wanted: str) -> dict[str, Any]:
    """The org's environment named ``wanted`` (or with that id)."""
    envs = list(api.pages("compute", "/compute-envs"))
    for env in envs:
        if wanted in (env["id"], env["name"]):
            return env
    known = ", ".join(sorted(env["name"] for env in envs)) or "none"
    raise ConfigError(f"no compute environment {wanted!r} in this org ({known})")


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"{what} {item!r}: write it as name=value")
        pairs[key] = value
    return pairs


def _option_value(value: str) -> Any:
    try:
        return json.loads(value)  # cpus=2 is a number
    except ValueError:
        return value


@app.command("list")
def compute_envs_list(as_json: JsonOption = False) -> None:
    """The org's compute environments; * marks the primary."""
    with current_api() as api:
        envs = list(api.pages("compute", "/compute-envs"))
    if as_json:
        print_json(envs)
        return
    table = Table("", "name", "backend", "status", "max runs", "id", box=None)
    for env in envs:
        status = env["status"] + (f" ({env['status_reason']})" if env["status_reason"] else "")
        table.add_row(
            "*" if env["is_primary"] else "", env["name"], env["backend"], status,
            str(env["max_active_runs"]), env["id"],
        )  # fmt: skip
    out.print(table)


@app.command("add")
def compute_envs_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Unique in the org.")],
    work_dir: Annotated[
        str, typer.Option(metavar="DIR", help="Absolute; runs' work dirs go below it.")
    ],
    launch_dir: Annotated[
        str, typer.Option(metavar="DIR", help="Absolute; runs' launch dirs go below it.")
    ],
    backend: Annotated[str, typer.Option(metavar="BACKEND", help="local or slurm.")] = "local",
    config_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", exists=True, dir_okay=False, help="Nextflow config every run gets."
        ),
    ] = None,
    pre_run: Annotated[
        Path | None,
        typer.Option(metavar="FILE", exists=True, dir_okay=False, help="Pre-run script."),
    ] = None,
    post_run: Annotated[
        Path | None,
        typer.Option(metavar="FILE", exists=True, dir_okay=False, help="Post-run script."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", metavar="NAME=VALUE", help="An environment variable; repeat."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            metavar="NAME=VALUE",
            help="A backend option: partition=long, cpus=2; repeat.",
        ),
    ] = None,
    sbatch_arg: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ARG", help="An sbatch option: --sbatch-arg=--constraint=avx2; repeat."
        ),
    ] = None,
    max_active_runs: Annotated[
        int, typer.Option(min=1, metavar="N", help="Runs at once in this environment.")
    ] = 8,
    primary: Annotated[bool, typer.Option("--primary", help="Make it the org's primary.")] = False,
) -> None:
    """Create a compute environment (org admins) and print its id."""
    options = {key: _option_value(value) for key, value in _pairs(option, "--option").items()}
    if sbatch_arg:
        options["extra_args"] = list(sbatch_arg)
    body: dict[str, Any] = {
        "name": name,
        "backend": backend,
        "work_dir": work_dir,
        "launch_dir": launch_dir,
        "env_vars": _pairs(env, "--env"),
        "backend_options": options,
        "max_active_runs": max_active_runs,
        "is_primary": primary,
    }
    for key, path in (
        ("nextflow_config", config_file),
        ("pre_run_script", pre_run),
        ("post_run_script", post_run),
    ):
        if path is not None:
            body[key] = path.read_text()
    with current_api() as api:
        created = api.json("compute", "POST", "/compute-envs", json=body)
    err.print(f"created {created['name']} ({created['status']})")
    out.print(created["id"])


@app.command("validate")
def compute_envs_validate(env: EnvArgument) -> None:
    """Check an environment for real; exit 1 and say why when it is INVALID (the API's 422)."""
    with current_api() as api:
        found = resolve_env(api, env)
        checked = api.json("compute", "POST", f"/compute-envs/{found['id']}/validate")
    err.print(f"{checked['name']}: {checked['status']}")


@app.command("primary")
def compute_envs_primary(env: EnvArgument) -> None:
    """Make an environment the org's primary (where launches without --compute-env go)."""
    with current_api() as api:
        found = resolve_env(api, env)
        chosen = api.json("compute", "POST", f"/compute-envs/{found['id']}/primary")
    err.print(f"{chosen['name']} is the primary compute environment")
