"""``python -m nfhub_miner.webhooks.rotate``: re-encrypt every webhook's signing secret with
MINER_WEBHOOK_SECRETS_KEY.

A key rotation: put the current key in MINER_WEBHOOK_SECRETS_OLD_KEYS, set a new
MINER_WEBHOOK_SECRETS_KEY (miner restarted with both keeps delivering), run this, then drop
the old key. Running it again is harmless.
"""

from __future__ import annotations

import asyncio

from nfhub_miner.config import Settings
from nfhub_miner.webhooks.repository import webhook_repository
from nfhub_miner.webhooks.service import key_ring
from nfhub_shared.webhooks.service import reseal_all


async def rotate(settings: Settings) -> int:
    return await reseal_all(
        settings, webhook_repository, key_ring(settings), application_name="miner-webhooks-rotate"
    )


def main() -> None:
    total = asyncio.run(rotate(Settings()))
    print(f"{total} webhook secret(s) re-encrypted with MINER_WEBHOOK_SECRETS_KEY")  # noqa: T201


if __name__ == "__main__":
    main()
