"""HTTP to the four services: the token and project on every call, problem+json turned into
readable errors, and retries with backoff where a retry is safe."""

from __future__ import annotations

import contextlib
import random
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from nfhub_cli.config import Config

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A gateway's 502/504 may come after the service did the work: only 429/503 (refused before
# any work) are safe to send again when the request is not idempotent.
REFUSED_STATUSES = frozenset({429, 503})
# Requests that may be sent twice without changing the result.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ApiError(Exception):
    """A request the server refused (or never answered), worded for a person."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def ssl_context(ca_file: str | None) -> ssl.SSLContext | bool:
    """Public CAs, plus the stack's own (make run's development CA) when given."""
    if ca_file is None:
        return True
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        pass
    context.load_verify_locations(ca_file)
    return context


def certificate_refused(error: BaseException) -> bool:
    """Whether the server's certificate was not trusted (anywhere in the error's causes): the
    same certificate comes again on a retry, so it is said at once, not after every backoff."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """Retry-After when the server says (seconds or a date), else exponential with jitter."""
    if response is not None:
        header = response.headers.get("Retry-After")
        if header:
            try:
                return min(max(float(header), 0.0), BACKOFF_MAX_SECONDS)
            except ValueError:
                try:
                    when = parsedate_to_datetime(header).timestamp()
                    return min(max(when - time.time(), 0.0), BACKOFF_MAX_SECONDS)
                except (TypeError, ValueError):
                    pass
    delay: float = min(BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1), BACKOFF_MAX_SECONDS)
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def describe(response: httpx.Response) -> str:
    """The problem+json detail (and each field error), or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:300]
        return f"HTTP {response.status_code}" + (f": {text}" if text else "")
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {str(body)[:300]}"
    message = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    errors = body.get("errors")
    if isinstance(errors, list) and [
        str(e.get("message")) for e in errors[:2] if isinstance(e, dict)
    ] == [message]:
        errors = None  # the detail says it already
    if isinstance(errors, list) and errors:
        lines = []
        for error in errors[:20]:
            if isinstance(error, dict):
                # Each service names the place its own way (location+field, row+column, path).
                where = ", ".join(
                    f"{key} {value}"
                    for key, value in error.items()
                    if key not in ("message", "msg", "type") and value not in (None, "")
                )
                lines.append(f"  - {where}: {error.get('message') or error.get('msg')}")
            else:
                lines.append(f"  - {error}")
        if len(errors) > 20:
            lines.append(f"  … and {len(errors) - 20} more")
        message += "\n" + "\n".join(lines)
    return f"{message} (HTTP {response.status_code})"


Sleep = Callable[[float], None]


class Api:
    """One client per service. ``sleep`` is what waits between retries (tests pass a recorder)."""

    def __init__(self, config: Config, *, sleep: Sleep = time.sleep) -> None:
        self.config = config
        self.sleep = sleep
        self.verify = ssl_context(config.ca_file)
        self._clients: dict[str, httpx.Client] = {}
        # A plain client for signed URLs: they carry their own credential, never our token.
        self.blobs = httpx.Client(verify=self.verify, timeout=TIMEOUT, follow_redirects=True)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.blobs.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def client(self, service: str) -> httpx.Client:
        if service not in self._clients:
            self._clients[service] = httpx.Client(
                base_url=self.config.url(service) + "/api/v1",
                verify=self.verify,
                timeout=TIMEOUT,
                headers={"User-Agent": "nfhub-cli"},
            )
        return self._clients[service]

    def headers(self, *, project: bool, auth: bool = True) -> dict[str, str]:
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {self.config.require_token()}"
        if project:
            headers["X-Project-ID"] = self.config.require_project()
        return headers

    def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        project: bool = True,
        auth: bool = True,
        expect: tuple[int, ...] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**self.headers(project=project, auth=auth), **kwargs.pop("headers", {})}
        client = self.client(service)
        return self.send(
            lambda: client.request(method, path, headers=headers, **kwargs), method, expect
        )

    def json(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(service, method, path, **kwargs)
        return response.json() if response.content else None

    def pages(self, service: str, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, 500 at a time."""
        params = dict(kwargs.pop("params", {}) or {})
        offset = 0
        while True:
            page = self.json(
                service, "GET", path, params={**params, "limit": 500, "offset": offset}, **kwargs
            )
            items = page["items"]
            yield from items
            offset += len(items)
            if not items or offset >= page["count"]:
                return

    def send(
        self,
        attempt_once: Callable[[], httpx.Response],
        method: str,
        expect: tuple[int, ...] = (200, 201, 202, 204, 206),
    ) -> httpx.Response:
        """Send with retries: 429/503 always (the request was refused unprocessed); 502/504 and
        transport errors only for idempotent methods (a POST may have been processed)."""
        idempotent = method.upper() in IDEMPOTENT_METHODS
        retried = RETRY_STATUSES if idempotent else REFUSED_STATUSES
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = attempt_once()
            except httpx.TransportError as exc:
                if not idempotent or attempt == MAX_ATTEMPTS or certificate_refused(exc):
                    raise ApiError(f"{method} failed: {exc.__class__.__name__}: {exc}") from exc
                self.sleep(retry_delay(None, attempt))
                continue
            if response.status_code in retried and attempt < MAX_ATTEMPTS:
                response.close()
                self.sleep(retry_delay(response, attempt))
                continue
            if response.status_code not in expect:
                response.read()
                response.close()
                body = None
                with contextlib.suppress(ValueError):
                    body = response.json()
                raise ApiError(describe(response), response.status_code, body)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def stream(
        self, url: str, *, headers: dict[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """GET a signed URL as a stream, retried like any GET until the body starts; a failure
        while reading the body is the caller's to resume (it knows how much it has)."""
        request = self.blobs.build_request("GET", url, headers=headers or {})
        response = self.send(lambda: self.blobs.send(request, stream=True), "GET", (200, 206))
        try:
            yield response
        finally:
            response.close()
