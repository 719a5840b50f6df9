"""A real HTTP server that receives webhooks in a test: it answers each POST with the next
status of its script (the last one repeats) and keeps every request it got."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=lambda: [204])
    received: list[Received] = field(default_factory=list)
    # Extra headers per answer (a Location for a redirect).
    answer_headers: dict[str, str] = field(default_factory=dict)
    answer_body: bytes = b"ok"
    # Seconds to wait before answering (a receiver too slow for the timeout).
    delay: float = 0.0

    def answers(self, *statuses: int) -> None:
        self.script = list(statuses)

    def _next_status(self) -> int:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            state.received.append(
                Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
            )
            if state.delay:
                time.sleep(state.delay)
            status = state._next_status()
            self.send_response(status)
            for name, value in state.answer_headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(state.answer_body)))
            self.end_headers()
            self.wfile.write(state.answer_body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/nfhub?lab=1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
