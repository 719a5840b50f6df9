"""Where the stack speaks, and how it stops: its errors, the signals that end it."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

DUPLICATE_SIGNAL_SECONDS = 1.0
LOG_TAIL_LINES = 40


console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class StackError(Exception):
    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


class Shutdown(BaseException):
    """Raised from a signal handler: stop the stack and exit cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """First SIGINT/SIGTERM/SIGHUP raises `Shutdown`; a later one only hurries the shutdown.

    One Ctrl-C reaches us twice: from the terminal, and forwarded by `uv run`. Signals within
    DUPLICATE_SIGNAL_SECONDS of the first are that same Ctrl-C, not a second one.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.received_at = 0.0
        self.hurry = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            self.received_at = time.monotonic()
            raise Shutdown(signum)
        if time.monotonic() - self.received_at > DUPLICATE_SIGNAL_SECONDS:
            self.hurry.set()


def fail(message: str) -> NoReturn:
    err_console.print(Text(f"devstack: {message}", style="bold red"), soft_wrap=True)
    raise typer.Exit(1)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
