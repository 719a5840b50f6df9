"""One delivery attempt against a real HTTP server: the answer's read is capped, a slow
receiver times out, the connection goes to the checked address with the URL's Host kept."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from nfhub_shared.webhooks.http import DeliveryPolicy, new_http_client, post_signed
from support.webhook_receiver import Receiver, receiver

__all__ = ["receiver"]

POLICY = DeliveryPolicy(schedule=(1.0,), allow_private=True, connect_timeout=2, timeout=2)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with new_http_client() as http:
        yield http


async def test_long_answer_is_capped(client: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.answers(200)
    receiver.answer_body = b"x" * (2 * 1024 * 1024)
    outcome = await post_signed(client, receiver.url, b"{}", {"webhook-id": "msg_1"}, POLICY)
    assert outcome.ok and outcome.status_code == 200
    assert outcome.response_excerpt is not None and len(outcome.response_excerpt) == 1024
    assert receiver.received[0].headers["webhook-id"] == "msg_1"


async def test_slow_receiver_times_out(client: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.delay = 1.0
    policy = DeliveryPolicy(schedule=(1.0,), allow_private=True, timeout=0.2)
    outcome = await post_signed(client, receiver.url, b"{}", {}, policy)
    assert not outcome.ok and outcome.error is not None and "timed out" in outcome.error


async def test_name_is_resolved_and_host_header_kept(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    outcome = await post_signed(client, url, b"{}", {}, POLICY)
    assert outcome.ok, outcome
    port = url.split(":")[2].split("/")[0]
    assert receiver.received[0].headers["host"] == f"localhost:{port}"


async def test_name_resolving_to_loopback_is_refused(
    client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public-looking name whose DNS answer is private (a rebinding attack): the answer is
    checked, not the name. The test's own resolver gives that answer (no DNS here)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def rebinding(host: str, port: int, **kwargs: object) -> list[object]:
        if host == "hooks.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return list(await real(host, port, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    url = receiver.url.replace("127.0.0.1", "hooks.example.org")
    strict = DeliveryPolicy(schedule=(1.0,), allow_private=False)
    outcome = await post_signed(client, url, b"{}", {}, strict)
    assert not outcome.ok and outcome.error is not None
    assert "resolves to 127.0.0.1 is a loopback address" in outcome.error
    assert receiver.received == []
    # Allowed, the same name reaches the receiver at the address it resolved to.
    assert (await post_signed(client, url, b"{}", {}, POLICY)).ok
    assert receiver.received[0].headers["host"].startswith("hooks.example.org:")
