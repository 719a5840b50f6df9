"""What runs: each process of the stack, its port and its environment."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nfhub_shared.devtls import DevTls

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# admin's port; compute, files, miner and web take the next four (NFHUB_BASE_PORT moves them
# all, e.g. to run a second stack beside this one).
BASE_PORT = int(os.environ.get("NFHUB_BASE_PORT", "8001"))


@dataclass(frozen=True)
class Service:
    """One process of the stack.

    ``port`` set: an HTTP service run as ``uvicorn <package>.main:create_app --factory`` (through
    nfhub_shared.serve, which imports the app with the collector paused), migrated
    with ``python -m <package>.migrate`` first (when that module exists) and awaited on ``/readyz``.
    ``port`` None: a background process run as ``python -m <module>``.
    ``env`` values may use ``{state}``, ``{storage}`` and ``{logs}``.
    """

    name: str
    package: str
    port: int | None = None
    module: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    docs: bool = True

    def url(self, scheme: str) -> str | None:
        return f"{scheme}://{HOST}:{self.port}" if self.port is not None else None

    @property
    def entry_module(self) -> str:
        return self.module or (f"{self.package}.main" if self.port is not None else self.package)

    def available(self) -> bool:
        return module_exists(self.package) and module_exists(self.entry_module)

    def has_migrations(self) -> bool:
        return self.port is not None and module_exists(f"{self.package}.migrate")

    def command(self, tls: DevTls | None) -> list[str]:
        if self.port is None:
            return [sys.executable, "-m", self.entry_module]
        command = [
            sys.executable, "-m", "nfhub_shared.serve", f"{self.package}.main:create_app",
            "--factory",
            "--host", HOST, "--port", str(self.port),
            # Nothing proxies the devstack: every caller is local, and uvicorn's default
            # (trust X-Forwarded-For from 127.0.0.1) would let any of them pick the address
            # the rate limits count unauthenticated calls by.
            "--no-proxy-headers",
        ]  # fmt: skip
        if tls is not None:
            command += ["--ssl-certfile", str(tls.server_cert)]
            command += ["--ssl-keyfile", str(tls.server_key)]
        return command


# compute and its worker: the shipped catalog (the demo pipeline), runs under the state folder.
COMPUTE_ENV = {
    "COMPUTE_CATALOG_FILE": str(REPO_ROOT / "pipelines" / "catalog.yaml"),
    "COMPUTE_PIPELINE_ROOTS": json.dumps([str(REPO_ROOT / "pipelines")]),
    "COMPUTE_WORK_ROOT": "{state}/compute",
}
SERVICES: tuple[Service, ...] = (
    Service("admin", "nfhub_admin", port=BASE_PORT, env={"ADMIN_STORAGE_LOCAL_ROOT": "{storage}"}),
    Service("compute", "nfhub_compute", port=BASE_PORT + 1, env=COMPUTE_ENV),
    Service("files", "nfhub_files", port=BASE_PORT + 2, env={"FILES_LOCAL_ROOT": "{storage}"}),
    Service("miner", "nfhub_miner", port=BASE_PORT + 3),
    # The browser app; it publishes no API, so no /docs.
    Service("web", "nfhub_web", port=BASE_PORT + 4, docs=False),
    Service("worker", "nfhub_compute", module="nfhub_compute.worker", env=COMPUTE_ENV),
)
SEED_MODULE = "nfhub_admin.seed"


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of returning None
        return False
