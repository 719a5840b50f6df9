"""A service hears admin's announcements of access changes and forgets what they concern.

Here with pg_notify sent by hand (in-process admin works in a transaction the test rolls back,
so its triggers' announcements are never committed); tests/e2e/test_revocation.py shows a
removal, a lowered role and a revoked token refused at once across the live stack's processes.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from nfhub_shared.auth.identity import RemoteIdentity
from nfhub_shared.auth.revocations import CHANNEL, AccessChangeListener, asyncpg_dsn
from nfhub_shared.state import ServiceState


async def test_an_announcement_drops_only_the_caches_it_concerns(
    make_probe: Any, nfhub_database_url: str
) -> None:
    async with make_probe() as probe:
        identity = ServiceState.of(probe.app).identity
        assert isinstance(identity, RemoteIdentity)
        identity._tokens.put("pat", object())  # type: ignore[arg-type]
        identity._roles.put(("user", uuid.uuid4().int), object())  # type: ignore[arg-type]
        listener = AccessChangeListener(nfhub_database_url, identity)
        listener.start()
        try:
            await asyncio.wait_for(listener.listening.wait(), 10)
            identity._tokens.put("pat", object())  # type: ignore[arg-type]
            identity._roles.put(("user", 1), object())  # type: ignore[arg-type]
            connection = await asyncpg.connect(asyncpg_dsn(nfhub_database_url))
            try:
                await connection.execute("SELECT pg_notify($1, 'project_memberships')", CHANNEL)
                for _ in range(100):
                    if len(identity._roles) == 0:
                        break
                    await asyncio.sleep(0.02)
                assert len(identity._roles) == 0
                assert len(identity._tokens) == 1
                await connection.execute("SELECT pg_notify($1, 'personal_access_tokens')", CHANNEL)
                for _ in range(100):
                    if len(identity._tokens) == 0:
                        break
                    await asyncio.sleep(0.02)
                assert len(identity._tokens) == 0
            finally:
                await connection.close()
        finally:
            await listener.stop()
