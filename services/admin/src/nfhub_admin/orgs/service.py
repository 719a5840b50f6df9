from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.access.service import require_org
from nfhub_admin.models import Org, OrgMembership, ProjectMembership, User
from nfhub_admin.orgs.errors import AlreadyMember, LastOwner, OrgCreationDisabled, SlugTaken
from nfhub_admin.orgs.repository import OrgMembershipRepository, OrgRepository
from nfhub_admin.orgs.schemas import MemberAdd, OrgCreate, OrgMemberAdd, OrgUpdate
from nfhub_admin.projects.repository import ProjectMembershipRepository
from nfhub_admin.users.repository import UserRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal
from nfhub_shared.errors import NotFound


def member_view(membership: OrgMembership | ProjectMembership, user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": membership.role,
        "created_at": membership.created_at,
    }


async def resolve_member_user(session: AsyncSession, member: MemberAdd) -> User:
    users = UserRepository(session)
    user = (
        await users.get(member.user_id)
        if member.user_id is not None
        else await users.get_by_username(member.username or "")
    )
    if user is None or not user.is_active:
        raise NotFound("No active user with that id or username.")
    return user


class OrgService:
    def __init__(self, session: AsyncSession, audit: AuditWriter, *, allow_creation: bool) -> None:
        self.session = session
        self.audit = audit
        self.allow_creation = allow_creation
        self.orgs = OrgRepository(session)
        self.members = OrgMembershipRepository(session)

    async def list_orgs(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows, total = await self.orgs.list_for_user(principal.user_id, limit=limit, offset=offset)
        items = [{**{c: getattr(org, c) for c in _ORG_FIELDS}, "role": role} for org, role in rows]
        return items, total

    async def create_org(self, principal: Principal, org_create: OrgCreate) -> Org:
        if not self.allow_creation:
            raise OrgCreationDisabled("Creating organisations is disabled on this server.")
        if await self.orgs.get_by_slug(org_create.slug) is not None:
            raise SlugTaken(f"The organisation slug {org_create.slug!r} is taken.")
        org = await self.orgs.add(Org(**org_create.model_dump()))
        await self.members.add(
            OrgMembership(org_id=org.id, user_id=principal.user_id, role=OrgRole.owner.value)
        )
        await self.audit.record(
            self.session,
            actor=principal,
            action="org.create",
            resource_type="org",
            resource_id=org.id,
            org_id=org.id,
            details={"slug": org.slug},
        )
        return org

    async def get_org(self, principal: Principal, org_id: uuid.UUID) -> dict[str, Any]:
        org, role = await require_org(self.session, principal, org_id, OrgRole.member)
        return {**{c: getattr(org, c) for c in _ORG_FIELDS}, "role": role}

    async def update_org(
        self, principal: Principal, org_id: uuid.UUID, org_update: OrgUpdate
    ) -> dict[str, Any]:
        org, role = await require_org(self.session, principal, org_id, OrgRole.admin)
        changes = org_update.model_dump(exclude_unset=True)
        await self.orgs.update(org, changes)
        await self.audit.record(
            self.session,
            actor=principal,
            action="org.update",
            resource_type="org",
            resource_id=org.id,
            org_id=org.id,
            details={"fields": sorted(changes)},
        )
        return {**{c: getattr(org, c) for c in _ORG_FIELDS}, "role": role}

    async def delete_org(self, principal: Principal, org_id: uuid.UUID) -> None:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.owner)
        await self.audit.record(
            self.session,
            actor=principal,
            action="org.delete",
            resource_type="org",
            resource_id=org.id,
            org_id=org.id,
            details={"slug": org.slug},
        )
        await self.orgs.delete(org)

    async def list_members(
        self, principal: Principal, org_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        await require_org(self.session, principal, org_id, OrgRole.member)
        rows, total = await self.members.list_members(org_id, limit=limit, offset=offset)
        return [member_view(membership, user) for membership, user in rows], total

    async def add_member(
        self, principal: Principal, org_id: uuid.UUID, member_add: OrgMemberAdd
    ) -> dict[str, Any]:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.admin)
        if member_add.role is OrgRole.owner:
            await require_org(self.session, principal, org_id, OrgRole.owner)
        user = await resolve_member_user(self.session, member_add)
        if await self.members.get_membership(org.id, user.id) is not None:
            raise AlreadyMember(
                f"{user.username} is already a member of {org.slug}; change their role instead."
            )
        membership = await self.members.add(
            OrgMembership(org_id=org.id, user_id=user.id, role=member_add.role.value)
        )
        await self._audit_member("org.member.add", principal, org.id, user.id, member_add.role)
        return member_view(membership, user)

    async def change_member(
        self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID, role: OrgRole
    ) -> dict[str, Any]:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.admin)
        await self.members.lock_org_memberships(org.id)
        membership = await self._membership(org.id, user_id)
        if OrgRole.owner in (role, OrgRole(membership.role)):
            await require_org(self.session, principal, org_id, OrgRole.owner)
        if membership.role == OrgRole.owner.value and role is not OrgRole.owner:
            await self._refuse_last_owner(org, "demote")
        await self.members.update(membership, {"role": role.value})
        await self._audit_member("org.member.update", principal, org.id, user_id, role)
        user = await UserRepository(self.session).get(user_id)
        assert user is not None
        return member_view(membership, user)

    async def remove_member(
        self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        # Anyone may leave an org; removing someone else needs the admin role.
        minimum = OrgRole.member if user_id == principal.user_id else OrgRole.admin
        org, _ = await require_org(self.session, principal, org_id, minimum)
        await self.members.lock_org_memberships(org.id)
        membership = await self._membership(org.id, user_id)
        if membership.role == OrgRole.owner.value:
            if user_id != principal.user_id:
                await require_org(self.session, principal, org_id, OrgRole.owner)
            await self._refuse_last_owner(org, "remove")
        await self.members.delete(membership)
        # Leaving the org also ends every project membership in it.
        await ProjectMembershipRepository(self.session).delete_for_user_in_org(user_id, org.id)
        await self._audit_member("org.member.remove", principal, org.id, user_id, None)

    async def _membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMembership:
        membership = await self.members.get_membership(org_id, user_id)
        if membership is None:
            raise NotFound(f"User {user_id} is not a member of this organisation.")
        return membership

    async def _refuse_last_owner(self, org: Org, verb: str) -> None:
        if await self.members.count_owners(org.id) <= 1:
            raise LastOwner(
                f"Cannot {verb} the last owner of {org.slug}; make someone else owner first."
            )

    async def _audit_member(
        self,
        action: str,
        principal: Principal,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        role: OrgRole | None,
    ) -> None:
        await self.audit.record(
            self.session,
            actor=principal,
            action=action,
            resource_type="org_membership",
            resource_id=user_id,
            org_id=org_id,
            details={"role": role.value} if role else {},
        )


_ORG_FIELDS = ("id", "slug", "name", "description", "created_at", "updated_at")
