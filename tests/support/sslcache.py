"""One default TLS context per test process, not one per HTTP client.

Every ``httpx.AsyncClient`` without a transport of its own (admin's client in every in-process
admin, the CLI's, a test's client of a live stack) builds a default TLS context, and loading
certifi's bundle into it costs ~50 ms of CPU: a twentieth of a second per in-process test.
The context only depends on its arguments and on SSL_CERT_FILE/SSL_CERT_DIR, and an
``ssl.SSLContext`` is made to be shared by many connections, so the tests keep one per set of
those. Clients that pass their own context (``verify=<SSLContext>``, the live stacks' CA) are
untouched. The one thing httpcore sets on a shared context per connection is the ALPN list,
the same for every client here (no client speaks HTTP/2).

If httpx stops having this function, nothing is kept and the suite is only slower.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Hashable
from typing import Any

import httpx._transports.default as httpx_transports

NAME = "create_ssl_context"


def _cached(original: Callable[..., ssl.SSLContext]) -> Callable[..., ssl.SSLContext]:
    built: dict[Hashable, ssl.SSLContext] = {}

    def cached(
        verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        key = (
            trust_env,
            os.environ.get("SSL_CERT_FILE") if trust_env else None,
            os.environ.get("SSL_CERT_DIR") if trust_env else None,
        )
        context = built.get(key)
        if context is None:
            context = built[key] = original(verify=verify, cert=cert, trust_env=trust_env)
        return context

    return cached


def install() -> None:
    original = getattr(httpx_transports, NAME, None)
    if original is not None and not getattr(original, "nfhub_cached", False):
        cached = _cached(original)
        cached.nfhub_cached = True  # type: ignore[attr-defined]
        setattr(httpx_transports, NAME, cached)
