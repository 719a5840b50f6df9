"""Apply web's migrations (``python -m nfhub_web.migrate``)."""

from __future__ import annotations

from pathlib import Path

from nfhub_shared.db.migrations import upgrade

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def migrate(database_url: str) -> None:
    upgrade(MIGRATIONS_DIR, database_url)


if __name__ == "__main__":
    from nfhub_web.config import Settings

    migrate(Settings().database_url)
