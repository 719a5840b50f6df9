"""``nfhub samples``: import samples from a samplesheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nfhub_cli.commands.common import JsonOption, current_api, err, out, print_json

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="markdown", help="Samples of the current project."
)


IMPORT_TYPES = {".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson"}


@app.command("import")
def samples_import(
    sheet: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, help="A CSV, TSV or JSONL samplesheet."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Create samples (and their subjects) from a samplesheet: all rows or none."""
    content_type = IMPORT_TYPES.get(sheet.suffix.lower(), "text/csv")
    # Bytes, not the open file: a retried request (429/503) must send the whole sheet again.
    content = sheet.read_bytes()
    with current_api() as api:
        result = api.json(
            "miner",
            "POST",
            "/samples/import",
            content=content,
            headers={"Content-Type": content_type},
        )
    if as_json:
        print_json(result)
        return
    err.print(
        f"imported {result['samples_created']} samples ({result['subjects_created']} new subjects)"
    )
    table = Table("sample", "id", box=None)
    for sample in result["samples"]:
        table.add_row(sample["display_id"], sample["id"])
    out.print(table)
