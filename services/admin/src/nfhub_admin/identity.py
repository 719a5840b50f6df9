"""admin answers "who is this token / what may they do" from its own database."""

from __future__ import annotations

import uuid

from jwt import PyJWK

from nfhub_admin.access.service import project_role_of
from nfhub_admin.auth.repository import RefreshTokenRepository
from nfhub_admin.keys import SigningKeys
from nfhub_admin.state import AdminState
from nfhub_admin.tokens.service import TokenService
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.identity import Membership
from nfhub_shared.auth.principal import Principal


class LocalIdentity:
    def __init__(
        self,
        keys: SigningKeys,
        state: AdminState,
        audit: AuditWriter,
    ) -> None:
        self.keys = keys
        # Read the sessionmaker per call: tests swap it for one bound to their transaction.
        self.state = state
        self.audit = audit

    async def signing_key(self, kid: str) -> PyJWK | None:
        return self.keys.verification_key(kid)

    async def resolve_pat(self, token: str) -> Principal | None:
        # Its own short transaction: last_used_at is recorded even if the request then fails.
        async with self.state.sessionmaker() as session, session.begin():
            return await TokenService(session, self.audit).introspect(token)

    async def session_active(self, session_id: str) -> bool:
        try:
            family_id = uuid.UUID(session_id)
        except ValueError:
            return False
        async with self.state.sessionmaker() as session:
            return await RefreshTokenRepository(session).family_active(family_id)

    async def project_membership(
        self, principal: Principal, project_id: uuid.UUID
    ) -> Membership | None:
        async with self.state.sessionmaker() as session:
            found = await project_role_of(session, principal.user_id, project_id)
        if found is None:
            return None
        project, role = found
        return Membership(org_id=project.org_id, role=role)
