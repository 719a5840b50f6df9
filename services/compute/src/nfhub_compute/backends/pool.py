"""One backend per compute environment, kept while the environment is unchanged."""

from __future__ import annotations

import uuid
from datetime import datetime

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.backends.factory import backend_for
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeEnv


class BackendPool:
    """The worker's own backend for runs without an environment, and one per environment,
    keyed by its id and ``updated_at``: an edited environment gets a new backend."""

    def __init__(self, settings: Settings, default: JobBackend) -> None:
        self.settings = settings
        self.default = default
        self._by_env: dict[uuid.UUID, tuple[datetime, JobBackend]] = {}
        self._retired: list[JobBackend] = []

    def of(self, env: ComputeEnv | None) -> JobBackend:
        """The backend of ``env`` (the default one for None); BackendNotBuilt when its backend
        is not in this build."""
        if env is None:
            return self.default
        cached = self._by_env.get(env.id)
        if cached is not None and cached[0] == env.updated_at:
            return cached[1]
        backend = backend_for(self.settings, env)
        if cached is not None:
            self._retired.append(cached[1])  # its launchers are reaped at close
        self._by_env[env.id] = (env.updated_at, backend)
        return backend

    def current(self) -> list[JobBackend]:
        return [self.default, *(backend for _, backend in self._by_env.values())]

    async def close(self) -> None:
        for backend in [*self.current(), *self._retired]:
            await backend.close()
        self._by_env.clear()
        self._retired.clear()
