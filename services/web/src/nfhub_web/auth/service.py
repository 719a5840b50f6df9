"""How users can log in, as admin says."""

from __future__ import annotations

import structlog

from nfhub_web.apis import ApiProblem, Apis
from nfhub_web.schemas import LoginProvider, LoginProviders

logger = structlog.get_logger("nfhub.web.auth")


class LoginService:
    def __init__(self, apis: Apis) -> None:
        self.apis = apis

    async def oidc_providers(self) -> list[LoginProvider]:
        """admin's OpenID providers; none when admin cannot say (the password form still
        works, and says why when admin is down)."""
        try:
            found = await self.apis.read(LoginProviders, "admin", "/auth/providers")
        except ApiProblem as problem:
            logger.warning("login providers unavailable", status=problem.status)
            return []
        return [provider for provider in found.providers if provider.kind == "oidc"]
