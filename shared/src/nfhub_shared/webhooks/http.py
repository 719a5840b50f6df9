"""One delivery attempt: a signed POST to the target, pinned to the address the SSRF guard
checked, with no redirect followed, bounded time and a bounded read of the answer."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import httpx

from nfhub_shared.webhooks.targets import TargetRefused, check_url, resolve

USER_AGENT = "nfhub-webhooks/1"


@dataclass(frozen=True)
class DeliveryPolicy:
    """How deliveries go out (from the service's settings)."""

    schedule: tuple[float, ...]
    allow_private: bool = False
    connect_timeout: float = 5.0
    timeout: float = 15.0
    max_response_bytes: int = 64 * 1024
    excerpt_chars: int = 1024

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery is left to its worker before another may try it (the
        worker died mid-attempt): longer than any attempt can take."""
        return self.connect_timeout + self.timeout + 30.0


@dataclass(frozen=True)
class AttemptOutcome:
    ok: bool
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    duration_ms: int


def new_http_client() -> httpx.AsyncClient:
    """The client deliveries share: no redirects, no proxies from the environment (they would
    connect to the target by name, not to the checked address). Kept-alive connections are
    keyed by the checked address, so reusing one goes where the guard allowed."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        headers={"user-agent": USER_AGENT},
    )


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: DeliveryPolicy,
) -> AttemptOutcome:
    started = time.perf_counter()

    def outcome(
        ok: bool, status: int | None = None, excerpt: str | None = None, error: str | None = None
    ) -> AttemptOutcome:
        duration = round((time.perf_counter() - started) * 1000)
        return AttemptOutcome(ok, status, excerpt, error, duration)

    try:
        target = check_url(url, allow_private=policy.allow_private)
        address = await resolve(target, allow_private=policy.allow_private)
    except TargetRefused as exc:
        return outcome(False, error=f"target refused: {exc}")
    request_url = httpx.URL(url).copy_with(host=str(address))
    send_headers = {
        **headers,
        "host": _host_header(target.host, target.port, target.scheme),
        "content-type": "application/json",
    }
    extensions = {}
    if target.scheme == "https" and _is_name(target.host):
        extensions["sni_hostname"] = target.host
    timeout = httpx.Timeout(policy.timeout, connect=policy.connect_timeout)
    request = client.build_request(
        "POST",
        request_url,
        content=body,
        headers=send_headers,
        timeout=timeout,
        extensions=extensions,
    )
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            read = bytearray()
            async for chunk in response.aiter_bytes():
                read += chunk
                if len(read) >= policy.max_response_bytes:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        return outcome(False, error=f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    excerpt = bytes(read[: policy.excerpt_chars * 4]).decode("utf-8", "replace")[
        : policy.excerpt_chars
    ]
    status = response.status_code
    if 200 <= status < 300:
        return outcome(True, status, excerpt)
    if 300 <= status < 400:
        where = response.headers.get("location", "")[:200]
        return outcome(False, status, excerpt, f"redirect to {where!r} not followed")
    return outcome(False, status, excerpt, f"answered {status}")


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False
