"""``python -m nfhub_compute.secrets.rotate``: re-encrypt every pipeline secret (and every
webhook's signing secret) with COMPUTE_SECRETS_KEY.

A key rotation: put the current key in COMPUTE_SECRETS_OLD_KEYS, set a new
COMPUTE_SECRETS_KEY (services and workers restarted with both keep working meanwhile), run
this, then drop the old key. It stops with an error, changing nothing more, on a secret that
no configured key opens. Running it again is harmless.
"""

from __future__ import annotations

import asyncio
import uuid

from nfhub_compute.config import Settings
from nfhub_compute.secrets.crypto import SecretBox
from nfhub_compute.secrets.service import reseal_batch
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_compute.webhooks.service import key_ring
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.webhooks.service import reseal_all


async def rotate_webhooks(settings: Settings) -> int:
    return await reseal_all(
        settings,
        webhook_repository,
        key_ring(settings),
        application_name="compute-secrets-rotate",
    )


async def rotate(settings: Settings) -> int:
    box = SecretBox.from_settings(settings)
    engine = create_engine(settings, application_name="compute-secrets-rotate")
    sessionmaker = create_sessionmaker(engine)
    total = 0
    after: uuid.UUID | None = None
    try:
        while True:
            async with sessionmaker() as session, session.begin():
                resealed, after = await reseal_batch(session, box, after)
            total += resealed
            if after is None:
                return total
    finally:
        await engine.dispose()


def main() -> None:
    settings = Settings()
    total = asyncio.run(rotate(settings))
    print(f"{total} secret(s) re-encrypted with COMPUTE_SECRETS_KEY")  # noqa: T201 - a command
    hooks = asyncio.run(rotate_webhooks(settings))
    print(f"{hooks} webhook secret(s) re-encrypted with COMPUTE_SECRETS_KEY")  # noqa: T201


if __name__ == "__main__":
    main()
