"""An order of one sample for the hello pipeline, and a way to put it in any status."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

from nfhub_miner.models import Order
from nfhub_miner.orders.states import OrderStatus


@pytest.fixture
async def order(make: Any, fastqs: Any, hello: Any) -> dict[str, Any]:
    r1, r2 = fastqs("S1_R1.fastq.gz", "S1_R2.fastq.gz")
    sample = await make(
        "samples", display_id="S1", files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
    )
    return await make(
        "orders",
        display_id="ORD-7",
        pipeline="hello",
        params={"greeting": "hi"},
        samples=[{"sample_id": sample["id"], "role": "proband"}],
    )


@pytest.fixture
def put_in(session_factory: Any) -> Any:
    async def set_status(order_id: str, status: OrderStatus) -> None:
        async with session_factory() as session, session.begin():
            await session.execute(
                update(Order).where(Order.id == uuid.UUID(order_id)).values(status=status.value)
            )

    return set_status
