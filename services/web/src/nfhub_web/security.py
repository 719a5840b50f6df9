"""Headers every answer of web carries: a strict Content-Security-Policy (scripts and styles
only from web itself, never inline), no framing, no sniffing, no referrer to other sites, and
no caching of pages (they hold a user's data and a CSRF token)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(connect_origins: tuple[str, ...] = ()) -> str:
    """The policy; ``connect_origins``: where scripts may send bytes besides web itself (the
    files service's signed URLs, which the Files page uploads to)."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            " ".join(("connect-src 'self'", *connect_origins)),
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


STATIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool, connect_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        common = [
            (b"content-security-policy", content_security_policy(connect_origins).encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if hsts:
            common.append((b"strict-transport-security", b"max-age=31536000"))
        self.common = common

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != b"cache-control"
                ]
                headers += self.common
                # Pages: never kept. Static files: kept, revalidated by their ETag (app.css
                # changes without changing its name).
                headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
