"""miner's orders in tests: a move through the status machine over HTTP."""

from __future__ import annotations

from typing import Any

import httpx


async def move(
    client: httpx.AsyncClient, team: Any, order_id: str, to: str, role: str = "admin"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/orders/{order_id}/transition", json={"to": to}, headers=team.headers(role)
    )
