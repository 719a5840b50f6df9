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
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text

from nfhub_devstack.echo import LogEcho
from nfhub_devstack.errors import Signals, StackError, console, err_console, log_tail
from nfhub_devstack.services import HOST, REPO_ROOT, Service
from nfhub_devstack.state import State
from nfhub_shared.devtls import DevTls

STOP_GRACE_SECONDS = 10.0
STEP_TIMEOUT_SECONDS = 300.0
# A crashed child comes back after 1, 2, 4, 8 s; the fifth crash within two minutes is a crash
# loop, a bug to read in its log rather than hide, and stops the stack.
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 120.0
RESTART_BACKOFF_MAX_SECONDS = 30.0
CRASH_LOG_LINES = 15


class CrashPolicy:
    """How long to wait before restarting a crashed child, or None to give up."""

    def __init__(self, limit: int = RESTART_LIMIT, window: float = RESTART_WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self.crashes: list[float] = []

    def crashed(self, now: float) -> float | None:
        self.crashes = [at for at in self.crashes if now - at < self.window]
        self.crashes.append(now)
        if len(self.crashes) >= self.limit:
            return None
        return float(min(2 ** (len(self.crashes) - 1), RESTART_BACKOFF_MAX_SECONDS))


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes]
    log: Path
    env: Mapping[str, str]
    policy: CrashPolicy = field(default_factory=CrashPolicy)
    restart_at: float | None = None
    announce_ready: bool = False


class Stack:
    def __init__(self, state: State, signals: Signals, echo: bool, tls: DevTls | None) -> None:
        self.state = state
        self.signals = signals
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self._ssl = ssl.create_default_context(cafile=str(tls.ca_cert)) if tls else None
        self.children: list[Child] = []
        self.echo = LogEcho() if echo else None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """What clients of this stack verify its certificates with (None: plain HTTP)."""
        return self._ssl

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

    def run_steps(self, steps: Sequence[tuple[str, Sequence[str], Mapping[str, str]]]) -> None:
        """Run one-shot steps side by side (name, command, environment); the first failure, a
        timeout or a signal stops the others."""
        running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        try:
            for name, cmd, env in steps:
                log = self.state.logs / f"{name}.log"
                with log.open("wb") as log_handle:
                    proc = subprocess.Popen(
                        list(cmd),
                        stdin=subprocess.DEVNULL,
                        stdout=log_handle,
                        stderr=subprocess.STDOUT,
                        env=dict(env),
                        cwd=REPO_ROOT,
                        start_new_session=True,
                    )
                running.append((name, proc, log))
            deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
            waiting = list(running)
            while waiting:
                for name, proc, log in list(waiting):
                    code = proc.poll()
                    if code is None:
                        continue
                    waiting.remove((name, proc, log))
                    if code != 0:
                        raise StackError(f"{name} failed with exit code {code}", log)
                if waiting and time.monotonic() > deadline:
                    name, _, log = waiting[0]
                    raise StackError(f"{name} took over {STEP_TIMEOUT_SECONDS:.0f} s", log)
                time.sleep(0.05)
        finally:
            for _, proc, _ in running:
                if proc.poll() is None:
                    kill_group(proc.pid, signal.SIGKILL)
                    proc.wait()

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
        """Written whole (a temporary file renamed over it), so a reader never sees half of it;
        a child that died and is not restarted yet is left out."""
        pids = {c.service.name: c.proc.pid for c in self.children if c.proc.poll() is None}
        written = self.state.pids.with_suffix(".tmp")
        written.write_text(json.dumps(pids) + "\n")
        written.replace(self.state.pids)

    def _spawn(
        self, service: Service, env: Mapping[str, str], log: Path, mode: str
    ) -> subprocess.Popen[bytes]:
        with log.open(mode) as log_handle:
            return subprocess.Popen(
                service.command(self.tls),
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=REPO_ROOT,
                start_new_session=True,  # own process group: signals reach it and its children
            )

    def start(self, service: Service, env: Mapping[str, str]) -> Child:
        log = self.state.logs / f"{service.name}.log"
        child = Child(service, self._spawn(service, env, log, "wb"), log, env)
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

    def supervise(self, poll_seconds: float = 0.5) -> None:
        """Block until a signal arrives (raises `Shutdown`), restarting crashed children with
        backoff; a child that keeps crashing stops the stack (raises StackError)."""
        while True:
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self._restart(child)
                    continue
                code = child.proc.poll()
                if code is None:
                    if child.announce_ready and self._ready_now(child):
                        child.announce_ready = False
                        console.print(f"[bold green]{child.service.name} is ready again[/]")
                    continue
                self._crashed(child, code, now)
            time.sleep(poll_seconds)

    def _crashed(self, child: Child, code: int, now: float) -> None:
        name = child.service.name
        kill_group(child.proc.pid, signal.SIGKILL)  # what it left in its process group
        delay = child.policy.crashed(now)
        if delay is None:
            raise StackError(
                f"{name} crashed {child.policy.limit} times within "
                f"{child.policy.window:g} s (last exit code {code}); giving up",
                child.log,
            )
        err_console.print(
            Text(
                f"devstack: {name} exited unexpectedly with code {code}; restarting it in "
                f"{delay:g} s (crash {len(child.policy.crashes)} of {child.policy.limit - 1} "
                f"tolerated within {child.policy.window:g} s)",
                style="bold yellow",
            ),
            soft_wrap=True,
        )
        err_console.print(Text(f"--- last lines of {child.log} ---", style="yellow"))
        err_console.print(Text(log_tail(child.log, CRASH_LOG_LINES)), soft_wrap=True)
        child.restart_at = now + delay

    def _restart(self, child: Child) -> None:
        """The same command and environment; its log continues (the crash stays readable)."""
        try:
            with child.log.open("ab") as log_handle:
                log_handle.write(b"--- devstack: restarted after a crash ---\n")
            child.proc = self._spawn(child.service, child.env, child.log, "ab")
        except OSError as exc:  # e.g. the state folder was deleted under the running stack
            raise StackError(f"cannot restart {child.service.name}: {exc}") from exc
        child.restart_at = None
        child.announce_ready = child.service.port is not None
        self._record_pids()
        console.print(f"[bold]{child.service.name} restarted (pid {child.proc.pid})[/]")

    def _ready_now(self, child: Child) -> bool:
        base = child.service.url(self.scheme)
        if base is None:
            return True
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1, context=self._ssl) as answer:  # noqa: S310 - our own URL
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

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
