"""``nfhub``: log in, pick a project, move files, import samples, get an order's samplesheet,
set pipeline secrets, launch and watch runs. Data goes to stdout (tables, or JSON with
``--json``); progress and messages to stderr, so ``nfhub orders samplesheet ORD > sheet.csv``
stays clean."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nfhub_cli import demo as demo_module
from nfhub_cli.api import ApiError
from nfhub_cli.commands import (
    account,
    compute_envs,
    files,
    orders,
    pipeline_secrets,
    projects,
    runs,
    samples,
)
from nfhub_cli.commands.common import err
from nfhub_cli.config import ConfigError

app = typer.Typer(
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings reflow: a line break in the source is no break
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="nfhub's command line: the platform's API for people and CI jobs.",
)
app.command()(account.login)
app.command()(account.logout)
app.command()(account.whoami)
app.add_typer(projects.app, name="projects")
app.add_typer(files.app, name="files")
app.add_typer(samples.app, name="samples")
app.add_typer(orders.app, name="orders")
app.add_typer(runs.app, name="runs")
app.add_typer(pipeline_secrets.app, name="secrets")
app.add_typer(compute_envs.app, name="compute-envs")


def _no_type(ctx: object) -> None:
    return None


def readable_help(command: Any) -> None:
    """Help without Typer's type tags (``<str>``, ``<bool>``, ``<list[str]>``): an option shows
    its metavar (URL, FILE), a flag or an argument only its name; in every subcommand."""
    context = typer.Context(command, info_name=command.name)
    params = [*command.params, command.get_help_option(context)]
    for param in params:
        if param is None:
            continue
        if getattr(param, "is_flag", False) or param.param_type_name == "argument":
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 - per instance
        elif param.metavar is None:
            param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        readable_help(sub)


def main() -> None:
    """Entry point: errors the user can act on are one red line, not a traceback."""
    try:
        command = typer.main.get_command(app)
        readable_help(command)
        command(prog_name="nfhub")
    except (ApiError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; run the same command again to resume a transfer")
        sys.exit(130)


@app.command()
def demo(
    stack: Annotated[
        Path,
        typer.Option(
            metavar="FILE", help="make run's stack.json (URLs, CA, demo user).", dir_okay=False
        ),
    ] = Path(".nfhub/stack.json"),
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="How long to wait for the run.")
    ] = 300.0,
) -> None:
    """Walk the whole path against a running stack: login, upload, samples, order, run, outputs."""
    # Its own console: the demo is read by a person, at the terminal's width even when piped.
    console = Console(highlight=False, soft_wrap=True)
    raise typer.Exit(demo_module.run_demo(stack, timeout=timeout, console=console))
