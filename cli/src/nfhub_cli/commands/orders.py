"""``nfhub orders``: an order's samplesheet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nfhub_cli.commands.common import check_uuid, current_api, err

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="markdown", help="Orders of the current project."
)


@app.command("samplesheet")
def orders_samplesheet(
    order: Annotated[str, typer.Argument(metavar="ORDER", help="The order's id.")],
    file_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="csv, tsv or json.")
    ] = "csv",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write it there, not to stdout."),
    ] = None,
) -> None:
    """Print an order's nf-core samplesheet (or write it to --output)."""
    check_uuid(order, "order")
    with current_api() as api:
        response = api.request(
            "miner", "GET", f"/orders/{order}/samplesheet", params={"format": file_format}
        )
    if output is None:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    else:
        output.write_bytes(response.content)
        err.print(f"wrote {output}")
