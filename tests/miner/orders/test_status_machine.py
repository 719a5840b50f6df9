"""The order status machine: every legal and illegal move and who may make it.

Each of its tests moves one order of one project: the apps, the team and the test
pipeline are built once for the module (support/module_setup.py), each test's order and
moves are rolled back after it (a savepoint), so every test starts from no order.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.orders.states import MOVES, ROLE_TO_ENTER, OrderStatus
from support.miner_app import MINER_BASE_URL, miner_settings_for, running_miner_app
from support.module_setup import (
    admin_app,
    admin_transport,
    compute_app,
    compute_client,
    each_test_rolled_back,
    factory,
    files_app,
    module_connection,
    module_sessions,
    storage_root,
    team,
)
from support.orders import move

__all__ = [
    "admin_app",
    "admin_transport",
    "compute_app",
    "compute_client",
    "each_test_rolled_back",
    "factory",
    "files_app",
    "module_connection",
    "module_sessions",
    "storage_root",
    "team",
]

STATUSES = list(OrderStatus)
ILLEGAL = [(a, b) for a, b in itertools.product(STATUSES, STATUSES) if b not in MOVES[a]]
LEGAL = [(a, b) for a in STATUSES for b in MOVES[a]]


@pytest.fixture(scope="module")
async def miner_app(
    nfhub_database_url: str,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    module_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    settings = miner_settings_for(nfhub_database_url)
    async with running_miner_app(
        settings, admin_transport, files_app, compute_app, module_sessions
    ) as app:
        yield app


@pytest.fixture(scope="module")
async def miner_client(miner_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=miner_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=MINER_BASE_URL) as client:
        yield client


@pytest.fixture
def session_factory(module_sessions: async_sessionmaker[AsyncSession]) -> Any:
    """put_in's sessions (orders/conftest.py): the module's, inside this test's savepoint."""
    return module_sessions


class TestStatusMachine:
    @pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
    async def test_every_illegal_move_is_409_naming_the_allowed_ones(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        order: dict[str, Any],
        put_in: Any,
        source: OrderStatus,
        target: OrderStatus,
    ) -> None:
        await put_in(order["id"], source)

        response = await move(miner_client, team, order["id"], target.value)

        assert response.status_code == 409, response.text
        body = response.json()
        assert f"Order ORD-7 is '{source.value}'" in body["detail"]
        assert body["allowed_transitions"] == [m.value for m in MOVES[source]]
        assert (
            await miner_client.get(f"/api/v1/orders/{order['id']}", headers=team.headers("viewer"))
        ).json()["status"] == source.value

    @pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
    async def test_each_legal_move_needs_its_role(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        order: dict[str, Any],
        put_in: Any,
        source: OrderStatus,
        target: OrderStatus,
    ) -> None:
        await put_in(order["id"], source)
        refused_roles = ["viewer"] + (["editor"] if ROLE_TO_ENTER[target].value == "admin" else [])

        refused = [
            await move(miner_client, team, order["id"], target.value, role)
            for role in refused_roles
        ]
        allowed = await move(
            miner_client, team, order["id"], target.value, ROLE_TO_ENTER[target].value
        )

        assert [r.status_code for r in refused] == [403] * len(refused_roles)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["status"] == target.value

    async def test_the_history_records_who_when_from_and_to(
        self, miner_client: httpx.AsyncClient, team: Any, order: dict[str, Any]
    ) -> None:
        for to, role in (
            ("analyzing", "editor"),
            ("review", "editor"),
            ("sign_off", "editor"),
            ("completed", "admin"),
        ):
            response = await move(miner_client, team, order["id"], to, role)
            assert response.status_code == 200, response.text

        history = await miner_client.get(
            f"/api/v1/orders/{order['id']}/history", headers=team.headers("viewer")
        )

        steps = [(h["from_status"], h["to_status"], h["actor_id"]) for h in history.json()["items"]]
        assert steps == [
            ("created", "analyzing", str(team.editor.id)),
            ("analyzing", "review", str(team.editor.id)),
            ("review", "sign_off", str(team.editor.id)),
            ("sign_off", "completed", str(team.admin.id)),
        ]
        assert history.json()["items"][0]["run_id"] is not None
        assert all(h["occurred_at"] for h in history.json()["items"])

    @pytest.mark.parametrize(
        ("status", "permitted"),
        [
            (
                OrderStatus.created,
                {"viewer": [], "editor": ["analyzing"], "admin": ["analyzing", "cancelled"]},
            ),
            (
                OrderStatus.sign_off,
                {"viewer": [], "editor": [], "admin": ["completed", "cancelled"]},
            ),
            (OrderStatus.completed, {"viewer": [], "editor": [], "admin": []}),
        ],
        ids=lambda value: value.value if isinstance(value, OrderStatus) else "",
    )
    async def test_each_caller_reads_the_moves_its_role_may_make(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        order: dict[str, Any],
        put_in: Any,
        status: OrderStatus,
        permitted: dict[str, list[str]],
    ) -> None:
        await put_in(order["id"], status)

        for role, moves in permitted.items():
            one = await miner_client.get(
                f"/api/v1/orders/{order['id']}", headers=team.headers(role)
            )
            listed = await miner_client.get("/api/v1/orders", headers=team.headers(role))

            assert one.json()["permitted_transitions"] == moves, role
            assert one.json()["allowed_transitions"] == [m.value for m in MOVES[status]]
            assert listed.json()["items"][0]["permitted_transitions"] == moves, role
