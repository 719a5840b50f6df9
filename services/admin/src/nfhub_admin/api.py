from fastapi import APIRouter

from nfhub_admin.audit.endpoints import router as audit_router
from nfhub_admin.auth.endpoints import jwks_router
from nfhub_admin.auth.endpoints import router as auth_router
from nfhub_admin.internal.endpoints import router as internal_router
from nfhub_admin.orgs.endpoints import router as orgs_router
from nfhub_admin.projects.endpoints import router as projects_router
from nfhub_admin.tokens.endpoints import router as tokens_router
from nfhub_admin.users.endpoints import router as users_router

routers: list[APIRouter] = [
    auth_router,
    users_router,
    orgs_router,
    projects_router,
    tokens_router,
    audit_router,
    internal_router,
]
root_routers: list[APIRouter] = [jwks_router]
