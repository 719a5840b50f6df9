"""What the benchmarks share: a throw-away database, services under uvicorn, a load generator."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nfhub_admin.auth.service import issue_access_token
from nfhub_admin.config import Settings as AdminSettings
from nfhub_admin.keys import SigningKeys
from nfhub_admin.migrate import migrate as migrate_admin
from nfhub_admin.models import (
    Org,
    OrgMembership,
    PersonalAccessToken,
    Project,
    ProjectMembership,
    User,
)
from nfhub_shared.auth.scopes import ALL_SCOPES
from nfhub_shared.auth.tokens import PAT_PREFIX, hash_token, new_opaque_token
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.testing.database import create_database, drop_database, postgres_server

REPO = Path(__file__).resolve().parent.parent
Item = TypeVar("Item")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PeakRss:
    """Samples a process's RSS every 20 ms while active."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.baseline = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


@dataclass
class Stack:
    workdir: Path
    database_url: str
    env: dict[str, str]
    admin_url: str
    project_id: str
    token: str
    processes: list[subprocess.Popen[bytes]]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Project-ID": self.project_id}

    def spawn(
        self, name: str, command: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A process of the stack, its output in ``<workdir>/<name>.log``, stopped with it."""
        process = subprocess.Popen(
            command,
            env={**self.env, **(extra_env or {})},
            stdout=self.log(name).open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(
        self, name: str, target: str, port: int, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """An ASGI app under uvicorn on the servers' cores, once it answers /healthz."""
        command = [
            sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
            "--app-dir", str(REPO / "bench"),
        ]  # fmt: skip
        process = self.spawn(name, command, extra_env)
        pin_server(process.pid)
        wait_ready(f"http://127.0.0.1:{port}/healthz", process, self.log(name))
        return process

    def start_process(
        self, name: str, arguments: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A background process of the stack (a worker): ``python <arguments>``."""
        return self.spawn(name, [sys.executable, *arguments], extra_env)


def rotated(items: Sequence[Item], turn: int) -> list[Item]:
    """``items`` from the ``turn``-th on, wrapping round (two swap places every turn): run back
    to back in this order, round after round, no item always finds the machine as the one
    before it left it, nor always goes first."""
    start = turn % len(items)
    return [*items[start:], *items[:start]]


def split_cores() -> tuple[set[int], set[int]]:
    """(cores for the servers, cores for the load generator): apart, when there are two or more.

    Sharing a core, the load generator and the server under test take turns at the scheduler's
    whim, and requests/s swings with it; on separate cores each runs on its own.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set(cores)
    return set(cores[:-1]), {cores[-1]}


SERVER_CORES, LOAD_GENERATOR_CORES = split_cores()


def pin_server(pid: int) -> None:
    os.sched_setaffinity(pid, SERVER_CORES)


def pin_load_generator() -> None:
    """This process (and what it starts from now on) onto the load generator's cores."""
    os.sched_setaffinity(0, LOAD_GENERATOR_CORES)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} died:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in 60 s:\n{log.read_text()[-2000:]}")


async def _seed(
    settings: AdminSettings, keys: SigningKeys, *, personal_token: bool
) -> tuple[str, str]:
    """The bench user, an editor of project bench; (project id, its bearer token): an access
    token (at most ACCESS_TOKEN_TTL_SECONDS, 15 min), or with ``personal_token`` a personal
    access token that never expires, for benchmarks that run longer than that."""
    engine = create_engine(settings)
    scopes = sorted(ALL_SCOPES)
    secret = new_opaque_token(PAT_PREFIX)
    async with create_sessionmaker(engine)() as session, session.begin():
        user = User(username="bench", display_name="Bench")
        org = Org(slug="bench", name="Bench")
        session.add_all([user, org])
        await session.flush()
        project = Project(org_id=org.id, slug="bench", name="Bench")
        session.add(project)
        await session.flush()
        session.add(OrgMembership(org_id=org.id, user_id=user.id, role="member"))
        session.add(ProjectMembership(project_id=project.id, user_id=user.id, role="editor"))
        if personal_token:
            session.add(
                PersonalAccessToken(
                    user_id=user.id, name="bench", token_hash=hash_token(secret),
                    token_hint=secret[: len(PAT_PREFIX) + 4], scopes=scopes, expires_at=None,
                )
            )  # fmt: skip
    await engine.dispose()
    if personal_token:
        return str(project.id), secret
    return str(project.id), issue_access_token(keys, settings, user, " ".join(scopes))


@contextmanager
def stack(
    migrations: list[object] | None = None, *, personal_token: bool = False
) -> Iterator[Stack]:
    """A throw-away folder (``Stack.workdir``), a database (embedded unless
    TEST_DATABASE_URL), admin under uvicorn, a seeded editor; its ``Stack.token`` an access
    token that expires in 15 minutes, or with ``personal_token`` a personal access token
    that does not (services resolve it through admin and cache it, as they do a JWT)."""
    with (
        tempfile.TemporaryDirectory(prefix="nfhub-bench-") as tmp,
        postgres_server() as server,
    ):
        workdir = Path(tmp)
        database_url = create_database(server)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            migrate_admin(database_url)
            for migrate in migrations or []:
                migrate(database_url)  # type: ignore[operator]
            key_path = workdir / "jwt.pem"
            key_path.write_bytes(
                Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            admin_port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "ENVIRONMENT": "dev",
                "SERVICE_SECRET": secrets.token_urlsafe(48),
                "ADMIN_URL": f"http://127.0.0.1:{admin_port}",
                "ADMIN_JWT_PRIVATE_KEY_FILE": str(key_path),
                "RATE_LIMIT_READ": "100000000",
                "RATE_LIMIT_WRITE": "100000000",
                "LOG_LEVEL": "WARNING",
            }
            settings = AdminSettings(
                _env_file=None,
                DATABASE_URL=database_url,
                SERVICE_SECRET=env["SERVICE_SECRET"],
                JWT_PRIVATE_KEY_FILE=key_path,
            )
            project_id, token = asyncio.run(
                _seed(settings, SigningKeys.from_settings(settings), personal_token=personal_token)
            )
            env["BENCH_PROJECT_ID"] = project_id
            running = Stack(
                workdir, database_url, env, env["ADMIN_URL"], project_id, token, processes
            )
            running.start("admin", "nfhub_admin.main:create_app", admin_port)
            yield running
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)
            drop_database(database_url)


