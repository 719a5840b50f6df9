from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from nfhub_compute.models import PipelineSecret
from nfhub_compute.secrets.crypto import SecretBox
from nfhub_compute.secrets.schemas import (
    NAME_PATTERN,
    SecretCreate,
    SecretRead,
    SecretScope,
    SecretUpdate,
)
from nfhub_compute.secrets.service import SecretService
from nfhub_compute.state import SettingsDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/secrets", tags=["secrets"])

SecretsViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "secrets:read")]
# Project admins at least (org admins are admins of every project); org secrets need an org
# admin, which the service checks.
SecretsAdmin = Annotated[ProjectAccess, project_role(ProjectRole.admin, "secrets:write")]
Name = Annotated[str, Path(min_length=2, max_length=100, pattern=NAME_PATTERN, description="Name")]
Scope = Annotated[
    SecretScope,
    Query(description="project: the X-Project-ID project's secret; org: its org's"),
]


async def get_reader(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: SecretsViewer
) -> SecretService:
    return SecretService(session, SecretBox.from_settings(settings), audit, access)


async def get_writer(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: SecretsAdmin
) -> SecretService:
    return SecretService(session, SecretBox.from_settings(settings), audit, access)


Reader = Annotated[SecretService, Depends(get_reader)]
Writer = Annotated[SecretService, Depends(get_writer)]


@router.get("", response_model=Page[SecretRead])
async def list_secrets(
    request: Request,
    response: Response,
    page: PageParamsDep,
    secrets: Reader,
    scope: Annotated[
        SecretScope | None, Query(description="Only the org's or only the project's")
    ] = None,
) -> Page[SecretRead]:
    """The secrets this project's runs can use (the org's and its own), by name: never values."""
    items, count = await secrets.list_secrets(scope, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.post("", response_model=SecretRead, status_code=status.HTTP_201_CREATED)
async def create_secret(
    secret_create: SecretCreate, request: Request, response: Response, secrets: Writer
) -> PipelineSecret:
    """Store a secret for the project (project admins) or its org (org admins); 409 if it
    exists."""
    secret = await secrets.create(secret_create)
    response.headers["Location"] = _location(request, secret)
    return secret


@router.get("/{name}", response_model=SecretRead)
async def get_secret(
    name: Name, secrets: Reader, scope: Scope = SecretScope.project
) -> PipelineSecret:
    """One secret's name, scope and dates: never its value."""
    return await secrets.get(name, scope)


@router.put(
    "/{name}",
    response_model=SecretRead,
    responses={201: {"model": SecretRead, "description": "Created"}},
)
async def put_secret(
    name: Name,
    secret_update: SecretUpdate,
    request: Request,
    response: Response,
    secrets: Writer,
    scope: Scope = SecretScope.project,
) -> PipelineSecret:
    """Set a secret's value, creating it if need be (201 then); runs launched from now on get
    the new value."""
    secret, created = await secrets.put(name, scope, secret_update)
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = _location(request, secret)
    return secret


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secret(name: Name, secrets: Writer, scope: Scope = SecretScope.project) -> None:
    """Delete a secret; queued runs that need it fail at launch, saying so."""
    await secrets.delete(name, scope)


def _location(request: Request, secret: PipelineSecret) -> str:
    return f"{request.url_for('get_secret', name=secret.name)}?scope={secret.scope}"
