"""How users can log in, as admin says."""

from __future__ import annotations

import structlog

from nfhub_shared.cache import ExpiringCache
from nfhub_web.apis import ApiProblem, Apis
from nfhub_web.schemas import LoginProvider, LoginProviders

logger = structlog.get_logger("nfhub.web.auth")

# admin's providers are its settings, fixed while it runs: asked again after this long. Every
# call of web's to admin's /auth/ paths counts against one budget, web's address's.
PROVIDERS_TTL_SECONDS = 60.0
ProvidersCache = ExpiringCache[str, list[LoginProvider]]


def providers_cache() -> ProvidersCache:
    return ExpiringCache(1, PROVIDERS_TTL_SECONDS)


class LoginService:
    def __init__(self, apis: Apis, providers: ProvidersCache) -> None:
        self.apis = apis
        self.providers = providers

    async def oidc_providers(self) -> list[LoginProvider]:
        """admin's OpenID providers; none when admin cannot say (the password form still
        works, and says why when admin is down)."""
        cached = self.providers.get("oidc")
        if cached is not None:
            return cached
        try:
            found = await self.apis.read(LoginProviders, "admin", "/auth/providers")
        except ApiProblem as problem:
            logger.warning("login providers unavailable", status=problem.status)
            return []
        oidc = [provider for provider in found.providers if provider.kind == "oidc"]
        self.providers.put("oidc", oidc)
        return oidc
