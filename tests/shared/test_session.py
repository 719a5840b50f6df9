"""One transaction per request, committed before the response: a failed commit is an error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from fastapi import APIRouter, status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from nfhub_admin.models import Org
from nfhub_shared.db.session import AsyncSessionDep

PROBE_TABLE = "public.commit_probe"


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/probe")

    @router.post("/orgs/{slug}", status_code=status.HTTP_201_CREATED)
    async def create_org(slug: str, session: AsyncSessionDep) -> dict[str, str]:
        # Added but not flushed: the INSERT (and its unique violation) happens at commit.
        session.add(Org(slug=slug, name=slug))
        return {"slug": slug}

    @router.post("/rows/{row_id}", status_code=status.HTTP_201_CREATED)
    async def insert_row(row_id: int, parent_id: int, session: AsyncSessionDep) -> dict[str, int]:
        await session.execute(
            text(f"INSERT INTO {PROBE_TABLE} (id, parent_id) VALUES (:id, :parent)"),
            {"id": row_id, "parent": parent_id},
        )
        return {"id": row_id}

    return router


@pytest_asyncio.fixture
async def probe_table(nfhub_engine: AsyncEngine) -> AsyncIterator[None]:
    """A table whose foreign key is checked only at COMMIT (deferred)."""
    async with nfhub_engine.begin() as connection:
        await connection.execute(
            text(
                f"CREATE TABLE {PROBE_TABLE} (id int PRIMARY KEY, parent_id int REFERENCES "
                f"{PROBE_TABLE}(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        await connection.execute(text(f"INSERT INTO {PROBE_TABLE} VALUES (1, NULL)"))
    try:
        yield
    finally:
        async with nfhub_engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {PROBE_TABLE}"))


async def count_rows(engine: AsyncEngine, row_id: int) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(
            text(f"SELECT count(*) FROM {PROBE_TABLE} WHERE id = :id"), {"id": row_id}
        )
        return int(result.scalar_one())


class TestCommitBeforeResponse:
    async def test_flush_failing_at_commit_returns_409_not_201(
        self, service_app, db_session
    ) -> None:
        slug = f"dup-{uuid.uuid4().hex[:8]}"
        db_session.add(Org(slug=slug, name="first"))
        await db_session.commit()
        async with service_app([probe_router()]) as (_, client):
            response = await client.post(f"/api/v1/probe/orgs/{slug}")
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"

    async def test_deferred_constraint_failing_at_commit_returns_an_error(
        self, service_app, probe_table, nfhub_engine
    ) -> None:
        async with service_app([probe_router()], bind_to_test_transaction=False) as (_, client):
            response = await client.post("/api/v1/probe/rows/2", params={"parent_id": 999})
        assert response.status_code == 409, response.text
        assert await count_rows(nfhub_engine, 2) == 0

    async def test_change_is_committed_when_the_response_arrives(
        self, service_app, probe_table, nfhub_engine
    ) -> None:
        async with service_app([probe_router()], bind_to_test_transaction=False) as (_, client):
            response = await client.post("/api/v1/probe/rows/3", params={"parent_id": 1})
            assert response.status_code == 201
            # Read from another connection right away: the commit preceded the response.
            assert await count_rows(nfhub_engine, 3) == 1
