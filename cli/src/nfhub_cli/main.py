"""``nfhub``: log in, pick a project, move files, import samples, get an order's samplesheet,
launch and watch runs. Data goes to stdout (tables, or JSON with ``--json``); progress and
messages to stderr, so ``nfhub orders samplesheet ORD > sheet.csv`` stays clean."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nfhub_cli import demo as demo_module
from nfhub_cli.api import ApiError
from nfhub_cli.commands import account, files, orders, projects, runs, samples
from nfhub_cli.commands.common import err
from nfhub_cli.config import ConfigError

app = typer.Typer(
    add_completion=False,
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
