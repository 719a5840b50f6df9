"""deploy/entrypoint.sh and deploy/tasks.py do what the containers need, run for real.

The entrypoint runs with recording stand-ins for python and uvicorn; tasks.py runs as the
one-shot containers run it, against moto's S3 server and a local HTTP server.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import runpy
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto.server import ThreadedMotoServer

from support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "deploy" / "tasks.py"
SERVICES = ("admin", "compute", "files", "miner", "web")
USAGE_EXIT = 64


def run_task(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """tasks.py as a one-shot container runs it: only the variables compose gives it."""
    return subprocess.run(
        [sys.executable, str(TASKS), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@functools.cache
def devstack_ports() -> dict[str, int]:
    """Where `make run` serves each service by default (scripts/nfhub_devstack SERVICES): the
    same ports. NFHUB_BASE_PORT, which moves make run's ports, is left out while it loads."""
    name = "nfhub_devstack_for_deploy_tests"
    spec = importlib.util.spec_from_file_location(
        name, REPO / "scripts" / "nfhub_devstack" / "services.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up while being defined
    moved = os.environ.pop("NFHUB_BASE_PORT", None)
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
        if moved is not None:
            os.environ["NFHUB_BASE_PORT"] = moved
    return {s.name: s.port for s in module.SERVICES if s.port is not None}


class TestEntrypoint:
    @pytest.mark.parametrize("service", SERVICES)
    def test_a_service_migrates_its_schema_then_serves_behind_the_gateway(
        self, service: str, run_entrypoint: Callable[..., Any]
    ) -> None:
        run = run_entrypoint(service)
        assert run.returncode == 0, run.stderr
        port = str(devstack_ports()[service])
        assert run.calls == [
            ["python", "-m", f"nfhub_{service}.migrate"],
            ["uvicorn", f"nfhub_{service}.main:create_app", "--factory",
             "--host", "0.0.0.0", "--port", port, "--proxy-headers"],  # noqa: S104
        ]  # fmt: skip

    def test_a_failed_migration_serves_nothing(self, run_entrypoint: Callable[..., Any]) -> None:
        run = run_entrypoint("admin", exit_code=3)
        assert run.returncode == 3
        assert run.calls == [["python", "-m", "nfhub_admin.migrate"]]

    def test_worker_and_migrate_run_their_module(self, run_entrypoint: Callable[..., Any]) -> None:
        assert run_entrypoint("worker").calls == [["python", "-m", "nfhub_compute.worker"]]
        for service in SERVICES:
            run = run_entrypoint("migrate", service)
            assert run.calls == [["python", "-m", f"nfhub_{service}.migrate"]]

    @pytest.mark.parametrize(
        "args", [(), ("gui",), ("migrate",), ("migrate", "worker"), ("probe",), ("--help",)]
    )
    def test_anything_else_is_a_usage_error(
        self, args: tuple[str, ...], run_entrypoint: Callable[..., Any]
    ) -> None:
        run = run_entrypoint(*args)
        assert run.returncode == USAGE_EXIT
        assert run.calls == []
        assert "usage: nfhub-entrypoint ROLE" in run.stderr

    def test_entrypoint_is_executable_in_the_repository(self) -> None:
        mode = (REPO / "deploy" / "entrypoint.sh").stat().st_mode
        assert mode & stat.S_IXUSR, "git keeps the bit; the Dockerfile also sets it"


class ReadyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class TestProbe:
    def test_ready_is_healthy(self, http_server: str) -> None:
        assert run_task("probe", f"{http_server}/readyz", env={}).returncode == 0

    def test_not_ready_is_unhealthy(self, http_server: str) -> None:
        result = run_task("probe", f"{http_server}/elsewhere", env={})
        assert result.returncode == 1
        assert "answered 503" in result.stderr

    def test_nothing_listening_is_unhealthy(self) -> None:
        result = run_task("probe", f"http://127.0.0.1:{free_port()}/readyz", env={})
        assert result.returncode == 1

    def test_a_proxy_in_the_environment_is_not_used(self, http_server: str) -> None:
        proxy = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
        assert run_task("probe", f"{http_server}/readyz", env=proxy).returncode == 0


class TestJwtKey:
    def test_writes_an_ed25519_key_once_readable_by_its_owner_only(self, tmp_path: Path) -> None:
        key = tmp_path / "keys" / "jwt-ed25519.pem"
        env = {"ADMIN_JWT_PRIVATE_KEY_FILE": str(key)}
        assert run_task("jwt-key", env=env).returncode == 0
        first = key.read_bytes()
        loaded = serialization.load_pem_private_key(first, password=None)
        assert isinstance(loaded, Ed25519PrivateKey)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        again = run_task("jwt-key", env=env)
        assert again.returncode == 0 and "keeping it" in again.stderr
        assert key.read_bytes() == first, "a restart must not change admin's signing key"
        assert [p.name for p in key.parent.iterdir()] == [key.name], "no temporary left behind"

    def test_admin_accepts_the_key(self, tmp_path: Path) -> None:
        from nfhub_admin.config import Settings
        from nfhub_admin.keys import SigningKeys

        key = tmp_path / "jwt.pem"
        assert run_task("jwt-key", env={"ADMIN_JWT_PRIVATE_KEY_FILE": str(key)}).returncode == 0
        settings = Settings(_env_file=None, ENVIRONMENT="test", JWT_PRIVATE_KEY_FILE=key)
        assert SigningKeys.from_settings(settings).jwks()["keys"][0]["crv"] == "Ed25519"

    def test_without_a_path_it_says_so(self) -> None:
        result = run_task("jwt-key", env={})
        assert result.returncode == 2
        assert "ADMIN_JWT_PRIVATE_KEY_FILE" in result.stderr


class TestCreateBucket:
    @pytest.fixture
    def moto(self) -> Iterator[str]:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()

    def bucket_env(
        self, compose: Any, compose_variables: dict[str, str], endpoint: str
    ) -> dict[str, str]:
        """create-bucket's environment from docker-compose.yml, the store moved to moto."""
        env = compose.resolved_environment("create-bucket", compose_variables)
        return {**env, "FILES_S3_ENDPOINT_URL": endpoint}

    def test_creates_the_compose_bucket_once(
        self, moto: str, compose: Any, compose_variables: dict[str, str]
    ) -> None:
        env = self.bucket_env(compose, compose_variables, moto)
        created = run_task("create-bucket", env=env)
        assert created.returncode == 0, created.stderr
        assert "created" in created.stderr
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=moto,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(s3={"addressing_style": "path"}),
        )
        names = [b["Name"] for b in client.list_buckets()["Buckets"]]
        assert env["FILES_S3_BUCKET"] in names
        again = run_task("create-bucket", env=env)
        assert again.returncode == 0 and "exists" in again.stderr
        # The web app's origin may PUT presigned URLs from the browser and read parts' ETags.
        (rule,) = client.get_bucket_cors(Bucket=env["FILES_S3_BUCKET"])["CORSRules"]
        assert rule["AllowedOrigins"] == ["https://web.localhost"]
        assert "PUT" in rule["AllowedMethods"]
        assert rule["ExposeHeaders"] == ["ETag"]

    def test_an_unreachable_store_fails_the_step(
        self,
        compose: Any,
        compose_variables: dict[str, str],
        isolated_environ: Callable[[Mapping[str, str]], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        env = self.bucket_env(compose, compose_variables, f"http://127.0.0.1:{free_port()}")
        isolated_environ({**env, "FILES_S3_CONNECT_TIMEOUT_SECONDS": "0.2"})
        tasks = runpy.run_path(str(TASKS), run_name="nfhub_deploy_tasks")
        assert tasks["create_bucket"](wait_seconds=0) == 1
        assert "S3 is not reachable" in capsys.readouterr().err
