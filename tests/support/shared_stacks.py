"""One live stack (support/live.py) for every test module that asks for the same settings,
instead of one per module: a pytest plugin of the repo's tests (tests/conftest.py).

A module takes ``shared_stack`` (module-scoped): the stack of its settings, seen as a tenant of
its own (a user, owner of an organisation of its own with one project, ``LiveStack.tenant``).
Its settings are its ``live_stack`` mark (none: the defaults)::

    pytestmark = pytest.mark.live_stack(tls=True, env={"MINER_RUN_SWEEP_SECONDS": "3600"})

tests/conftest.py puts the modules of one settings in one xdist group (``StackSettings.group``,
or a few, SPLIT_STACKS, for a long one) and their tests one after the other; one stack runs at
a time, stopped as soon as the next test wants another one, or none.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from support.live import LiveStack, live_stack

SERVICES = ("admin", "files", "compute", "miner")
GROUP = "live_stack"
# Every shared stack's, under what a module's mark adds. Webhooks (compute's and miner's) to
# receivers on 127.0.0.1, retried 1 s (±20 %) after a failure, and no sweep while the stack
# runs (a delivery is woken by NOTIFY and its due time, which tests/compute/live/test_webhooks
# proves): they act on a project's webhooks only, and let that module share the stack.
WEBHOOKS = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_RETRY_SCHEDULE": "[1, 1]",
    "WEBHOOK_SWEEP_SECONDS": "3600",
}
BASE_ENV = {f"{service}_{key}": value for key, value in WEBHOOKS.items()
            for service in ("COMPUTE", "MINER")}  # fmt: skip


@dataclass(frozen=True)
class StackSettings:
    services: tuple[str, ...] = SERVICES
    tls: bool = False
    env: tuple[tuple[str, str], ...] = tuple(sorted(BASE_ENV.items()))

    @classmethod
    def of(cls, node: pytest.Item | pytest.Collector) -> StackSettings:
        """The settings of the ``live_stack`` mark closest to ``node`` (none: the defaults)."""
        mark = node.get_closest_marker("live_stack")
        if mark is None:
            return cls()
        if mark.args:
            raise TypeError("live_stack takes keyword arguments only")
        given: dict[str, Any] = dict(mark.kwargs)
        services = tuple(given.pop("services", SERVICES))
        env: Mapping[str, str] = {**BASE_ENV, **given.pop("env", {})}
        return cls(services, **given, env=tuple(sorted(env.items())))

    @property
    def group(self) -> str:
        """The xdist group of the modules of these settings (a short digest of them)."""
        if self == StackSettings():
            return GROUP
        digest = hashlib.sha256(repr(self).encode()).hexdigest()[:8]
        return f"{GROUP}-{digest}"


def settings_of(item: pytest.Item) -> StackSettings | None:
    """The settings of the shared stack ``item`` runs on, if it runs on one."""
    if "shared_stack" not in getattr(item, "fixturenames", ()):
        return None
    return StackSettings.of(item)


class StackPool:
    """At most one running stack, of the settings last asked for."""

    def __init__(self, fresh_database: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._fresh_database = fresh_database
        self._tmp_path_factory = tmp_path_factory
        self._running: tuple[StackSettings, LiveStack, contextlib.ExitStack] | None = None
        self.started = 0

    @property
    def settings(self) -> StackSettings | None:
        return self._running[0] if self._running is not None else None

    def get(self, settings: StackSettings) -> LiveStack:
        if self._running is not None and self._running[0] == settings:
            return self._running[1]
        self.close()
        with contextlib.ExitStack() as exits:
            database_url = exits.enter_context(self._fresh_database())
            root = self._tmp_path_factory.mktemp("live")
            started = live_stack(
                root, database_url, settings.services, tls=settings.tls,
                extra_env=dict(settings.env),
            )  # fmt: skip
            stack = exits.enter_context(started)
            self._running = (settings, stack, exits.pop_all())
        self.started += 1
        return stack

    def close(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running[2].close()


POOL = pytest.StashKey[StackPool]()


@pytest.fixture(scope="session")
def live_stack_pool(
    request: pytest.FixtureRequest,
    nfhub_fresh_database: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StackPool]:
    pool = StackPool(nfhub_fresh_database, tmp_path_factory)
    request.config.stash[POOL] = pool
    try:
        yield pool
    finally:
        pool.close()
        del request.config.stash[POOL]


@pytest.fixture(scope="module")
def shared_stack(request: pytest.FixtureRequest, live_stack_pool: StackPool) -> Iterator[LiveStack]:
    """The stack of this module's settings, as a tenant of its own (named after the module)."""
    stack = live_stack_pool.get(StackSettings.of(request.node))
    tenant = stack.tenant(request.module.__name__.rsplit(".", 1)[-1])
    yield tenant
    tenant.cancel_unfinished()


def release_after(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the running stack after ``item`` unless ``nextitem`` runs on it too."""
    pool = item.config.stash.get(POOL, None)
    if pool is None or pool.settings is None:
        return
    if nextitem is None or settings_of(nextitem) != pool.settings:
        pool.close()


def gather(items: list[pytest.Item]) -> None:
    """Put the tests of one shared stack together, where the first of them is (the order of
    the modules of a stack and of the other tests otherwise kept)."""
    first: dict[StackSettings, int] = {}
    keys = []
    for index, item in enumerate(items):
        settings = settings_of(item)
        if settings is None:
            keys.append((index, 0))
        else:
            keys.append((first.setdefault(settings, index), index))
    order = sorted(range(len(items)), key=keys.__getitem__)
    items[:] = [items[index] for index in order]
