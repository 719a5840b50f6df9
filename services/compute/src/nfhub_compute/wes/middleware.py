"""Errors on WES paths in the spec's ErrorResponse shape: ``{"msg", "status_code"}``.

Every refusal in nfhub is an RFC 9457 problem, wherever it comes from: a route, the
authentication, request validation, the edge (body limit, Accept-Version), an unknown path.
On /ga4gh/wes/ this outermost layer rewrites each problem into WES's shape, keeping the
status and the headers (WWW-Authenticate, Retry-After, the request id). A 422 becomes a 400:
WES has no 422, its bad requests are 400s. Other answers pass through untouched, and other
paths never reach the rewriting at all.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nfhub_shared.errors import PROBLEM_JSON

_PROBLEM = PROBLEM_JSON.encode()
MAX_FIELD_MESSAGES = 10


def wes_error_body(problem: dict[str, Any], status: int) -> dict[str, Any]:
    msg = str(problem.get("detail") or problem.get("title") or "Error")
    fields = [
        f"{error.get('field') or error.get('location') or 'request'}: {error.get('message')}"
        for error in (problem.get("errors") or [])[:MAX_FIELD_MESSAGES]
        if isinstance(error, dict)
    ]
    if fields:
        msg = f"{msg} ({'; '.join(fields)})"
    return {"msg": msg, "status_code": status}


class WesErrorMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_wes(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = next(
                    (v for k, v in message.get("headers", ()) if k.lower() == b"content-type"),
                    b"",
                )
                if content_type.startswith(_PROBLEM):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._send_error(held, b"".join(chunks), send)
                return
            await send(message)

        await self.app(scope, receive, send_wes)

    @staticmethod
    async def _send_error(start: Message, raw: bytes, send: Send) -> None:
        status = 400 if start["status"] == 422 else int(start["status"])
        try:
            problem = json.loads(raw)
        except ValueError:
            problem = {}
        body = json.dumps(wes_error_body(problem if isinstance(problem, dict) else {}, status))
        encoded = body.encode()
        headers = [
            (k, v)
            for k, v in start.get("headers", ())
            if k.lower() not in (b"content-type", b"content-length")
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(encoded)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})
