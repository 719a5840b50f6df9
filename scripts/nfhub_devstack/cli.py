"""``scripts/devstack.py``'s commands."""

from __future__ import annotations

import typer

from nfhub_devstack.run import run_stack

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """nfhub's local development stack."""


@app.command()
def run(
    ready_timeout: float = typer.Option(120.0, help="Seconds to wait for each /readyz."),
    echo: bool = typer.Option(True, help="Echo the services' logs to the console."),
    seed: bool = typer.Option(True, help="Create the demo org, project and user."),
    http: bool = typer.Option(
        False, envvar="NFHUB_HTTP", help="Plain HTTP instead of HTTPS with the dev CA."
    ),
) -> None:
    """Start PostgreSQL and every service, seed demo data, and stay in the foreground."""
    raise typer.Exit(run_stack(ready_timeout, echo, seed, http))
