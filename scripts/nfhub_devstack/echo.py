"""The services' logs echoed to the console as they grow, one colour per service."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO

from rich.text import Text

from nfhub_devstack.errors import console
from nfhub_devstack.services import SERVICES


class LogEcho(threading.Thread):
    """Follows the children's log files and echoes new lines, prefixed, to the console."""

    STYLES = ("cyan", "magenta", "green", "yellow", "blue", "bright_red")

    def __init__(self) -> None:
        super().__init__(name="log-echo", daemon=True)
        self._files: list[tuple[str, str, Path]] = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def follow(self, name: str, path: Path) -> None:
        with self._lock:
            style = self.STYLES[len(self._files) % len(self.STYLES)]
            self._files.append((name, style, path))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2)

    def run(self) -> None:
        handles: dict[Path, IO[bytes]] = {}
        partial: dict[Path, bytes] = {}
        width = max((len(s.name) for s in SERVICES), default=8)
        try:
            while True:
                stopping = self._stop_event.is_set()
                with self._lock:
                    files = list(self._files)
                for name, style, path in files:
                    handle = handles.get(path)
                    if handle is None:
                        try:
                            handle = handles[path] = path.open("rb")
                        except OSError:
                            continue
                    chunk = partial.pop(path, b"") + handle.read()
                    *lines, rest = chunk.split(b"\n")
                    if rest:
                        partial[path] = rest
                    for line in lines:
                        text = Text(f"{name:<{width}} | ", style=style)
                        text.append(line.decode(errors="replace").rstrip("\r"))
                        console.print(text, soft_wrap=True)
                if stopping:
                    return
                self._stop_event.wait(0.2)
        finally:
            for handle in handles.values():
                handle.close()
