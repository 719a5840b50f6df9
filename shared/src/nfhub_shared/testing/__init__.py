"""pytest plugin for nfhub services (``-p nfhub_shared.testing``).

- a PostgreSQL for the session (embedded, or ``TEST_DATABASE_URL``), a fresh database migrated
  with every directory the repo's conftest lists in ``nfhub_migration_dirs``;
- each test inside one transaction that is rolled back (sessions use savepoints);
- the admin service in-process (``admin_app``, ``admin_client``, ``admin_transport``) and
  ``factory`` to create users, orgs, projects, memberships and tokens.
"""

from nfhub_shared.testing.fixtures import (
    admin_app,
    admin_client,
    admin_settings,
    admin_transport,
    db_connection,
    db_session,
    factory,
    nfhub_database_url,
    nfhub_engine,
    nfhub_fresh_database,
    nfhub_migration_dirs,
    nfhub_postgres_server,
    session_factory,
)

__all__ = [
    "admin_app",
    "admin_client",
    "admin_settings",
    "admin_transport",
    "db_connection",
    "db_session",
    "factory",
    "nfhub_database_url",
    "nfhub_engine",
    "nfhub_fresh_database",
    "nfhub_migration_dirs",
    "nfhub_postgres_server",
    "session_factory",
]
