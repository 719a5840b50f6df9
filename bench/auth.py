"""Throughput of an authenticated nfhub endpoint against a bare FastAPI one, in one run.

    uv run python bench/auth.py [--seconds 5] [--connections 32]

Starts an embedded PostgreSQL (or uses TEST_DATABASE_URL), migrates admin, seeds a user in a
project, then runs three servers under uvicorn (one worker each): admin, a bare FastAPI app and
the same endpoint behind the shared library's auth (JWT verified locally, role from the cache).
A small keep-alive HTTP/1.1 load generator (asyncio streams, far cheaper than the servers)
measures requests/s of each in alternating rounds; the median round counts. Prints the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nfhub_admin.auth.service import issue_access_token
from nfhub_admin.config import Settings as AdminSettings
from nfhub_admin.keys import SigningKeys
from nfhub_admin.migrate import migrate
from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership, User
from nfhub_shared.auth.scopes import ALL_SCOPES
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.testing.database import create_database, drop_database, postgres_server

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.70


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(settings: AdminSettings, keys: SigningKeys) -> tuple[str, str]:
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as session, session.begin():
        user = User(username="bench", display_name="Bench")
        org = Org(slug="bench", name="Bench")
        session.add_all([user, org])
        await session.flush()
        project = Project(org_id=org.id, slug="bench", name="Bench")
        session.add(project)
        await session.flush()
        session.add(OrgMembership(org_id=org.id, user_id=user.id, role="member"))
        session.add(ProjectMembership(project_id=project.id, user_id=user.id, role="viewer"))
    await engine.dispose()
    token = issue_access_token(keys, settings, user, " ".join(sorted(ALL_SCOPES)))
    return str(project.id), token


def start(target: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
        "--app-dir", str(REPO / "bench"),
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} died:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready in 30 s:\n{log.read_text()[-2000:]}")


async def hammer(port: int, request: bytes, seconds: float, connections: int) -> float:
    """Requests/s over ``connections`` keep-alive connections for ``seconds``."""
    deadline = time.perf_counter() + seconds
    counts = [0] * connections

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                if status != b"200":
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


def request_bytes(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nfhub-bench-") as tmp, postgres_server() as server:
        workdir = Path(tmp)
        database_url = create_database(server)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            migrate(database_url)
            key_pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            (workdir / "jwt.pem").write_bytes(key_pem)
            admin_port, bare_port, guarded_port = free_port(), free_port(), free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "ENVIRONMENT": "dev",
                "SERVICE_SECRET": secrets.token_urlsafe(48),
                "ADMIN_URL": f"http://127.0.0.1:{admin_port}",
                "ADMIN_JWT_PRIVATE_KEY_FILE": str(workdir / "jwt.pem"),
                "RATE_LIMIT_READ": "100000000",
                "LOG_LEVEL": "WARNING",
            }
            admin_settings = AdminSettings(_env_file=None, **_settings_from(env))
            keys = SigningKeys.from_settings(admin_settings)
            project_id, token = asyncio.run(seed(admin_settings, keys))
            env["BENCH_PROJECT_ID"] = project_id

            servers = {
                "admin": ("nfhub_admin.main:create_app", admin_port),
                "bare": ("apps:bare_app", bare_port),
                "guarded": ("apps:guarded_app", guarded_port),
            }
            for name, (target, port) in servers.items():
                log = workdir / f"{name}.log"
                process = start(target, port, env, log)
                processes.append(process)
                wait_ready(f"http://127.0.0.1:{port}/healthz", process, log)

            auth = {"Authorization": f"Bearer {token}", "X-Project-ID": project_id}
            cases = {
                "bare FastAPI": (bare_port, request_bytes("/api/v1/whoami", {})),
                "nfhub stack, no auth": (guarded_port, request_bytes("/api/v1/anonymous", {})),
                "nfhub auth (JWT + cached role)": (
                    guarded_port,
                    request_bytes("/api/v1/whoami", auth),
                ),
                "admin GET /users/me (JWT + DB read)": (
                    admin_port,
                    request_bytes("/api/v1/users/me", auth),
                ),
            }
            results: dict[str, list[float]] = {name: [] for name in cases}
            for port, request in cases.values():  # warm-up: fill the caches first
                asyncio.run(hammer(port, request, 1.0, args.connections))
            for _ in range(args.rounds):
                for name, (port, request) in cases.items():
                    results[name].append(
                        asyncio.run(hammer(port, request, args.seconds, args.connections))
                    )
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)
            drop_database(database_url)

    medians = {name: statistics.median(values) for name, values in results.items()}
    bare = medians["bare FastAPI"]
    print(f"{args.rounds} rounds x {args.seconds:.0f} s, {args.connections} connections, median")
    for name, value in medians.items():
        print(f"  {name:<40} {value:9.0f} req/s   ratio {value / bare:5.2f}")
    authenticated = medians["nfhub auth (JWT + cached role)"]
    ratio = authenticated / bare
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"authenticated / bare FastAPI = {ratio:.2f} ({verdict} the {TARGET_RATIO:.0%} target)")
    stack_ratio = authenticated / medians["nfhub stack, no auth"]
    print(f"authenticated / same stack without auth = {stack_ratio:.2f} (the cost of auth alone)")


def _settings_from(env: dict[str, str]) -> dict[str, str]:
    return {key: env[key] for key in ("DATABASE_URL", "SERVICE_SECRET", "ADMIN_URL")} | {
        "JWT_PRIVATE_KEY_FILE": env["ADMIN_JWT_PRIVATE_KEY_FILE"]
    }


if __name__ == "__main__":
    main()
