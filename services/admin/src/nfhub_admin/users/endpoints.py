from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from nfhub_admin.models import User
from nfhub_admin.users.schemas import DefaultContext, DefaultContextUpdate, UserCreate, UserRead
from nfhub_admin.users.service import UserService
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/users", tags=["users"])

UserReader = Annotated[Principal, scoped("users:read")]
UserWriter = Annotated[Principal, scoped("users:write")]


async def get_user_service(session: AsyncSessionDep, audit: AuditDep) -> UserService:
    return UserService(session, audit)


UserServiceDep = Annotated[UserService, Depends(get_user_service)]


@router.get("/me", response_model=UserRead)
async def get_me(users: UserServiceDep, principal: UserReader) -> User:
    """The calling user."""
    return await users.get_me(principal)


@router.get("/me/default-context", response_model=DefaultContext)
async def get_default_context(users: UserServiceDep, principal: UserReader) -> DefaultContext:
    """The org and project the caller works in by default (clients preselect them)."""
    return await users.get_default_context(principal)


@router.put("/me/default-context", response_model=DefaultContext)
async def set_default_context(
    default_context_update: DefaultContextUpdate,
    users: UserServiceDep,
    principal: UserWriter,
) -> DefaultContext:
    """Set the default org and project; a project alone implies its org."""
    return await users.set_default_context(principal, default_context_update)


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "No such organisation, or none you can see (problem+json)"}},
)
async def create_user(
    user_create: UserCreate, users: UserServiceDep, principal: UserWriter
) -> User:
    """Create a user in an organisation you administer."""
    return await users.create_user(principal, user_create)
