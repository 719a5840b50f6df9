from fnmatch import fnmatch
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id

from nfhub_admin.migrate import MIGRATIONS_DIR as ADMIN_MIGRATIONS
from nfhub_compute.migrate import MIGRATIONS_DIR as COMPUTE_MIGRATIONS
from nfhub_files.migrate import MIGRATIONS_DIR as FILES_MIGRATIONS
from nfhub_miner.migrate import MIGRATIONS_DIR as MINER_MIGRATIONS
from nfhub_web.migrate import MIGRATIONS_DIR as WEB_MIGRATIONS
from support import botocache, heap, passwords, routecache, sslcache
from support.admin import admin_app, admin_client, admin_settings, admin_transport, factory
from support.require import require_or_skip

__all__ = ["admin_app", "admin_client", "admin_settings", "admin_transport", "factory"]

TESTS = Path(__file__).resolve().parent
# Tests that start real processes, by folder: `make test-fast` leaves them out.
KIND_OF_FOLDER = {"e2e": "e2e", "deploy": "deploy"}
# Session- or module-wide stacks: the tests sharing one run on one xdist worker (loadgroup),
# which starts the stack once, instead of every worker starting its own.
SHARED_STACKS = ("https_stack",)
# ... except where one group would be the longest thing in the run (the run is only as short
# as its longest group): a stack's tests whose file name matches a pattern go in a group of
# their own, which another worker starts its own stack for (~10 s of CPU) and runs side by
# side. The CLI's tests; the web app's browser tests (test_web_browser.py and each page's
# test_web_<page>_browser.py, 30-60 s each); the README's, demo's, clients' and docs' pages
# stay in the first group. First matching pattern wins.
SPLIT_STACKS: dict[str, tuple[tuple[str, str], ...]] = {
    "https_stack": (("test_cli.py", "https_stack-cli"), ("test_web_*.py", "https_stack-web")),
}


def stack_group(stack: str, file_name: str) -> str:
    """The xdist group of a test of ``stack`` in ``file_name``: the stack's own, or a split's."""
    for pattern, group in SPLIT_STACKS.get(stack, ()):
        if fnmatch(file_name, pattern):
            return group
    return stack


def pytest_configure(config: pytest.Config) -> None:
    routecache.install()
    sslcache.install()
    botocache.install()
    passwords.install()


def pytest_collection_finish(session: pytest.Session) -> None:
    heap.settle()  # the modules and tests collected live to the end: the collector skips them


@pytest.fixture(scope="session")
def nfhub_migration_dirs() -> list[Path]:
    return [
        ADMIN_MIGRATIONS,
        FILES_MIGRATIONS,
        COMPUTE_MIGRATIONS,
        MINER_MIGRATIONS,
        WEB_MIGRATIONS,
    ]


@pytest.hookimpl(tryfirst=True)  # before xdist turns the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder (tests/e2e → e2e, tests/<service>/live → live, tests/deploy →
    deploy) and keep the tests of one stack (or of the one Slurm) on one worker."""
    for item in items:
        parts = item.path.resolve().relative_to(TESTS).parts
        kind = "live" if len(parts) > 2 and parts[1] == "live" else KIND_OF_FOLDER.get(parts[0])
        if kind is None and item.get_closest_marker("slurm") is not None:
            kind = "slurm"  # one Slurm per machine: its tests share a group (support/slurm.py)
        if kind is None:
            continue
        item.add_marker(kind)
        if kind == "deploy":
            continue
        explicit = item.get_closest_marker("xdist_group")
        if explicit is not None:  # a test's own group (e.g. one per fuzzed service)
            group = str(explicit.args[0] if explicit.args else explicit.kwargs["name"])
        else:
            stack = next((name for name in SHARED_STACKS if name in item.fixturenames), None)
            group = stack_group(stack, item.path.name) if stack is not None else "/".join(parts)
            item.add_marker(pytest.mark.xdist_group(group))
        if getattr(config.option, "loadgroup", False) and hasattr(item, "_id"):
            # xdist 3.8 names the group in the node id by setting ``_nodeid``, which pytest 9
            # no longer reads: without this, --dist loadgroup spreads a group over workers.
            item._id = coerce_node_id(f"{item.nodeid}@{group}")
    if hasattr(config, "workerinput"):  # an xdist worker (every worker sorts alike)
        # The long groups (real stacks) first, so no worker starts one at the end of the run.
        items.sort(key=lambda item: not item.get_closest_marker("xdist_group"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.requires_path(path, what)``: skip, or fail in CI, when it is missing."""
    for mark in item.iter_markers("requires_path"):
        path, what = mark.args
        if not Path(path).exists():
            require_or_skip(f"{what} not at {path}")
