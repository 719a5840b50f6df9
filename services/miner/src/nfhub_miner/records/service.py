"""Rules subjects and samples share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from nfhub_miner.records.errors import SampleInUse
from nfhub_miner.records.repository import SampleRecords


async def refuse_if_ordered(samples: SampleRecords, sample_ids: Sequence[uuid.UUID]) -> None:
    """Samples in orders stay: an order past 'created' is the record of an analysis."""
    ordered = await samples.orders_of(sample_ids)
    if ordered:
        listed = ", ".join(f"{s} in {o} ({status})" for s, o, status in ordered[:5])
        raise SampleInUse(
            f"Samples are in orders: {listed}. Remove them from the orders first; orders "
            f"past 'created' keep their samples for the record."
        )
