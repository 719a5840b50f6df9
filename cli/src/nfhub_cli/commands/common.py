"""What every command uses: where output goes, the API client, argument checks."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Annotated, Any

import typer
from rich.console import Console

from nfhub_cli.api import Api
from nfhub_cli.config import Config, ConfigError

# Piped output is read by scripts: rows are never cut to a terminal's width.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RunId = Annotated[str, typer.Argument(metavar="RUN", help="The run's id.", show_default=False)]


def current_api() -> Api:
    """A client for the stored login (NFHUB_TOKEN and NFHUB_PROJECT override it)."""
    return Api(Config.load())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def check_uuid(value: str, what: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ConfigError(f"{value!r} is not a valid {what} id (a UUID)") from None
