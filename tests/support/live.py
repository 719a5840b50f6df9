"""A real nfhub stack for end-to-end tests: each service a uvicorn process on its own port,
real HTTP between them, a committed database, workers started and killed by the test.

Only the ``nextflow`` executable is a stand-in (tests/fakes/nextflow), found on the workers'
PATH as production finds the real one. admin hashes passwords with the cheapest argon2id
parameters, as in the in-process tests (support/serve.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nfhub_shared.devtls import DevTls
from support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "fakes"
SERVE = Path(__file__).with_name("serve.py")
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
PASSWORD = "live-stack-password-1"
# The states a run does not leave.
ENDED = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})


def wait_until(
    check: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; its last value otherwise fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        time.sleep(interval)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return int(self.popen.returncode)


@dataclass
class LiveStack:
    root: Path
    database_url: str
    env: dict[str, str]
    urls: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    token: str = ""
    org_id: str = ""
    project_id: str = ""
    tls: DevTls | None = None
    # Whose ``token`` it is: the first user, or a tenant's own (``tenant``).
    username: str = "live"
    password: str = PASSWORD

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What httpx clients of this stack verify its certificates with."""
        if self.tls is None:
            return True
        return ssl.create_default_context(cafile=str(self.tls.ca_cert))

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def work_root(self) -> Path:
        return self.root / "compute"

    @property
    def invocations(self) -> Path:
        """One JSON line per `nextflow` started by any worker of this stack."""
        return self.root / "nextflow-invocations.jsonl"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Project-ID": self.project_id}

    def client(self, service: str) -> httpx.Client:
        return httpx.Client(base_url=self.urls[service], timeout=30.0, verify=self.verify)

    def new_token(self, name: str) -> str:
        """Another personal access token of the token's user (for a test that may revoke it)."""
        with self.client("admin") as admin:
            return _create_token(admin, _log_in(admin, self.username, self.password), name)

    def tenant(self, name: str) -> LiveStack:
        """This stack as seen by a user of its own (``name``-…), owner of an organisation of
        its own with one project: what several modules sharing one stack each work in. The
        processes are the stack's (a worker started through it is stopped with the stack)."""
        suffix = secrets.token_hex(4)
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]
        username, password = f"{slug}-{suffix}", secrets.token_urlsafe(16)
        with self.client("admin") as admin:
            bearer = _log_in(admin, self.username, self.password)
            org = admin.post(
                "/api/v1/orgs", json={"slug": f"{slug}-{suffix}", "name": name}, headers=bearer
            )
            assert org.status_code == 201, org.text
            org_id = org.json()["id"]
            user = admin.post(
                "/api/v1/users",
                json={"username": username, "password": password, "org_id": org_id,
                      "org_role": "owner"},
                headers=bearer,
            )  # fmt: skip
            assert user.status_code == 201, user.text
            own = _log_in(admin, username, password)
            project = admin.post(
                "/api/v1/projects",
                json={"org_id": org_id, "slug": slug, "name": name},
                headers=own,
            )
            assert project.status_code == 201, project.text
            token = _create_token(admin, own, name[:100])
        return replace(
            self, token=token, org_id=org_id, project_id=project.json()["id"],
            username=username, password=password,
        )  # fmt: skip

    def cancel_unfinished(self) -> list[str]:
        """Cancel the runs of the project that have not ended (a test that failed midway): a
        worker started later on the stack, for another project, must find no run left over.
        Their ids."""
        with self.client("compute") as compute:
            response = compute.get("/api/v1/runs", params={"limit": 500}, headers=self.headers)
            assert response.status_code == 200, response.text
            left = [run["id"] for run in response.json()["items"] if run["state"] not in ENDED]
            for run_id in left:
                compute.post(f"/api/v1/runs/{run_id}/cancel", headers=self.headers)
        return left

    def _spawn(self, name: str, command: list[str], extra_env: Mapping[str, str]) -> Process:
        # A log per process, even of a name started again (by another test of a shared stack).
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        again = 1
        while log.exists():
            again += 1
            log = log.with_name(f"{name}-{again}.log")
        with log.open("ab") as handle:
            popen = subprocess.Popen(
                command,
                env={**self.env, **extra_env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_service(self, name: str, extra_env: Mapping[str, str] | None = None) -> Process:
        port = int(self.urls[name].rsplit(":", 1)[1])
        # admin through support/serve.py: uvicorn with the tests' cheap password hashing.
        launcher = [str(SERVE)] if name == "admin" else ["-m", "nfhub_shared.serve"]
        command = [
            sys.executable, *launcher, f"nfhub_{name}.main:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ]  # fmt: skip
        if self.tls is not None:
            command += [
                "--ssl-certfile", str(self.tls.server_cert),
                "--ssl-keyfile", str(self.tls.server_key),
            ]  # fmt: skip
        return self._spawn(name, command, extra_env or {})

    def wait_ready(self, process: Process) -> None:
        url = self.urls[process.name] + "/readyz"
        verify = self.verify

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
            try:
                return httpx.get(url, timeout=2, verify=verify).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=READY_TIMEOUT_SECONDS, what=f"{process.name} /readyz")

    def start_worker(self, name: str = "worker", **settings: Any) -> Process:
        """A compute worker; keyword arguments are COMPUTE_* settings (reconcile_interval=…)."""
        extra = {f"COMPUTE_{key.upper()}": str(value) for key, value in settings.items()}
        process = self._spawn(name, [sys.executable, "-m", "nfhub_compute.worker"], extra)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # -- the API, as a user's script would call it -------------------------------------------

    def upload(self, path: str, data: bytes) -> None:
        """The two-step upload: ask files for a signed URL, PUT the bytes to it."""
        with self.client("files") as files:
            ticket = files.post(
                "/api/v1/files/upload-url",
                json={"path": path, "size": len(data)},
                headers=self.headers,
            )
            assert ticket.status_code == 200, ticket.text
            body = ticket.json()
            put = httpx.put(
                body["url"], content=data, headers=body["headers"], timeout=30, verify=self.verify
            )
            assert put.status_code in (200, 201, 204), put.text

    def register_hello(self) -> None:
        """The stand-in's test pipeline (tests/fakes/pipelines/hello), once per stack."""
        self.register_fake("hello", "Hello (test)")

    def register_fake(self, slug: str, name: str) -> None:
        """A test pipeline of tests/fakes/pipelines/<slug>, once per stack."""
        with self.client("compute") as compute:
            if compute.get(f"/api/v1/pipelines/slug/{slug}", headers=self.headers).is_success:
                return
            response = compute.post(
                "/api/v1/pipelines",
                json={
                    "slug": slug,
                    "name": name,
                    "version": {
                        "version": "1.0.0",
                        "source": {"path": str(FAKES / "pipelines" / slug)},
                    },
                },
                headers=self.headers,
            )
            assert response.status_code == 201, response.text

    def run(self, run_id: str) -> dict[str, Any]:
        with self.client("compute") as compute:
            response = compute.get(f"/api/v1/runs/{run_id}", headers=self.headers)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

    def wait_state(self, run_id: str, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.run(run_id))
            return found["state"] in states

        try:
            wait_until(reached, timeout=timeout, interval=0.2, what=f"run in {states}")
        except AssertionError as exc:
            logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in self.processes)
            raise AssertionError(f"{exc}\nlast seen: {found}\n{logs}") from exc
        return found

    def answers_about(self, run_id: str) -> list[str]:
        """Each answer about a run that a viewer of the project can ask for, as text."""
        urls: list[tuple[str, dict[str, Any]]] = [
            (f"/api/v1/runs/{run_id}", {}),
            ("/api/v1/runs", {"limit": 100}),
            (f"/api/v1/runs/{run_id}/log", {"source": "nextflow", "limit": 5000}),
            (f"/api/v1/runs/{run_id}/log", {"source": "console", "limit": 5000}),
            (f"/api/v1/runs/{run_id}/tasks", {"limit": 500}),
            (f"/api/v1/runs/{run_id}/progress", {}),
            (f"/api/v1/runs/{run_id}/outputs", {}),
        ]
        answers = []
        with self.client("compute") as compute:
            for url, params in urls:
                response = compute.get(url, params=params, headers=self.headers)
                assert response.status_code == 200, (url, response.text)
                answers.append(f"{url} {json.dumps(params)}: {response.text}")
        return answers

    def launches(self) -> dict[str, int]:
        """How many times `nextflow` was started for each run name."""
        counts: dict[str, int] = {}
        if not self.invocations.exists():
            return counts
        for line in self.invocations.read_text().splitlines():
            argv = json.loads(line)["argv"]
            name = argv[argv.index("-name") + 1]
            counts[name] = counts.get(name, 0) + 1
        return counts


def _log_in(
    admin: httpx.Client, username: str = "live", password: str = PASSWORD
) -> dict[str, str]:
    """The bearer header of a password login (by default as the stack's first user)."""
    login = admin.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _create_token(admin: httpx.Client, bearer: dict[str, str], name: str) -> str:
    created = admin.post("/api/v1/tokens", json={"name": name}, headers=bearer)
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


def _bootstrap(stack: LiveStack) -> None:
    with stack.client("admin") as admin:
        bearer = _log_in(admin)
        stack.token = _create_token(admin, bearer, "live-tests")
        orgs = admin.get("/api/v1/orgs", headers=bearer).json()["items"]
        stack.org_id = orgs[0]["id"]
        project = admin.post(
            "/api/v1/projects",
            json={"org_id": stack.org_id, "slug": "live", "name": "Live"},
            headers=bearer,
        )
        assert project.status_code == 201, project.text
        stack.project_id = project.json()["id"]


@contextlib.contextmanager
def live_stack(
    root: Path,
    database_url: str,
    services: tuple[str, ...] = ("admin", "files", "compute", "miner"),
    *,
    tls: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[LiveStack]:
    """Start ``services`` on free ports against ``database_url`` (already migrated).

    ``tls``: HTTPS with a development CA of its own, as ``make run`` serves (every process,
    the launched ``nextflow`` too, trusts it through SSL_CERT_FILE).
    """
    dev_tls = DevTls(root / "tls").ensure() if tls else None
    key = root / "jwt-ed25519.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    scheme = "https" if dev_tls is not None else "http"
    urls = {name: f"{scheme}://127.0.0.1:{free_port()}" for name in services}
    storage = root / "storage"
    storage.mkdir()
    kept = ("HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in kept if name in os.environ}
    env.update(
        PATH=f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        ENVIRONMENT="test",
        LOG_JSON="true",
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE="5",
        SERVICE_SECRET=secrets.token_urlsafe(48),
        ADMIN_URL=urls.get("admin", ""),
        FILES_URL=urls.get("files", ""),
        COMPUTE_URL=urls.get("compute", ""),
        MINER_URL=urls.get("miner", ""),
        RATE_LIMIT_ENABLED="false",
        ADMIN_JWT_PRIVATE_KEY_FILE=str(key),
        ADMIN_BOOTSTRAP_USERNAME="live",
        ADMIN_BOOTSTRAP_PASSWORD=PASSWORD,
        ADMIN_STORAGE_LOCAL_ROOT=str(storage),
        FILES_LOCAL_ROOT=str(storage),
        COMPUTE_WORK_ROOT=str(root / "compute"),
        COMPUTE_PIPELINE_ROOTS=json.dumps([str(FAKES / "pipelines"), str(REPO / "pipelines")]),
        COMPUTE_RECONCILE_INTERVAL_SECONDS="0.3",
        COMPUTE_DISPATCH_POLL_SECONDS="0.5",
        COMPUTE_SUBMIT_RECOVERY_SECONDS="3",
        COMPUTE_CANCEL_GRACE_SECONDS="10",
        # What every launched `nextflow` gets on top of the filtered environment.
        COMPUTE_LAUNCH_ENV=json.dumps(
            {"NFHUB_FAKE_NEXTFLOW_INVOCATIONS": str(root / "nextflow-invocations.jsonl")}
        ),
    )
    if "web" in urls:  # as `make run`: admin sends an OIDC login back to web
        env["ADMIN_FRONTEND_URL"] = urls["web"]
    if dev_tls is not None:
        env["SSL_CERT_FILE"] = str(dev_tls.bundle)
    else:
        env["WEB_COOKIE_SECURE"] = "false"  # a browser drops Secure cookies over plain HTTP
    if "web" in urls:
        # The web app's pages upload straight to the files service's signed URLs.
        env["FILES_CORS_ORIGINS"] = json.dumps([urls["web"]])
    env.update(extra_env or {})
    stack = LiveStack(root=root, database_url=database_url, env=env, urls=urls, tls=dev_tls)
    try:
        started = [stack.start_service(name) for name in services]
        for process in started:
            stack.wait_ready(process)
        _bootstrap(stack)
        yield stack
    finally:
        stack.stop_all()