async def insert_pipeline(
    connection: Any,
    org_id: uuid.UUID,
    *,
    slug: str,
    name: str,
    version: str,
    source_url: str,
    revision: str,
    input_schema: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A pipeline of ``org_id`` and one version of it, inserted on an asyncpg ``connection``
    (the benches seed in SQL what they do not measure); (pipeline id, version id)."""
    pipeline_id, version_id = uuid.uuid4(), uuid.uuid4()
    await connection.execute(
        "INSERT INTO compute.pipelines (id, org_id, slug, name, visibility, from_catalog) "
        "VALUES ($1, $2, $3, $4, 'org', false)",
        pipeline_id, org_id, slug, name,
    )  # fmt: skip
    await connection.execute(
        "INSERT INTO compute.pipeline_versions (id, pipeline_id, version, source_kind, "
        "source_url, revision, input_schema, default_params, profiles) "
        "VALUES ($1, $2, $3, 'git', $4, $5, $6, '{}', '{}')",
        version_id, pipeline_id, version, source_url, revision, input_schema,
    )  # fmt: skip
    return pipeline_id, version_id


async def insert_run(
    connection: Any,
    project_id: uuid.UUID,
    org_id: uuid.UUID,
    pipeline_id: uuid.UUID,
    version_id: uuid.UUID,
    *,
    slug: str,
    state: str,
) -> uuid.UUID:
    """A run of that pipeline version in ``state`` (the no-op backend, version "1"), inserted
    on an asyncpg ``connection``; its id."""
    run_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO compute.runs (id, project_id, org_id, pipeline_id, pipeline_version_id, "
        "pipeline_slug, pipeline_version, name, nextflow_name, state, params, profiles, labels, "
        "storage_uri, outdir_uri, resume, backend, workflow, created_by) VALUES ($1, $2, $3, "
        "$4, $5, $6, '1', 'bench', $7, $8, '{}', '{}', '{}', 'file:///x/', 'file:///x/runs/', "
        "false, 'noop', '{}', 'bench')",
        run_id, project_id, org_id, pipeline_id, version_id, slug, f"nfhub-{run_id.hex}", state,
    )  # fmt: skip
    return run_id


async def hammer(
    port: int,
    request: bytes | Sequence[bytes],
    seconds: float,
    connections: int,
    *,
    expect: bytes = b"200",
) -> float:
    """Requests/s over ``connections`` keep-alive HTTP/1.1 connections for ``seconds``.

    ``request`` may be a sequence: the connections take its requests in turn, each once
    (for writes that must differ, such as events of distinct tasks).
    """
    deadline = time.perf_counter() + seconds
    counts = [0] * connections
    requests = [request] if isinstance(request, bytes) else list(request)
    repeat = isinstance(request, bytes)
    turn = iter(range(len(requests) if not repeat else 2**62))

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                number = next(turn, None)
                if number is None:
                    return
                writer.write(requests[0] if repeat else requests[number])
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                if status != expect:
                    raise RuntimeError(f"unexpected status {status!r}: {head[:200]!r}")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                counts[index] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return sum(counts) / (time.perf_counter() - started)


def measure(
    process: subprocess.Popen[bytes], port: int, request: bytes, seconds: float, connections: int
) -> tuple[float, float]:
    """Requests/s, and the server's CPU time per request in µs (user + system).

    The load generator shares the machine's cores with the server, so requests/s moves with
    whatever else runs; the server's own CPU time per request is the steadier figure.
    """
    server = psutil.Process(process.pid)
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    rate = asyncio.run(hammer(port, request, seconds, connections))
    elapsed = time.perf_counter() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    return rate, cpu / (rate * elapsed) * 1e6


def request_bytes(
    path: str, headers: dict[str, str], *, method: str = "GET", body: bytes | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
