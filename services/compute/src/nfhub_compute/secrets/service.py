"""Pipeline secrets: an org's and a project's, encrypted at rest, shown to nobody.

Who may do what: project viewers list the names (and when each changed), project admins
write the project's secrets, org admins and owners the org's. Where both have a secret of a
name, a run of the project gets the project's. Values are sealed here (SecretBox) and opened
only by the worker when it launches a run (``launch_values``); no answer, log line or audit
record carries one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from nfhub_compute.models import PipelineSecret
from nfhub_compute.secrets.crypto import SecretBox, SecretUnreadable, binding
from nfhub_compute.secrets.errors import SecretExists, SecretNotFound, SecretScopeForbidden
from nfhub_compute.secrets.repository import SecretRepository
from nfhub_compute.secrets.schemas import SecretCreate, SecretRead, SecretScope, SecretUpdate
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSession


class SecretsUnavailable(Exception):
    """A run's secret cannot be handed over (deleted since the launch, or its key is gone)."""


class SecretService:
    def __init__(
        self, session: AsyncSession, box: SecretBox, audit: AuditWriter, access: ProjectAccess
    ) -> None:
        self.session = session
        self.box = box
        self.audit = audit
        self.access = access
        self.secrets = SecretRepository(session)

    def _project_of(self, scope: SecretScope) -> uuid.UUID | None:
        return self.access.project_id if scope == SecretScope.project else None

    def _check_write(self, scope: SecretScope) -> None:
        if scope == SecretScope.org and not self.access.is_org_admin():
            raise SecretScopeForbidden(
                "Org secrets reach every project of the org, so the org's admins and owners "
                "change them; set a project secret (scope=project) instead, or ask an org admin."
            )
        if scope == SecretScope.project and not self.access.role.allows(ProjectRole.admin):
            raise SecretScopeForbidden(
                f"Project secrets are changed by the project's admins; you are "
                f"{self.access.role.value}. Ask a project admin."
            )

    # -- reading ---------------------------------------------------------------------------

    async def list_secrets(
        self, scope: SecretScope | None, *, limit: int, offset: int
    ) -> tuple[list[SecretRead], int]:
        """The org's and the project's secrets (names and dates), org ones marked when the
        project overrides them."""
        project_only = None if scope is None else scope == SecretScope.project
        rows, count = await self.secrets.list_visible(
            self.access.org_id,
            self.access.project_id,
            project_only=project_only,
            limit=limit,
            offset=offset,
        )
        overridden = await self.secrets.names_in_project(
            self.access.org_id,
            self.access.project_id,
            {row.name for row in rows if row.project_id is None},
        )
        reads = [
            SecretRead.model_validate(row).model_copy(
                update={"overridden": row.project_id is None and row.name in overridden}
            )
            for row in rows
        ]
        return reads, count

    async def get(self, name: str, scope: SecretScope) -> PipelineSecret:
        found = await self.secrets.get_named(self.access.org_id, self._project_of(scope), name)
        if found is None:
            raise SecretNotFound(self._missing(name, scope))
        return found

    # -- writing ---------------------------------------------------------------------------

    async def create(self, secret_create: SecretCreate) -> PipelineSecret:
        scope = secret_create.scope
        self._check_write(scope)
        project_id = self._project_of(scope)
        name = secret_create.name
        if await self.secrets.get_named(self.access.org_id, project_id, name) is not None:
            raise SecretExists(
                f"The {scope.value} secret {name} exists; PUT /secrets/{name}?scope={scope.value} "
                f"replaces its value."
            )
        subject = self.access.principal.subject
        secret = PipelineSecret(
            id=uuid.uuid4(),
            org_id=self.access.org_id,
            project_id=project_id,
            name=name,
            sealed_value=self.box.seal(
                secret_create.value.get_secret_value(),
                binding(self.access.org_id, project_id, name),
            ),
            created_by=subject,
            updated_by=subject,
        )
        await self.secrets.add(secret)
        await self._record("secret.create", secret)
        return secret

    async def put(
        self, name: str, scope: SecretScope, secret_update: SecretUpdate
    ) -> tuple[PipelineSecret, bool]:
        """Set the value (creating the secret if need be); True when it was created."""
        self._check_write(scope)
        project_id = self._project_of(scope)
        found = await self.secrets.get_named(self.access.org_id, project_id, name, for_update=True)
        if found is None:
            created = await self.create(
                SecretCreate(name=name, value=secret_update.value, scope=scope)
            )
            return created, True
        sealed = self.box.seal(
            secret_update.value.get_secret_value(), binding(found.org_id, found.project_id, name)
        )
        await self.secrets.update(
            found, {"sealed_value": sealed, "updated_by": self.access.principal.subject}
        )
        await self._record("secret.update", found)
        return found, False

    async def delete(self, name: str, scope: SecretScope) -> None:
        self._check_write(scope)
        found = await self.get(name, scope)
        await self.secrets.delete(found)
        await self._record("secret.delete", found)

    # -- helpers ---------------------------------------------------------------------------

    def _missing(self, name: str, scope: SecretScope) -> str:
        where = "this project" if scope == SecretScope.project else "this project's org"
        return f"No {scope.value} secret {name} in {where}; GET /secrets lists them."

    async def _record(self, action: str, secret: PipelineSecret) -> None:
        # The name and scope only: the audit log is read by admins, never a value.
        details: dict[str, Any] = {"name": secret.name, "scope": secret.scope}
        await self.audit.record_in_project(
            self.session, self.access, action, "secret", secret.id, details
        )


