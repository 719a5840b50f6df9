"""``nfhub files``: list, upload and download the current project's files and folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from nfhub_cli.commands.common import JsonOption, current_api, err, out, print_json
from nfhub_cli.config import ConfigError
from nfhub_cli.transfer import (
    MIN_PART_SIZE,
    MULTIPART_THRESHOLD,
    Progress,
    download,
    download_folder,
    upload,
    upload_folder,
)

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="markdown", help="The current project's files."
)


def _transfer_progress() -> RichProgress:
    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,  # each file's bar gives way to its one summary line
    )


def _progress_for(bar: RichProgress, description: str) -> Progress:
    task = bar.add_task(description, total=None)
    return Progress(
        start=lambda total: bar.update(task, total=total),
        advance=lambda count: bar.advance(task, count),
        reset=lambda total: bar.update(task, total=total, completed=0),
    )


@app.command("ls")
def files_ls(
    path: Annotated[
        str, typer.Argument(metavar="FOLDER", help="A folder of the project; its top if left out.")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """List a folder of the current project."""
    with current_api() as api:
        entries = list(api.pages("files", "/files", params={"path": path}))
    if as_json:
        print_json(entries)
        return
    table = Table("kind", "size", "modified", "path", box=None)
    for entry in entries:
        size = "" if entry.get("size") is None else str(entry["size"])
        table.add_row(entry["kind"], size, str(entry.get("modified") or "")[:19], entry["path"])
    out.print(table)


@app.command("upload")
def files_upload(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="SOURCE", help="Local files or folders.", exists=True, dir_okay=True
        ),
    ],
    destination: Annotated[
        str,
        typer.Argument(
            metavar="DESTINATION", help="A path in the project; a folder if it ends in /."
        ),
    ],
    multipart_threshold: Annotated[
        int,
        typer.Option(
            metavar="BYTES",
            help="Files this big or bigger go up in parts (64 MiB by default).",
            min=1,
            show_default=False,
        ),
    ] = MULTIPART_THRESHOLD,
    part_size: Annotated[
        int | None,
        typer.Option(
            metavar="BYTES",
            help="Bytes per part, at least 5 MiB; by default the server's choice, which grows "
            "with the file.",
            min=MIN_PART_SIZE,
        ),
    ] = None,
) -> None:
    """Upload files, or folders with all below them (big files in parts; the same command
    again resumes an interrupted upload, skipping files the project holds whole)."""
    if len(sources) > 1 and not destination.endswith("/"):
        raise ConfigError("several files go to a folder: end the destination with /")
    with current_api() as api, _transfer_progress() as bar:
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


@app.command("download")
def files_download(
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="A file or folder of the project.")
    ],
    destination: Annotated[
        Path,
        typer.Argument(
            metavar="DESTINATION", help="A local file or folder; the current folder if left out."
        ),
    ] = Path(),
) -> None:
    """Download a file, or a folder with all below it into a folder of its name inside
    DESTINATION (the same command again continues where it stopped, skipping files already
    whole)."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    with current_api() as api, _transfer_progress() as bar:
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
