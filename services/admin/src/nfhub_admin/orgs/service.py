from __future__ import annotations

import uuid

from nfhub_admin.access.service import require_org
from nfhub_admin.memberships.repository import OrgMembershipRepository
from nfhub_admin.models import Org, OrgMembership
from nfhub_admin.orgs.errors import OrgCreationDisabled, SlugTaken
from nfhub_admin.orgs.repository import OrgRepository
from nfhub_admin.orgs.schemas import OrgCreate, OrgUpdate, OrgWithRole
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal
from nfhub_shared.db.session import AsyncSession


class OrgService:
    def __init__(self, session: AsyncSession, audit: AuditWriter, *, allow_creation: bool) -> None:
        self.session = session
        self.audit = audit
        self.allow_creation = allow_creation
        self.orgs = OrgRepository(session)

    async def list_orgs(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[OrgWithRole], int]:
        rows, total = await self.orgs.list_for_user(principal.user_id, limit=limit, offset=offset)
        return [OrgWithRole.of(org, OrgRole(role)) for org, role in rows], total

    async def create_org(self, principal: Principal, org_create: OrgCreate) -> Org:
        if not self.allow_creation:
            raise OrgCreationDisabled("Creating organisations is disabled on this server.")
        if await self.orgs.get_by_slug(org_create.slug) is not None:
            raise SlugTaken(f"The organisation slug {org_create.slug!r} is taken.")
        org = await self.orgs.add(Org(**org_create.model_dump()))
        await OrgMembershipRepository(self.session).add(
            OrgMembership(org_id=org.id, user_id=principal.user_id, role=OrgRole.owner.value)
        )
        await self._audit("org.create", principal, org, {"slug": org.slug})
        return org

    async def get_org(self, principal: Principal, org_id: uuid.UUID) -> OrgWithRole:
        org, role = await require_org(self.session, principal, org_id, OrgRole.member)
        return OrgWithRole.of(org, role)

    async def update_org(
        self, principal: Principal, org_id: uuid.UUID, org_update: OrgUpdate
    ) -> OrgWithRole:
        org, role = await require_org(self.session, principal, org_id, OrgRole.admin)
        changes = org_update.model_dump(exclude_unset=True)
        await self.orgs.update(org, changes)
        await self._audit("org.update", principal, org, {"fields": sorted(changes)})
        return OrgWithRole.of(org, role)

    async def delete_org(self, principal: Principal, org_id: uuid.UUID) -> None:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.owner)
        await self._audit("org.delete", principal, org, {"slug": org.slug})
        await self.orgs.delete(org)

    async def _audit(
        self, action: str, principal: Principal, org: Org, details: dict[str, object]
    ) -> None:
        await self.audit.record(
            self.session,
            actor=principal,
            action=action,
            resource_type="org",
            resource_id=org.id,
            org_id=org.id,
            details=details,
        )
