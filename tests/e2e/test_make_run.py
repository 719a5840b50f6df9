"""`make run`'s stack (scripts/devstack.py) as a user meets it: every service ready over HTTPS
with the dev CA it prints, one Ctrl-C leaves no process behind, and a second start finds the
data of the first. Its own state folder and ports, so it never meets a `make run` of yours."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.live import REPO, wait_until
from support.ports import free_ports

pytestmark = pytest.mark.timeout(420)
SERVICES = ("admin", "compute", "files", "miner")
START_TIMEOUT = 180.0


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

    second = devstack.start()
    assert second["ca_file"] == ca_file  # the same CA: trusted once, trusted again
    reseeded = second["seed"]
    assert isinstance(reseeded, dict)
    assert reseeded["project_id"] == seed["project_id"]  # the seed finds its data, not anew
    projects = httpx.get(
        f"{services['admin']}/api/v1/projects",
        headers={"Authorization": f"Bearer {reseeded['token']}"},
        verify=trust,
        timeout=10,
    )
    assert projects.status_code == 200
    assert "kept-across-restarts" in [p["slug"] for p in projects.json()["items"]]
    assert devstack.interrupt() == 0
    assert processes_mentioning(str(devstack.state)) == []
