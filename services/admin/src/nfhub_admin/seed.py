"""Seed the demo org, project and user for ``make run`` (idempotent).

Prints one JSON line: the user, password, org and project ids and a fresh personal access
token (the previous demo token is revoked, so only one is ever valid).
"""

from __future__ import annotations

import asyncio
import json
import sys

from nfhub_admin.config import Settings
from nfhub_admin.memberships.repository import OrgMembershipRepository, ProjectMembershipRepository
from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership, audit_events
from nfhub_admin.orgs.repository import OrgRepository
from nfhub_admin.projects.repository import ProjectRepository
from nfhub_admin.tokens.repository import TokenRepository
from nfhub_admin.tokens.schemas import TokenCreate
from nfhub_admin.tokens.service import TokenService
from nfhub_admin.users.repository import UserRepository
from nfhub_admin.users.service import create_user_record
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.auth.scopes import scopes_allowed
from nfhub_shared.db.engine import create_engine, create_sessionmaker

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-change-me"  # noqa: S105 - a documented demo account, dev only
DEMO_SLUG = "demo"
DEMO_TOKEN_NAME = "make-run"  # noqa: S105 - a token's name, not a token


async def seed(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings)
    audit = AuditWriter(audit_events)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await UserRepository(session).get_by_username(DEMO_USERNAME)
            if user is None:
                user = await create_user_record(
                    session,
                    username=DEMO_USERNAME,
                    email="demo@example.org",
                    display_name="Demo User",
                    password=DEMO_PASSWORD,
                )
            orgs = OrgRepository(session)
            org = await orgs.get_by_slug(DEMO_SLUG) or await orgs.add(
                Org(slug=DEMO_SLUG, name="Demo Lab", description="Seeded by make run")
            )
            org_members = OrgMembershipRepository(session)
            if await org_members.get_membership(org.id, user.id) is None:
                await org_members.add(
                    OrgMembership(org_id=org.id, user_id=user.id, role=OrgRole.owner.value)
                )
            projects = ProjectRepository(session)
            project = await projects.get_by_slug(org.id, DEMO_SLUG) or await projects.add(
                Project(org_id=org.id, slug=DEMO_SLUG, name="Demo project")
            )
            project_members = ProjectMembershipRepository(session)
            if await project_members.get_membership(project.id, user.id) is None:
                await project_members.add(
                    ProjectMembership(
                        project_id=project.id, user_id=user.id, role=ProjectRole.admin.value
                    )
                )
            await UserRepository(session).update(
                user, {"default_org_id": org.id, "default_project_id": project.id}
            )
            principal = Principal(
                subject=str(user.id),
                kind="user",
                scopes=scopes_allowed(is_platform_admin=user.is_platform_admin),
                username=user.username,
            )
            tokens = TokenService(session, audit)
            previous = await TokenRepository(session).get_active_by_name(user.id, DEMO_TOKEN_NAME)
            if previous is not None:
                await tokens.revoke_token(principal, previous.id)
            created = await tokens.create_token(principal, TokenCreate(name=DEMO_TOKEN_NAME))
            return {
                "user": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
                "org_id": str(org.id),
                "project_id": str(project.id),
                "token": created.token,
            }
    finally:
        await engine.dispose()


def main() -> None:
    result = asyncio.run(seed(Settings(LOG_JSON=False)))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