async def unknown_secret_names(
    session: AsyncSession, org_id: uuid.UUID, project_id: uuid.UUID, names: Sequence[str]
) -> list[str]:
    """The names (in the order given) that neither the project nor its org has a secret of."""
    found = {
        row.name for row in await SecretRepository(session).visible_named(org_id, project_id, names)
    }
    return [name for name in names if name not in found]


async def launch_values(
    session: AsyncSession,
    box: SecretBox,
    org_id: uuid.UUID,
    project_id: uuid.UUID,
    names: Sequence[str],
) -> dict[str, str]:
    """The values a run's launch is given, each from the project's secret when there is one,
    else the org's. Only the worker calls this, as it hands the run to the backend."""
    chosen: dict[str, PipelineSecret] = {}
    for row in await SecretRepository(session).visible_named(org_id, project_id, names):
        if row.name not in chosen or row.project_id is not None:
            chosen[row.name] = row
    missing = [name for name in names if name not in chosen]
    if missing:
        raise SecretsUnavailable(
            f"The run needs the secret(s) {', '.join(missing)}, deleted since it was launched; "
            f"set them again and relaunch the run."
        )
    values = {}
    for name, row in chosen.items():
        try:
            values[name] = box.open(row.sealed_value, binding(row.org_id, row.project_id, row.name))
        except SecretUnreadable as exc:
            raise SecretsUnavailable(
                f"The {row.scope} secret {name} cannot be decrypted: {exc}."
            ) from exc
    return values


ROTATE_BATCH = 500


async def reseal_batch(
    session: AsyncSession, box: SecretBox, after: uuid.UUID | None
) -> tuple[int, uuid.UUID | None]:
    """Re-encrypt with the current key one batch of secrets sealed with an older one.

    Returns how many were re-encrypted and where the next batch starts (None: done). Each
    batch is the caller's transaction, so a rotation can stop and start again.
    """
    rows = await SecretRepository(session).all_for_update(batch=ROTATE_BATCH, after=after)
    resealed = 0
    for row in rows:
        if box.is_current(row.sealed_value):
            continue
        where = binding(row.org_id, row.project_id, row.name)
        row.sealed_value = box.seal(box.open(row.sealed_value, where), where)
        resealed += 1
    await session.flush()
    return resealed, (rows[-1].id if len(rows) == ROTATE_BATCH else None)
