"""Orders as miner keeps them, for the orders pages: one project's, as the user sees them. Every
check (fields, roles, which move is allowed, whether a samplesheet can be built) is miner's;
its answers are passed on as they are."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from nfhub_web.orders.schemas import (
    HISTORY_PER_PAGE,
    ORDER_SAMPLES_PER_PAGE,
    PICKER_RESULTS,
    OrderFilters,
    OrderRead,
    OrderSampleRead,
    OrderView,
    SampleBrief,
    Samplesheet,
    TransitionRead,
)
from nfhub_web.project_apis import ProjectApis
from nfhub_web.schemas import Page


@dataclass(frozen=True)
class SamplesheetFile:
    """The samplesheet as miner sent it, for the download: bytes, type and file name."""

    content: bytes
    media_type: str
    disposition: str


class OrdersService(ProjectApis):
    async def list_orders(self, filters: OrderFilters) -> Page[OrderRead]:
        return await self.read(Page[OrderRead], "miner", "/orders", params=filters.api_params())

    async def get(self, order_id: uuid.UUID) -> OrderRead:
        return await self.read(OrderRead, "miner", f"/orders/{order_id}")

    async def view(self, order_id: uuid.UUID, sample_offset: int = 0) -> OrderView:
        # The order first: another project's id (or none) stops here with miner's 404.
        order = await self.get(order_id)
        samples = await self.read(
            Page[OrderSampleRead],
            "miner",
            f"/orders/{order_id}/samples",
            params={"limit": ORDER_SAMPLES_PER_PAGE, "offset": sample_offset},
        )
        history = await self.read(
            Page[TransitionRead],
            "miner",
            f"/orders/{order_id}/history",
            params={"limit": HISTORY_PER_PAGE},
        )
        actors = {order.created_by, *(move.actor_id for move in history.items)}
        return OrderView(
            order,
            samples.items,
            samples.count,
            sample_offset,
            history.items,
            await self.names(actors),
        )

    async def names(self, actor_ids: set[str]) -> dict[str, str]:
        """Names for the user ids an order records, the user's own as "you"."""
        return {**await self.member_names(actor_ids - {self.user_id}), self.user_id: "you"}

    async def create(self, body: dict[str, Any]) -> OrderRead:
        return await self.read(OrderRead, "miner", "/orders", method="POST", json=body)

    async def find_samples(self, words: str) -> Page[SampleBrief]:
        """The project's samples matching ``words`` (miner's search), newest first."""
        params: dict[str, str | int] = {"limit": PICKER_RESULTS}
        if words:
            params["q"] = words
        return await self.read(Page[SampleBrief], "miner", "/samples", params=params)

    async def add_samples(
        self, order_id: uuid.UUID, sample_ids: list[uuid.UUID], role: str
    ) -> OrderRead:
        body = {
            "samples": [{"sample_id": str(sample_id), "role": role} for sample_id in sample_ids]
        }
        return await self.read(
            OrderRead, "miner", f"/orders/{order_id}/samples", method="POST", json=body
        )

    async def remove_sample(self, order_id: uuid.UUID, sample_id: uuid.UUID) -> None:
        await self.call("miner", "DELETE", f"/orders/{order_id}/samples/{sample_id}")

    async def move(self, order_id: uuid.UUID, to: str, note: str | None) -> OrderRead:
        body: dict[str, Any] = {"to": to}
        if note:
            body["note"] = note
        return await self.read(
            OrderRead, "miner", f"/orders/{order_id}/transition", method="POST", json=body
        )

    async def samplesheet_file(self, order_id: uuid.UUID) -> SamplesheetFile:
        response = await self.call(
            "miner", "GET", f"/orders/{order_id}/samplesheet", params={"format": "csv"}
        )
        return SamplesheetFile(
            response.content,
            response.headers.get("content-type", "text/csv; charset=utf-8"),
            response.headers.get(
                "content-disposition", f'attachment; filename="{order_id}.samplesheet.csv"'
            ),
        )

    async def samplesheet(self, order_id: uuid.UUID) -> Samplesheet:
        sheet = await self.samplesheet_file(order_id)
        return Samplesheet.parse(sheet.content.decode("utf-8", errors="replace"))
