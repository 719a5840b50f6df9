"""Hot single statements past SQLAlchemy's execution: compiled once, sent to asyncpg as they are.

For reads on a connection of a read pool (db.engine.create_read_pool: asyncpg's own,
autocommit, no pre-ping, no BEGIN/COMMIT, one round trip each): compute's WES reads, the
compute worker's and the files archive worker's idle polls. Tests hand a sessionmaker
instead: its session's connection, inside the test's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

ReadConnection = AsyncSession | Any  # Any: an asyncpg connection (the driver is untyped)
ReadConnect = Callable[[], AbstractAsyncContextManager[ReadConnection]]


class DriverStatement:
    """A Core statement compiled once, sent to asyncpg as it is.

    For the hottest reads SQLAlchemy's execution (building the statement, keying its compiled
    cache, the greenlet hop, the result's row processing) cost several times what asyncpg
    and the database take (bench/wes.py): the statement is written in Core as every other,
    compiled for asyncpg at its first use (not at import: a process that never runs it never
    pays for it), and sent as it is; asyncpg keeps it prepared per connection. No
    codecs of SQLAlchemy's: JSON comes back as text.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement

    @functools.cached_property
    def _compiled(self) -> SQLCompiler:
        compiled = self.statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        assert isinstance(compiled, SQLCompiler)
        return compiled

    # Each one an attribute of the instance once read: no cost per call after the first.
    @functools.cached_property
    def sql(self) -> str:
        return self._compiled.string

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(self._compiled.positiontup or ())

    @functools.cached_property
    def defaults(self) -> dict[str, Any]:
        """The statement's own values (literals bound in it, a JSON key say); the rest come
        with each call."""
        return {
            name: bind.value for name, bind in self._compiled.binds.items() if not bind.required
        }

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.defaults[name] for name in self.names]

    async def fetch(self, connection: ReadConnection, **values: Any) -> list[Any]:
        driver = await _driver(connection)
        return list(await driver.fetch(self.sql, *self.arguments(values)))


async def _driver(connection: ReadConnection) -> Any:
    """The asyncpg connection: the pool's itself, or the one under a test's session."""
    if isinstance(connection, AsyncSession):
        raw = await (await connection.connection()).get_raw_connection()
        return raw.driver_connection
    return connection
