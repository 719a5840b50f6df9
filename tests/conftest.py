from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id

from nfhub_admin.migrate import MIGRATIONS_DIR as ADMIN_MIGRATIONS
from nfhub_compute.migrate import MIGRATIONS_DIR as COMPUTE_MIGRATIONS
from nfhub_files.migrate import MIGRATIONS_DIR as FILES_MIGRATIONS
from nfhub_miner.migrate import MIGRATIONS_DIR as MINER_MIGRATIONS
from nfhub_web.migrate import MIGRATIONS_DIR as WEB_MIGRATIONS
from support import botocache, heap, passwords, routecache, shared_stacks, sslcache
from support.admin import admin_app, admin_client, admin_settings, admin_transport, factory
from support.require import require_or_skip
from support.shared_stacks import live_stack_pool, shared_stack

__all__ = [
    "admin_app",
    "admin_client",
    "admin_settings",
    "admin_transport",
    "factory",
    "live_stack_pool",
    "shared_stack",
]

TESTS = Path(__file__).resolve().parent
# Tests that start real processes, by folder: `make test-fast` leaves them out.
KIND_OF_FOLDER = {"e2e": "e2e", "deploy": "deploy"}
# Session- or module-wide stacks: the tests sharing one run on one xdist worker (loadgroup),
# which starts the stack once, instead of every worker starting its own.
SHARED_STACKS = ("https_stack",)
# ... except where one group would be the longest thing in the run: https_stack's tests took
# 1,064 of the 1,451 s of a loaded run on one worker (the run is only as short as its longest
# group). The CLI's tests go in a group of their own, the README's, docs' and clients' in
# another, each about half; two workers start a stack each and go side by side.
# The compute live modules' stack (support/shared_stacks.py) likewise: test_runs and the small
# ones in one group, the multi-host, WES and compute environment ones in another, each about
# half, a stack each (where both groups land on one worker, they run on one stack).
SPLIT_STACKS = {
    ("https_stack", "test_cli.py"): "https_stack-cli",
    **{
        (shared_stacks.GROUP, name): f"{shared_stacks.GROUP}-b"
        for name in ("test_hosts.py", "test_wes.py", "test_compute_envs.py")
    },
}


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
            settings = shared_stacks.settings_of(item)
            if stack is not None:
                group = SPLIT_STACKS.get((stack, item.path.name), stack)
            elif settings is not None:  # the modules of one stack's settings: one stack
                group = SPLIT_STACKS.get((settings.group, item.path.name), settings.group)
            else:
                group = "/".join(parts)
            item.add_marker(pytest.mark.xdist_group(group))
        if getattr(config.option, "loadgroup", False) and hasattr(item, "_id"):
            # xdist 3.8 names the group in the node id by setting ``_nodeid``, which pytest 9
            # no longer reads: without this, --dist loadgroup spreads a group over workers.
            item._id = coerce_node_id(f"{item.nodeid}@{group}")
    if hasattr(config, "workerinput"):  # an xdist worker (every worker sorts alike)
        # The long groups (real stacks) first, so no worker starts one at the end of the run.
        items.sort(key=lambda item: not item.get_closest_marker("xdist_group"))
    # The tests of one shared stack one after the other: it starts once (with -n 0 too).
    shared_stacks.gather(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A shared stack stops after the last test that runs on it (its modules torn down)."""
    try:
        return (yield)
    finally:
        shared_stacks.release_after(item, nextitem)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.requires_path(path, what)``: skip, or fail in CI, when it is missing."""
    for mark in item.iter_markers("requires_path"):
        path, what = mark.args
        if not Path(path).exists():
            require_or_skip(f"{what} not at {path}")
