"""Compute environments: where an org's runs go. Org-wide, managed by the org's admins (the
admins of its projects: org owners and admins are admins of every project), read and used by
every member of a project of the org.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from nfhub_compute.backends.factory import BackendNotBuilt
from nfhub_compute.backends.pool import BackendPool
from nfhub_compute.compute_envs.config_text import config_problems
from nfhub_compute.compute_envs.errors import (
    ComputeEnvConflict,
    ComputeEnvNameTaken,
    ComputeEnvNotFound,
    ComputeEnvUnusable,
    InvalidComputeEnv,
)
from nfhub_compute.compute_envs.repository import ComputeEnvRepository
from nfhub_compute.compute_envs.schemas import (
    BACKEND_OPTIONS,
    ComputeBackend,
    ComputeEnvCreate,
    ComputeEnvStatus,
    ComputeEnvUpdate,
)
from nfhub_compute.models import ComputeEnv
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import FieldProblem

# Fields an update may not set to null.
REQUIRED_ON_UPDATE = (
    "name", "work_dir", "launch_dir", "env_vars", "backend_options", "max_active_runs", "status",
)  # fmt: skip
# A change to any of these can make a valid environment fail: it is no longer "validated".
DEFINITION = ("work_dir", "launch_dir", "nextflow_config", "env_vars", "backend_options")


def checked_options(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """The backend's options, checked against its schema; 422 naming each bad option."""
    model = BACKEND_OPTIONS[ComputeBackend(backend)]
    try:
        parsed = model.model_validate(options)
    except ValidationError as exc:
        errors = [
            FieldProblem(
                ".".join(["backend_options", *(str(part) for part in error["loc"])]),
                error["msg"].removeprefix("Value error, "),
                error["type"],
            )
            for error in exc.errors()
        ]
        raise InvalidComputeEnv(
            f"Some backend_options are not valid for the {backend} backend.", errors=errors
        ) from exc
    return parsed.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class ComputeEnvService:
    def __init__(
        self,
        session: AsyncSession,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        backends: BackendPool | None = None,
    ) -> None:
        self.session = session
        self.audit = audit
        self.access = access
        self.backends = backends
        self.envs = ComputeEnvRepository(session)

    # -- reading -----------------------------------------------------------------------------

    async def get(self, env_id: uuid.UUID, *, for_update: bool = False) -> ComputeEnv:
        env = await self.envs.get_in_org(self.access.org_id, env_id, for_update=for_update)
        if env is None:
            raise ComputeEnvNotFound(f"No compute environment {env_id} in this org.")
        return env

    async def list_envs(self, *, limit: int, offset: int) -> tuple[Sequence[ComputeEnv], int]:
        return await self.envs.list_in_org(self.access.org_id, limit=limit, offset=offset)

    async def for_launch(self, env_id: uuid.UUID | None) -> ComputeEnv | None:
        """The environment a new run goes to: the one named, else the org's primary, else
        None (the worker's own backend: an org that never made an environment). 422 for an
        unknown id, 409 when the environment is DISABLED or INVALID.

        The row stays share-locked until the launch commits: a delete waits for it and then
        sees the new run (409), instead of leaving the run without its environment."""
        if env_id is not None:
            env = await self.envs.get_in_org(self.access.org_id, env_id, for_share=True)
            if env is None:
                detail = f"No compute environment {env_id} in this org."
                raise InvalidComputeEnv(detail, errors=[FieldProblem("compute_env_id", detail)])
        else:
            env = await self.envs.primary(self.access.org_id, for_share=True)
            if env is None:
                return None
        if env.status != ComputeEnvStatus.AVAILABLE:
            why = f": {env.status_reason}" if env.status_reason else ""
            raise ComputeEnvUnusable(
                f"Compute environment {env.name!r} is {env.status}{why}. An org admin can "
                f"fix and validate it (POST /compute-envs/{env.id}/validate), or launch in "
                f"another environment (compute_env_id)."
            )
        return env

    # -- writing -----------------------------------------------------------------------------

    async def create(self, env_create: ComputeEnvCreate) -> ComputeEnv:
        await self._name_free(env_create.name)
        values = env_create.model_dump(exclude={"is_primary"})
        values["backend_options"] = checked_options(env_create.backend, values["backend_options"])
        env = ComputeEnv(
            org_id=self.access.org_id,
            **values,
            status=ComputeEnvStatus.AVAILABLE.value,
            is_primary=False,
            created_by=self.access.principal.subject,
        )
        await self.envs.add(env)
        if env_create.is_primary:
            await self._make_primary(env)
        await self._record("compute_env.create", env, {"name": env.name, "backend": env.backend})
        return env

    async def update(self, env_id: uuid.UUID, env_update: ComputeEnvUpdate) -> ComputeEnv:
        env = await self.get(env_id, for_update=True)
        values = env_update.model_dump(exclude_unset=True)
        nulls = [name for name in REQUIRED_ON_UPDATE if name in values and values[name] is None]
        if nulls:
            raise InvalidComputeEnv(
                "These fields cannot be removed; leave them out to keep them.",
                errors=[FieldProblem(name, "may not be null") for name in nulls],
            )
        if "name" in values and values["name"] != env.name:
            await self._name_free(values["name"])
        if "backend_options" in values:
            values["backend_options"] = checked_options(env.backend, values["backend_options"])
        status = values.pop("status", None)
        if status == ComputeEnvStatus.DISABLED:
            values.update(status=status, status_reason="Disabled by an org admin.")
        elif status == ComputeEnvStatus.AVAILABLE and env.status == ComputeEnvStatus.DISABLED:
            values.update(status=status, status_reason=None)
        elif status == ComputeEnvStatus.AVAILABLE and env.status == ComputeEnvStatus.INVALID:
            raise ComputeEnvConflict(
                f"Compute environment {env.name!r} is INVALID ({env.status_reason}); it becomes "
                f"AVAILABLE by passing POST /compute-envs/{env.id}/validate."
            )
        if any(name in values for name in DEFINITION):
            values["validated_at"] = None
        await self.envs.update(env, values)
        await self._record(
            "compute_env.update", env, {"fields": sorted(env_update.model_fields_set)}
        )
        return env

    async def delete(self, env_id: uuid.UUID) -> None:
        env = await self.get(env_id, for_update=True)
        live = await self.envs.count_live_runs(env.id)
        if live:
            raise ComputeEnvConflict(
                f"Compute environment {env.name!r} has {live} queued or live run(s); cancel "
                f"them or wait for them to end, or disable it (PATCH status DISABLED)."
            )
        await self._record("compute_env.delete", env, {"name": env.name})
        await self.envs.delete(env)

    async def make_primary(self, env_id: uuid.UUID) -> ComputeEnv:
        env = await self.get(env_id, for_update=True)
        if env.status != ComputeEnvStatus.AVAILABLE:
            raise ComputeEnvConflict(
                f"Compute environment {env.name!r} is {env.status}; only an AVAILABLE "
                f"environment can be the org's primary."
            )
        if not env.is_primary:
            await self._make_primary(env)
            await self._record("compute_env.primary", env, {"name": env.name})
        return env

    async def validate(self, env_id: uuid.UUID) -> ComputeEnv:
        """Check the environment for real and record the outcome: AVAILABLE, or INVALID with
        every problem found. The folders are checked by this process, the API's: on one host
        that is the worker's user too (several hosts: check on the worker's)."""
        env = await self.get(env_id, for_update=True)
        if env.status == ComputeEnvStatus.DISABLED:
            raise ComputeEnvConflict(
                f"Compute environment {env.name!r} is DISABLED; enable it (PATCH status "
                f"AVAILABLE) before validating it."
            )
        problems = [f"nextflow_config: {p}" for p in config_problems(env.nextflow_config or "")]
        assert self.backends is not None  # the endpoints give it
        try:
            problems += await self.backends.of(env).check()
        except BackendNotBuilt as exc:
            problems.append(str(exc))
        now = datetime.now(UTC)
        await self.envs.update(
            env,
            {
                "status": (
                    ComputeEnvStatus.INVALID if problems else ComputeEnvStatus.AVAILABLE
                ).value,
                "status_reason": " ".join(problems) if problems else None,
                "validated_at": now,
            },
        )
        await self._record("compute_env.validate", env, {"problems": problems})
        return env

    # -- helpers -----------------------------------------------------------------------------

    async def _name_free(self, name: str) -> None:
        if await self.envs.get_by_name(self.access.org_id, name) is not None:
            raise ComputeEnvNameTaken(
                f"The org already has a compute environment named {name!r}; choose another name.",
                errors=[FieldProblem("name", "taken in this org")],
            )

    async def _make_primary(self, env: ComputeEnv) -> None:
        await self.envs.clear_primary(self.access.org_id)
        await self.envs.update(env, {"is_primary": True})

    async def _record(self, action: str, env: ComputeEnv, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "compute_env", env.id, details
        )
