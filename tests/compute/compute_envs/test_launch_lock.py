"""A launch holds its environment's row until it commits, so a delete that comes meanwhile
waits and then counts the new run (409) instead of leaving it without its environment.

Two real connections on a committed database: the in-process app shares one connection
between requests, where no lock can be seen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from nfhub_compute.compute_envs.repository import ComputeEnvRepository
from nfhub_compute.models import ComputeEnv

ORG = uuid.uuid4()


@pytest_asyncio.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url, pool_size=2, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def new_env(sessions: async_sessionmaker[AsyncSession], *, primary: bool) -> uuid.UUID:
    env = ComputeEnv(
        org_id=ORG if primary else uuid.uuid4(),
        name=f"env-{uuid.uuid4().hex[:8]}",
        backend="local",
        work_dir="/tmp/work",
        launch_dir="/tmp/launch",
        is_primary=primary,
        created_by="test",
    )
    async with sessions() as session, session.begin():
        session.add(env)
    return env.id


@pytest.mark.parametrize("named", [True, False], ids=["named", "primary"])
async def test_a_delete_waits_for_the_launch_that_chose_the_environment(
    sessions: async_sessionmaker[AsyncSession], named: bool
) -> None:
    env_id = await new_env(sessions, primary=not named)
    org_id = ORG
    if named:
        async with sessions() as session:
            env = await session.get(ComputeEnv, env_id)
            assert env is not None
            org_id = env.org_id

    async with sessions() as launching, launching.begin():
        envs = ComputeEnvRepository(launching)
        chosen = (
            await envs.get_in_org(org_id, env_id, for_share=True)
            if named
            else await envs.primary(org_id, for_share=True)
        )
        assert chosen is not None and chosen.id == env_id

        async def delete() -> ComputeEnv | None:
            async with sessions() as deleting, deleting.begin():
                return await ComputeEnvRepository(deleting).get_in_org(
                    org_id, env_id, for_update=True
                )

        deleter = asyncio.create_task(delete())
        await asyncio.sleep(0.5)
        waited = not deleter.done()
    # The launch committed: the delete goes on and finds the environment, to count its runs.
    found = await asyncio.wait_for(deleter, 30)

    assert waited
    assert found is not None and found.id == env_id
