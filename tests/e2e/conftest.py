"""The stack as ``make run`` serves it, for the tests that use it as a user would (the demo,
the nfhub CLI, the docs pages and the web app in a browser): every service under uvicorn over
HTTPS with a dev CA, the shipped catalog (the demo pipeline), a compute worker and admin
logging in through an OpenID provider (oidc-provider-mock, in a thread), one per test session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer

from support.browser import chromium, playwright, stop_unless_next_needs
from support.live import PASSWORD, REPO, LiveStack, live_stack
from support.oidc import admin_provider_setting, running_provider

__all__ = ["chromium", "playwright"]

CATALOG = REPO / "pipelines" / "catalog.yaml"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the test's own fixtures are torn down: the browser driver goes unless the next
    test uses it (support.browser.BrowserDriver says why)."""
    yield
    stop_unless_next_needs(nextitem)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[BaseWSGIServer]:
    with running_provider() as server:
        yield server


@pytest.fixture(scope="session")
def https_stack(
    nfhub_fresh_database: Any,
    tmp_path_factory: pytest.TempPathFactory,
    oidc_provider: BaseWSGIServer,
) -> Iterator[LiveStack]:
    with (
        nfhub_fresh_database() as database_url,
        live_stack(
            tmp_path_factory.mktemp("https-stack"),
            database_url,
            ("admin", "files", "compute", "miner", "web"),
            tls=True,
            extra_env={
                "COMPUTE_CATALOG_FILE": str(CATALOG),
                "ADMIN_OIDC_PROVIDERS": json.dumps([admin_provider_setting(oidc_provider)]),
            },
        ) as running,
    ):
        worker = running.start_worker()
        yield running
        worker.stop()


@pytest.fixture(scope="session")
def stack_password() -> str:
    """The password of the stack's first user (``live``)."""
    return PASSWORD
