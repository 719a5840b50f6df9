"""The stack's processes: one-shot steps, long-running services, their readiness and stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nfhub_devstack.echo import LogEcho
from nfhub_devstack.errors import Signals, StackError, console
from nfhub_devstack.services import HOST, REPO_ROOT, Service
from nfhub_devstack.state import State
from nfhub_shared.devtls import DevTls

STOP_GRACE_SECONDS = 10.0
STEP_TIMEOUT_SECONDS = 300.0


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes]
    log: Path


class Stack:
    def __init__(self, state: State, signals: Signals, echo: bool, tls: DevTls | None) -> None:
        self.state = state
        self.signals = signals
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self._ssl = ssl.create_default_context(cafile=str(tls.ca_cert)) if tls else None
        self.children: list[Child] = []
        self.echo = LogEcho() if echo else None

    # -- one-shot steps (migrations, seed) -------------------------------------------------

    def run_step(
        self, name: str, cmd: Sequence[str], env: Mapping[str, str], *, capture: bool = False
    ) -> str:
        log = self.state.logs / f"{name}.log"
        with log.open("wb") as log_handle:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else log_handle,
                stderr=log_handle,
                env=dict(env),
                cwd=REPO_ROOT,
                start_new_session=True,
            )
            try:
                out, _ = proc.communicate(timeout=STEP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
                raise StackError(f"{name} took over {STEP_TIMEOUT_SECONDS:.0f} s", log) from None
            except BaseException:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        if proc.returncode != 0:
            if capture and out:
                with log.open("ab") as log_handle:
                    log_handle.write(b"--- stdout ---\n" + out)
            raise StackError(f"{name} failed with exit code {proc.returncode}", log)
        return out.decode() if capture and out else ""

    # -- long-running children -------------------------------------------------------------

    def kill_leftovers(self) -> None:
        """Stop children recorded by a previous devstack that died without cleaning up."""
        try:
            recorded = json.loads(self.state.pids.read_text())
        except (OSError, ValueError):
            return
        for name, pid in recorded.items():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError):
                continue
            if sys.executable in cmdline and "nfhub" in cmdline:
                console.print(
                    f"[yellow]stopping {name} (pid {pid}) left over from an earlier run[/]"
                )
                kill_group(int(pid), signal.SIGTERM)
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                kill_group(int(pid), signal.SIGKILL)
        self.state.pids.unlink(missing_ok=True)

    def _record_pids(self) -> None:
        pids = {c.service.name: c.proc.pid for c in self.children if c.proc.poll() is None}
        self.state.pids.write_text(json.dumps(pids) + "\n")

    def start(self, service: Service, env: Mapping[str, str]) -> Child:
        log = self.state.logs / f"{service.name}.log"
        with log.open("wb") as log_handle:
            proc = subprocess.Popen(
                service.command(self.tls),
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=REPO_ROOT,
                start_new_session=True,  # own process group: signals reach it and its children
            )
        child = Child(service, proc, log)
        self.children.append(child)
        self._record_pids()
        if self.echo is not None:
            self.echo.follow(service.name, log)
            if not self.echo.is_alive():
                self.echo.start()
        return child

    def wait_ready(self, child: Child, timeout: float) -> None:
        base = child.service.url(self.scheme)
        assert base is not None
        url = f"{base}/readyz"
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            code = child.proc.poll()
            if code is not None:
                raise StackError(
                    f"{child.service.name} exited with code {code} while starting", child.log
                )
            try:
                with urllib.request.urlopen(url, timeout=2, context=self._ssl) as response:  # noqa: S310 - our own URL
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read(300).decode(errors='replace')}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            if time.monotonic() > deadline:
                raise StackError(
                    f"{child.service.name} not ready after {timeout:g} s ({url}: {last})",
                    child.log,
                )
            time.sleep(0.2)

    def supervise(self) -> None:
        """Block until a signal arrives (raises `Shutdown`) or a child dies (raises StackError)."""
        while True:
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    raise StackError(
                        f"{child.service.name} exited unexpectedly with code {code}", child.log
                    )
            time.sleep(0.5)

    def stop_children(self) -> None:
        running = [c for c in self.children if c.proc.poll() is None]
        if running:
            console.print(f"stopping {', '.join(c.service.name for c in running)}…")
        for child in reversed(running):
            kill_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            while child.proc.poll() is None and time.monotonic() < deadline:
                if self.signals.hurry.is_set():
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=0.1)
        for child in self.children:
            if child.proc.poll() is None:
                console.print(f"[yellow]{child.service.name} ignored SIGTERM; killing it[/]")
            # Also reaps grandchildren left in the group after the leader exited.
            kill_group(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
        self.state.pids.unlink(missing_ok=True)
        if self.echo is not None:
            self.echo.stop()


def kill_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False
