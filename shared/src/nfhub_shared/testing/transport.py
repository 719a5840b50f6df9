"""Service-to-service HTTP inside one test process: each host name goes to its in-process app."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class RoutingTransport(httpx.AsyncBaseTransport):
    """Send ``http://admin.test/...`` to admin's app, ``http://files.test/...`` to files', …"""

    def __init__(self, routes: Mapping[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = dict(routes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no in-process service answers for {request.url.host}")
        return await transport.handle_async_request(request)
