"""`make run`'s stack (scripts/devstack.py) as a user meets it: every service ready over HTTPS
with the dev CA it prints, one Ctrl-C leaves no process behind, and a second start finds the
data of the first. Its own state folder and ports, so it never meets a `make run` of yours."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from nfhub_cli.demo import fastq
from support.live import REPO, wait_until
from support.ports import free_ports

pytestmark = pytest.mark.timeout(420)
SERVICES = ("admin", "compute", "files", "miner", "web")
START_TIMEOUT = 180.0


def devstack_module(name: str) -> ModuleType:
    """A module of scripts/nfhub_devstack (scripts/ is not a package on the test path)."""
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return importlib.import_module(f"nfhub_devstack.{name}")


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if text in argv or text.encode() in environ:
            found.append(f"{entry.name}: {argv[:200]}")
    return found


class DevStack:
    def __init__(self, state: Path, base_port: int) -> None:
        self.state = state
        self.base_port = base_port
        self.log = state.parent / "devstack.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, object]:
        env = {
            **os.environ,
            "NFHUB_STATE_DIR": str(self.state),
            "NFHUB_BASE_PORT": str(self.base_port),
        }
        for name in ("DATABASE_URL", "NFHUB_HTTP"):
            env.pop(name, None)
        env["PATH"] = f"{REPO / 'tests' / 'fakes'}{os.pathsep}{env.get('PATH', '')}"
        # A fresh log per start: "ready in" must come from this start, not the last one.
        with self.log.open("wb") as handle:
            self.popen = subprocess.Popen(
                [sys.executable, str(REPO / "scripts" / "devstack.py"), "run", "--no-echo"],
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        stack_json = self.state / "stack.json"

        def ready() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise AssertionError(f"devstack exited:\n{self.log.read_text()[-3000:]}")
            return stack_json.exists() and "ready in" in self.log.read_text()

        wait_until(ready, timeout=START_TIMEOUT, interval=0.3, what="make run to be ready")
        data: dict[str, object] = json.loads(stack_json.read_text())
        return data

    def interrupt(self) -> int:
        """What one Ctrl-C in the terminal does: SIGINT to the foreground process group."""
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGINT)
        try:
            return self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            raise

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


@pytest.fixture
def devstack() -> Iterator[DevStack]:
    # Not under tmp_path: run as root, make run's PostgreSQL runs as another user (pgserver),
    # and any pytest session starting meanwhile (another run, on this machine shared by
    # several) sets pytest's temporary root back to 0700, which locks that user out mid-start.
    with tempfile.TemporaryDirectory(prefix="nfhub-make-run-", ignore_cleanup_errors=True) as root:
        stack = DevStack(Path(root) / "state", free_ports(len(SERVICES)))
        try:
            yield stack
        finally:
            stack.kill()
            for line in processes_mentioning(str(stack.state)):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)


@pytest.mark.timeout(720)  # three starts, on a busy machine
def test_https_ready_ctrl_c_leaves_nothing_and_data_survives_a_restart(
    devstack: DevStack,
) -> None:
    first = devstack.start()
    services = first["services"]
    assert isinstance(services, dict)
    ca_file = first["ca_file"]
    assert isinstance(ca_file, str) and Path(ca_file).is_file()
    trust = ssl.create_default_context(cafile=ca_file)
    for name in SERVICES:
        url = services[name]
        assert url.startswith("https://127.0.0.1:"), url
        assert httpx.get(f"{url}/readyz", verify=trust, timeout=5).status_code == 200
        with pytest.raises(httpx.ConnectError):  # not trusted without the dev CA
            httpx.get(f"{url}/readyz", timeout=5)
    seed = first["seed"]
    assert isinstance(seed, dict)
    headers = {"Authorization": f"Bearer {seed['token']}"}
    # The same for shells (the README's examples source it), readable by its owner only.
    stack_env = devstack.state / "stack.env"
    assert stack_env.stat().st_mode & 0o777 == 0o600
    sourced = subprocess.run(
        ["bash", "-c", f'source "{stack_env}" && echo "$ADMIN $TOKEN $P"'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sourced.stdout.split() == [services["admin"], seed["token"], seed["project_id"]]
    created = httpx.post(
        f"{services['admin']}/api/v1/projects",
        json={"org_id": seed["org_id"], "slug": "kept-across-restarts", "name": "Kept"},
        headers=headers, verify=trust, timeout=10,
    )  # fmt: skip
    assert created.status_code == 201, created.text

    assert devstack.interrupt() == 0
    leftovers = processes_mentioning(str(devstack.state))
    assert leftovers == [], "processes left after Ctrl-C:\n" + "\n".join(leftovers)
    assert not (devstack.state / "stack.json").exists()
    assert not stack_env.exists()

    seed_file = devstack.state / "demo-seed.json"
    assert seed_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(seed_file.read_text())["token"] == seed["token"]

    first_log = devstack.log.read_text()
    assert "migrating admin, compute, files, miner, web…" in first_log  # side by side

    second = devstack.start()
    # Every schema is at head already: no migrate process is started at all.
    assert "already migrated to head: admin, compute, files, miner, web" in devstack.log.read_text()
    assert "migrating" not in devstack.log.read_text()
    assert second["ca_file"] == ca_file  # the same CA: trusted once, trusted again
    reseeded = second["seed"]
    assert isinstance(reseeded, dict)
    assert reseeded["project_id"] == seed["project_id"]  # the seed finds its data, not anew
    # The token printed yesterday still works today: kept, not revoked and made anew.
    assert reseeded["token"] == seed["token"]
    assert "demo token kept from the last start" in devstack.log.read_text()
    projects = httpx.get(
        f"{services['admin']}/api/v1/projects", headers=headers, verify=trust, timeout=10
    )
    assert projects.status_code == 200
    assert "kept-across-restarts" in [p["slug"] for p in projects.json()["items"]]
    # Revoked meanwhile: the next start makes a new token and says why.
    tokens = httpx.get(
        f"{services['admin']}/api/v1/tokens", headers=headers, verify=trust, timeout=10
    ).json()["items"]
    demo_token = next(t for t in tokens if t["name"] == "make-run")
    revoked = httpx.delete(
        f"{services['admin']}/api/v1/tokens/{demo_token['id']}",
        headers=headers, verify=trust, timeout=10,
    )  # fmt: skip
    assert revoked.status_code == 204, revoked.text
    assert devstack.interrupt() == 0

    third = devstack.start()
    renewed = third["seed"]
    assert isinstance(renewed, dict)
    assert renewed["token"] != seed["token"]
    assert renewed["project_id"] == seed["project_id"]
    log = devstack.log.read_text()
    assert "a new demo token was made: the stored one no longer works" in log
    assert "GET /api/v1/users/me answered 401" in log
    assert json.loads(seed_file.read_text())["token"] == renewed["token"]
    me = httpx.get(
        f"{services['admin']}/api/v1/users/me",
        headers={"Authorization": f"Bearer {renewed['token']}"}, verify=trust, timeout=10,
    )  # fmt: skip
    assert me.status_code == 200
    assert devstack.interrupt() == 0
    assert processes_mentioning(str(devstack.state)) == []


class TestCrashPolicy:
    def test_backs_off_then_gives_up_on_the_fifth_crash_within_two_minutes(self) -> None:
        policy = devstack_module("supervisor").CrashPolicy()
        assert [policy.crashed(t) for t in (0.0, 1.0, 3.0, 7.0)] == [1.0, 2.0, 4.0, 8.0]
        assert policy.crashed(15.0) is None

    def test_crashes_older_than_the_window_are_forgotten(self) -> None:
        policy = devstack_module("supervisor").CrashPolicy()
        for at in (0.0, 10.0, 20.0, 30.0):
            policy.crashed(at)
        assert policy.crashed(200.0) == 1.0


def test_a_child_that_keeps_crashing_stops_the_stack_loudly(tmp_path: Path) -> None:
    supervisor = devstack_module("supervisor")
    services = devstack_module("services")
    errors = devstack_module("errors")
    state = devstack_module("state").State(tmp_path)
    state.logs.mkdir()
    stack = supervisor.Stack(state, errors.Signals(), echo=False, tls=None)
    crasher = services.Service("crasher", "nfhub_compute", module="nfhub_no_such_module")
    child = stack.start(crasher, dict(os.environ))
    child.policy = supervisor.CrashPolicy(limit=3)
    began = time.monotonic()
    try:
        with pytest.raises(errors.StackError, match=r"crasher crashed 3 times within 120 s"):
            stack.supervise(poll_seconds=0.05)
    finally:
        stack.stop_children()
    assert time.monotonic() - began >= 3.0  # restarted after 1 s, then after 2 s
    log = child.log.read_text()
    assert log.count("restarted after a crash") == 2
    assert log.count("No module named nfhub_no_such_module") == 3


def test_a_restart_that_cannot_start_stops_the_stack_with_why(tmp_path: Path) -> None:
    supervisor = devstack_module("supervisor")
    services = devstack_module("services")
    errors = devstack_module("errors")
    state = devstack_module("state").State(tmp_path / "state")
    state.logs.mkdir(parents=True)
    stack = supervisor.Stack(state, errors.Signals(), echo=False, tls=None)
    crasher = services.Service("crasher", "nfhub_compute", module="nfhub_no_such_module")
    stack.start(crasher, dict(os.environ))
    shutil.rmtree(state.root)  # what happened when a state folder was deleted under a stack
    try:
        with pytest.raises(errors.StackError, match=r"cannot restart crasher: .*No such file"):
            stack.supervise(poll_seconds=0.05)
    finally:
        stack.state.root.mkdir()
        stack.stop_children()


def test_steps_run_side_by_side_and_the_first_failure_stops_the_rest(tmp_path: Path) -> None:
    supervisor = devstack_module("supervisor")
    errors = devstack_module("errors")
    state = devstack_module("state").State(tmp_path)
    state.logs.mkdir()
    stack = supervisor.Stack(state, errors.Signals(), echo=False, tls=None)
    env = dict(os.environ)
    began = time.monotonic()
    stack.run_steps([("a", ["sleep", "1"], env), ("b", ["sleep", "1"], env)])
    assert time.monotonic() - began < 1.9  # together, not one after the other
    marker = f"nfhub-step-{uuid.uuid4().hex}"
    slow = ["sh", "-c", f"sleep 30; : {marker}"]
    began = time.monotonic()
    with pytest.raises(errors.StackError, match="bad failed with exit code 3"):
        stack.run_steps([("slow", slow, env), ("bad", ["sh", "-c", "exit 3"], env)])
    assert time.monotonic() - began < 10
    assert processes_mentioning(marker) == []  # the slow one was stopped


def upload(client: httpx.Client, headers: dict[str, str], path: str, data: bytes) -> None:
    ticket = client.post(
        "/api/v1/files/upload-url", json={"path": path, "size": len(data)}, headers=headers
    )
    assert ticket.status_code == 200, ticket.text
    put = client.put(ticket.json()["url"], content=data, headers=ticket.json()["headers"])
    assert put.status_code in (200, 201, 204), put.text


def test_kill_9_of_the_worker_or_a_service_restarts_it_and_runs_still_complete(
    devstack: DevStack,
) -> None:
    started = devstack.start()
    services = started["services"]
    seed = started["seed"]
    assert isinstance(services, dict) and isinstance(seed, dict)
    trust = ssl.create_default_context(cafile=str(started["ca_file"]))
    headers = {"Authorization": f"Bearer {seed['token']}", "X-Project-ID": seed["project_id"]}
    pids_file = devstack.state / "pids.json"
    before = json.loads(pids_file.read_text())
    for name in ("worker", "miner"):
        os.kill(before[name], signal.SIGKILL)

    def restarted() -> bool:
        pids = json.loads(pids_file.read_text())
        # A child that died and is not restarted yet is not in the file.
        return all(
            name in pids and pids[name] != before[name] and Path(f"/proc/{pids[name]}").exists()
            for name in ("worker", "miner")
        )

    wait_until(restarted, timeout=30, interval=0.3, what="worker and miner restarted")
    wait_until(
        lambda: "miner is ready again" in devstack.log.read_text(),
        timeout=90, interval=0.5, what="miner ready again",
    )  # fmt: skip
    assert devstack.popen is not None and devstack.popen.poll() is None
    log = devstack.log.read_text()
    assert "worker exited unexpectedly with code -9; restarting it in 1 s" in log

    with httpx.Client(base_url=services["files"], verify=trust, timeout=30) as files:
        for mate in (1, 2):
            upload(files, headers, f"raw/S1_R{mate}.fastq.gz", fastq("S1", mate, 4, seed=mate))
        sheet = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"
        upload(files, headers, "samplesheets/restart.csv", sheet)
    with httpx.Client(base_url=services["compute"], verify=trust, timeout=30) as compute:
        run = compute.post(
            "/api/v1/runs",
            json={"pipeline": "demo", "input": {"path": "samplesheets/restart.csv"}},
            headers=headers,
        )
        assert run.status_code == 201, run.text
        state: dict[str, str] = {}

        def finished() -> bool:
            state.update(compute.get(f"/api/v1/runs/{run.json()['id']}", headers=headers).json())
            return state["state"] not in ("QUEUED", "INITIALIZING", "RUNNING")

        wait_until(finished, timeout=90, interval=0.5, what="the run to end")
        assert state["state"] == "COMPLETE", state
        # In the demo org's primary environment, which make run seeded.
        envs = compute.get("/api/v1/compute-envs", headers=headers).json()["items"]
        assert [(env["name"], env["is_primary"], env["status"]) for env in envs] == [
            ("local", True, "AVAILABLE")
        ]
        assert state["compute_env_id"] == envs[0]["id"]
        launch_root = Path(envs[0]["launch_dir"])
        assert (launch_root / run.json()["id"] / "exit.json").is_file()
    # The miner answers again too (through its own port, not a cached answer).
    with httpx.Client(base_url=services["miner"], verify=trust, timeout=30) as miner:
        assert miner.get("/api/v1/subjects", headers=headers).status_code == 200
    assert devstack.interrupt() == 0
    assert processes_mentioning(str(devstack.state)) == []


def test_the_files_service_lets_web_upload_from_the_browser(tmp_path: Path) -> None:
    """make run's files service lists web's origin for CORS on its signed URLs (web's Files
    page uploads straight to them), unless the user set FILES_CORS_ORIGINS."""
    run = devstack_module("run")
    state = type("State", (), {"jwt_key": tmp_path / "jwt.pem"})()

    env = run.child_env(state, "postgresql://db", {}, "https", None)
    mine = os.environ.get("FILES_CORS_ORIGINS")

    assert "WEB_URL" in env
    expected = mine if mine is not None else json.dumps([env["WEB_URL"]])
    assert env["FILES_CORS_ORIGINS"] == expected
