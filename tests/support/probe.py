"""A service of the shared library alone, for the tests of the app factory: its routes give
each kind of answer (validation, conflict, crash, a typed path parameter)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field

from nfhub_shared.auth.dependencies import CurrentPrincipal
from nfhub_shared.errors import Conflict


class Sample(BaseModel):
    name: str = Field(max_length=10)
    count: int


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/probe", tags=["probe"])

    @router.post("/samples")
    async def create_sample(sample: Sample, principal: CurrentPrincipal) -> dict[str, str]:
        return {"name": sample.name}

    @router.get("/conflict")
    async def conflict(principal: CurrentPrincipal) -> None:
        raise Conflict("order ORD-7 is completed; it cannot move to analyzing")

    @router.get("/crash")
    async def crash(principal: CurrentPrincipal) -> None:
        raise RuntimeError("boom: secret internals")

    @router.get("/items/{item_id}")
    async def get_item(item_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": str(item_id)}

    # A second method on the same path: FastAPI makes it a route of its own.
    @router.delete("/items/{item_id}", status_code=204)
    async def delete_item(item_id: uuid.UUID, principal: CurrentPrincipal) -> None:
        return None

    return router
