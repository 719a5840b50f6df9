"""The user's personal access tokens, at admin."""

from __future__ import annotations

import uuid

from nfhub_web.apis import Apis
from nfhub_web.schemas import Page, TokenCreated, TokenRead
from nfhub_web.sessions.service import ActiveSession

MAX_LISTED = 500


class TokensService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        self.apis = apis
        self.token = session.access_token

    async def list_tokens(self) -> Page[TokenRead]:
        return await self.apis.read(
            Page[TokenRead], "admin", "/tokens", token=self.token, params={"limit": MAX_LISTED}
        )

    async def create_token(self, name: str, expires_in_days: int | str | None) -> TokenCreated:
        body: dict[str, object] = {"name": name}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        return await self.apis.read(
            TokenCreated, "admin", "/tokens", method="POST", token=self.token, json=body
        )

    async def revoke_token(self, token_id: uuid.UUID) -> None:
        await self.apis.call("admin", "DELETE", f"/tokens/{token_id}", token=self.token)
