"""First-user bootstrap: on an empty database, create the configured user and org; and the
platform admins named in the configuration."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.config import Settings
from nfhub_admin.memberships.repository import OrgMembershipRepository
from nfhub_admin.models import Org, OrgMembership
from nfhub_admin.orgs.repository import OrgRepository
from nfhub_admin.users.repository import UserRepository
from nfhub_admin.users.service import create_user_record
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole

logger = structlog.get_logger("nfhub.admin.bootstrap")


async def bootstrap_first_user(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], audit: AuditWriter
) -> None:
    if not settings.BOOTSTRAP_USERNAME or settings.BOOTSTRAP_PASSWORD is None:
        return
    async with sessionmaker() as session, session.begin():
        if await UserRepository(session).count() > 0:
            return
        user = await create_user_record(
            session,
            username=settings.BOOTSTRAP_USERNAME,
            email=settings.BOOTSTRAP_EMAIL,
            display_name=None,
            password=settings.BOOTSTRAP_PASSWORD.get_secret_value(),
        )
        # Whoever installs the platform runs it: someone must be able to publish the first
        # public pipeline.
        await UserRepository(session).update(user, {"is_platform_admin": True})
        orgs = OrgRepository(session)
        org = await orgs.get_by_slug(settings.BOOTSTRAP_ORG) or await orgs.add(
            Org(slug=settings.BOOTSTRAP_ORG, name=settings.BOOTSTRAP_ORG)
        )
        await OrgMembershipRepository(session).add(
            OrgMembership(org_id=org.id, user_id=user.id, role=OrgRole.owner.value)
        )
        await audit.record(
            session,
            actor=None,
            action="user.bootstrap",
            resource_type="user",
            resource_id=user.id,
            org_id=org.id,
        )
        logger.info("bootstrapped first user", username=user.username, org=org.slug)


async def bootstrap_platform_admins(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], audit: AuditWriter
) -> None:
    """Flag the users ADMIN_PLATFORM_ADMINS names (at every start: the list may grow)."""
    if not settings.PLATFORM_ADMINS:
        return
    async with sessionmaker() as session, session.begin():
        users = UserRepository(session)
        granted = await users.grant_platform_admin(settings.PLATFORM_ADMINS)
        for username in granted:
            user = await users.get_by_username(username)
            await audit.record(
                session,
                actor=None,
                action="user.platform_admin.grant",
                resource_type="user",
                resource_id=user.id if user else None,
                details={"source": "ADMIN_PLATFORM_ADMINS"},
            )
        flagged = {user.username for user in await users.list_platform_admins()}
        missing = sorted({name.lower() for name in settings.PLATFORM_ADMINS} - flagged)
    if granted:
        logger.info("granted platform admin", usernames=granted)
    if missing:
        logger.warning("ADMIN_PLATFORM_ADMINS names unknown users", usernames=missing)
