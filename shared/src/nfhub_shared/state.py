"""Typed access to what a service's lifespan keeps on ``app.state``.

Starlette's ``State`` takes any attribute and gives back ``Any``; reading it in endpoints hides
what a route depends on and what type it gets. ``ServiceState`` declares the resources every
service has; each service subclasses it with its own (``ComputeState.backend``,
``FilesState.storage``), and endpoints receive them through ``Annotated`` dependencies instead of
reading ``request.app.state``. The view writes through, so lifespans set resources with the same
types the readers get.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Self

from fastapi import Depends, FastAPI, Request
from starlette.datastructures import State

if TYPE_CHECKING:
    import httpx
    from prometheus_client import CollectorRegistry
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from nfhub_shared.audit import AuditWriter
    from nfhub_shared.auth.identity import IdentityResolver
    from nfhub_shared.auth.tokens import ServiceTokens, VerifiedTokenCache
    from nfhub_shared.config import BaseServiceSettings
    from nfhub_shared.ratelimit import RateLimiter


class ServiceState:
    """The resources of every service; a subclass per service declares its own."""

    settings: BaseServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    http_client: httpx.AsyncClient
    rate_limiter: RateLimiter
    identity: IdentityResolver
    service_tokens: ServiceTokens
    verified_tokens: VerifiedTokenCache
    metrics_registry: CollectorRegistry
    audit_writer: AuditWriter
    _app_state: State

    def __init__(self, app_state: State) -> None:
        object.__setattr__(self, "_app_state", app_state)

    @classmethod
    def of(cls, app: FastAPI) -> Self:
        return cls(app.state)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found the normal way: the declared resources.
        try:
            return getattr(self._app_state, name)
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__}.{name} is not set: the service's lifespan has not "
                f"started, or does not provide it."
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._app_state, name, value)


def get_service_state(request: Request) -> ServiceState:
    return ServiceState.of(request.app)


ServiceStateDep = Annotated[ServiceState, Depends(get_service_state)]
