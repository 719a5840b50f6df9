"""Who belongs to an organisation or a project, and with which role.

Both scopes share the mechanics (name a user by id or username, refuse a second membership,
list members with their users); each adds its own rules: an org keeps at least one owner and
leaving it ends its project memberships; a project only takes members of its org.
"""

from __future__ import annotations

import uuid
from typing import Any, Generic

from nfhub_admin.access.service import require_org, require_project
from nfhub_admin.audit.service import record_project_event
from nfhub_admin.memberships.errors import AlreadyMember, LastOwner, NotAnOrgMember
from nfhub_admin.memberships.repository import (
    MembershipRepository,
    MembershipT,
    OrgMembershipRepository,
    ProjectMembershipRepository,
)
from nfhub_admin.memberships.schemas import (
    MemberAdd,
    OrgMemberAdd,
    OrgMemberRead,
    ProjectMemberAdd,
    ProjectMemberRead,
)
from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership, User
from nfhub_admin.users.repository import UserRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import NotFound


class MembershipService(Generic[MembershipT]):
    """What org and project memberships have in common."""

    def __init__(
        self, session: AsyncSession, audit: AuditWriter, members: MembershipRepository[MembershipT]
    ) -> None:
        self.session = session
        self.audit = audit
        self.members: MembershipRepository[MembershipT] = members
        self.users = UserRepository(session)

    async def _resolve_user(self, member: MemberAdd) -> User:
        user = (
            await self.users.get(member.user_id)
            if member.user_id is not None
            else await self.users.get_by_username(member.username or "")
        )
        if user is None or not user.is_active:
            raise NotFound("No active user with that id or username.")
        return user

    async def _refuse_member(self, scope_id: uuid.UUID, user: User, slug: str) -> None:
        if await self.members.get_membership(scope_id, user.id) is not None:
            raise AlreadyMember(
                f"{user.username} is already a member of {slug}; change their role instead."
            )

    async def _membership(self, scope_id: uuid.UUID, user_id: uuid.UUID, scope: str) -> MembershipT:
        membership = await self.members.get_membership(scope_id, user_id)
        if membership is None:
            raise NotFound(f"User {user_id} is not a member of this {scope}.")
        return membership

    async def _user(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        assert user is not None  # memberships cascade with their user
        return user


class OrgMemberService(MembershipService[OrgMembership]):
    members: OrgMembershipRepository

    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        super().__init__(session, audit, OrgMembershipRepository(session))

    async def list_members(
        self, principal: Principal, org_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[OrgMemberRead], int]:
        await require_org(self.session, principal, org_id, OrgRole.member)
        rows, total = await self.members.list_members(org_id, limit=limit, offset=offset)
        return [OrgMemberRead.of(membership, user) for membership, user in rows], total

    async def add_member(
        self, principal: Principal, org_id: uuid.UUID, member_add: OrgMemberAdd
    ) -> OrgMemberRead:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.admin)
        if member_add.role is OrgRole.owner:
            await require_org(self.session, principal, org_id, OrgRole.owner)
        user = await self._resolve_user(member_add)
        await self._refuse_member(org.id, user, org.slug)
        membership = await self.members.add(
            OrgMembership(org_id=org.id, user_id=user.id, role=member_add.role.value)
        )
        await self._audit("org.member.add", principal, org.id, user.id, member_add.role)
        return OrgMemberRead.of(membership, user)

    async def change_member(
        self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID, role: OrgRole
    ) -> OrgMemberRead:
        org, _ = await require_org(self.session, principal, org_id, OrgRole.admin)
        await self.members.lock_org_memberships(org.id)
        membership = await self._membership(org.id, user_id, "organisation")
        if OrgRole.owner in (role, OrgRole(membership.role)):
            await require_org(self.session, principal, org_id, OrgRole.owner)
        if membership.role == OrgRole.owner.value and role is not OrgRole.owner:
            await self._refuse_last_owner(org, "demote")
        await self.members.update(membership, {"role": role.value})
        await self._audit("org.member.update", principal, org.id, user_id, role)
        return OrgMemberRead.of(membership, await self._user(user_id))

    async def remove_member(
        self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        # Anyone may leave an org; removing someone else needs the admin role.
        minimum = OrgRole.member if user_id == principal.user_id else OrgRole.admin
        org, _ = await require_org(self.session, principal, org_id, minimum)
        await self.members.lock_org_memberships(org.id)
        membership = await self._membership(org.id, user_id, "organisation")
        if membership.role == OrgRole.owner.value:
            if user_id != principal.user_id:
                await require_org(self.session, principal, org_id, OrgRole.owner)
            await self._refuse_last_owner(org, "remove")
        await self.members.delete(membership)
        # Leaving the org also ends every project membership in it.
        await ProjectMembershipRepository(self.session).delete_for_user_in_org(user_id, org.id)
        await self._audit("org.member.remove", principal, org.id, user_id, None)

    async def _refuse_last_owner(self, org: Org, verb: str) -> None:
        if await self.members.count_owners(org.id) <= 1:
            raise LastOwner(
                f"Cannot {verb} the last owner of {org.slug}; make someone else owner first."
            )

    async def _audit(
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


class ProjectMemberService(MembershipService[ProjectMembership]):
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        super().__init__(session, audit, ProjectMembershipRepository(session))

    async def list_members(
        self, principal: Principal, project_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[ProjectMemberRead], int]:
        await require_project(self.session, principal, project_id, ProjectRole.viewer)
        rows, total = await self.members.list_members(project_id, limit=limit, offset=offset)
        return [ProjectMemberRead.of(membership, user) for membership, user in rows], total

    async def add_member(
        self, principal: Principal, project_id: uuid.UUID, member_add: ProjectMemberAdd
    ) -> ProjectMemberRead:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        user = await self._resolve_user(member_add)
        in_org = await OrgMembershipRepository(self.session).get_membership(project.org_id, user.id)
        if in_org is None:
            raise NotAnOrgMember(
                f"{user.username} is not a member of this project's organisation; add them "
                "to the organisation first."
            )
        await self._refuse_member(project.id, user, project.slug)
        membership = await self.members.add(
            ProjectMembership(project_id=project.id, user_id=user.id, role=member_add.role.value)
        )
        await self._audit(
            "project.member.add",
            principal,
            project,
            {"user_id": str(user.id), "role": member_add.role.value},
        )
        return ProjectMemberRead.of(membership, user)

    async def change_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID, role: ProjectRole
    ) -> ProjectMemberRead:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        membership = await self._membership(project.id, user_id, "project")
        await self.members.update(membership, {"role": role.value})
        await self._audit(
            "project.member.update",
            principal,
            project,
            {"user_id": str(user_id), "role": role.value},
        )
        return ProjectMemberRead.of(membership, await self._user(user_id))

    async def remove_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        minimum = ProjectRole.viewer if user_id == principal.user_id else ProjectRole.admin
        project, _ = await require_project(self.session, principal, project_id, minimum)
        membership = await self._membership(project.id, user_id, "project")
        await self.members.delete(membership)
        await self._audit("project.member.remove", principal, project, {"user_id": str(user_id)})

    async def _audit(
        self, action: str, principal: Principal, project: Project, details: dict[str, Any]
    ) -> None:
        await record_project_event(self.audit, self.session, principal, action, project, details)
