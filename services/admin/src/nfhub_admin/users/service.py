from __future__ import annotations

from nfhub_admin.access.service import require_org, require_project
from nfhub_admin.memberships.repository import OrgMembershipRepository
from nfhub_admin.models import OrgMembership, User
from nfhub_admin.users.errors import UsernameTaken, WeakPassword
from nfhub_admin.users.passwords import hash_password
from nfhub_admin.users.repository import UserRepository
from nfhub_admin.users.schemas import DefaultContext, DefaultContextUpdate, UserCreate
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import Unauthorized, ValidationFailed

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Passwords may have at most {MAX_PASSWORD_LENGTH} characters.")


async def create_user_record(
    session: AsyncSession,
    *,
    username: str,
    email: str | None,
    display_name: str | None,
    password: str | None,
) -> User:
    users = UserRepository(session)
    if await users.get_by_username(username) is not None:
        raise UsernameTaken(f"The username {username!r} is taken; choose another.")
    if email is not None and await users.get_by_email(email) is not None:
        raise UsernameTaken(f"A user with the email {email!r} exists already.")
    if password is not None:
        check_password_strength(password)
    return await users.add(
        User(
            username=username.lower(),
            email=email.lower() if email else None,
            display_name=display_name,
            password_hash=await hash_password(password) if password is not None else None,
        )
    )


class UserService:
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        self.session = session
        self.audit = audit
        self.users = UserRepository(session)

    async def get_me(self, principal: Principal) -> User:
        user = await self.users.get(principal.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("Your account no longer exists or is disabled.")
        return user

    async def create_user(self, principal: Principal, user_create: UserCreate) -> User:
        org, _ = await require_org(self.session, principal, user_create.org_id, OrgRole.admin)
        if user_create.org_role is OrgRole.owner:
            await require_org(self.session, principal, org.id, OrgRole.owner)
        user = await create_user_record(
            self.session,
            username=user_create.username,
            email=str(user_create.email) if user_create.email else None,
            display_name=user_create.display_name,
            password=user_create.password.get_secret_value() if user_create.password else None,
        )
        await OrgMembershipRepository(self.session).add(
            OrgMembership(org_id=org.id, user_id=user.id, role=user_create.org_role.value)
        )
        await self.audit.record(
            self.session,
            actor=principal,
            action="user.create",
            resource_type="user",
            resource_id=user.id,
            org_id=org.id,
            details={"username": user.username, "org_role": user_create.org_role.value},
        )
        return user

    async def get_default_context(self, principal: Principal) -> DefaultContext:
        user = await self.get_me(principal)
        return DefaultContext(org_id=user.default_org_id, project_id=user.default_project_id)

    async def set_default_context(
        self, principal: Principal, update: DefaultContextUpdate
    ) -> DefaultContext:
        user = await self.get_me(principal)
        org_id = update.org_id
        if update.project_id is not None:
            project, _ = await require_project(
                self.session, principal, update.project_id, ProjectRole.viewer
            )
            if org_id is not None and org_id != project.org_id:
                raise ValidationFailed(
                    f"Project {project.slug} belongs to another organisation than {org_id}; "
                    "leave org_id out or name the project's organisation."
                )
            org_id = project.org_id
        if org_id is not None:
            await require_org(self.session, principal, org_id, OrgRole.member)
        await self.users.update(
            user, {"default_org_id": org_id, "default_project_id": update.project_id}
        )
        return DefaultContext(org_id=org_id, project_id=update.project_id)
