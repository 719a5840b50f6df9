"""pytest plugin for nfhub services (``-p nfhub_shared.testing``).

- a PostgreSQL for the session (embedded, or ``TEST_DATABASE_URL``), a database migrated once
  with every directory the repo's conftest lists in ``nfhub_migration_dirs``, copied as a
  template for the session's database and for every fresh one (the xdist workers of a run
  share one embedded server and its template, which the first worker migrates);
- each test inside one transaction that is rolled back (sessions use savepoints).

It imports no service: the repo's tests add admin in-process and ``factory`` themselves
(tests/support/admin.py).
"""

from nfhub_shared.testing.fixtures import (
    db_connection,
    db_session,
    nfhub_database_url,
    nfhub_engine,
    nfhub_fresh_database,
    nfhub_migration_dirs,
    nfhub_postgres_server,
    nfhub_template_database,
    session_factory,
)

__all__ = [
    "db_connection",
    "db_session",
    "nfhub_database_url",
    "nfhub_engine",
    "nfhub_fresh_database",
    "nfhub_migration_dirs",
    "nfhub_postgres_server",
    "nfhub_template_database",
    "session_factory",
]
