from pathlib import Path

import pytest

from nfhub_admin.migrate import MIGRATIONS_DIR as ADMIN_MIGRATIONS
from nfhub_compute.migrate import MIGRATIONS_DIR as COMPUTE_MIGRATIONS
from nfhub_files.migrate import MIGRATIONS_DIR as FILES_MIGRATIONS
from nfhub_miner.migrate import MIGRATIONS_DIR as MINER_MIGRATIONS
from support.admin import admin_app, admin_client, admin_settings, admin_transport, factory
from support.require import require_or_skip

__all__ = ["admin_app", "admin_client", "admin_settings", "admin_transport", "factory"]


@pytest.fixture(scope="session")
def nfhub_migration_dirs() -> list[Path]:
    return [ADMIN_MIGRATIONS, FILES_MIGRATIONS, COMPUTE_MIGRATIONS, MINER_MIGRATIONS]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.requires_path(path, what)``: skip, or fail in CI, when it is missing."""
    for mark in item.iter_markers("requires_path"):
        path, what = mark.args
        if not Path(path).exists():
            require_or_skip(f"{what} not at {path}")
