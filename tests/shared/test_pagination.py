from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from nfhub_shared.pagination import Page, PageParamsDep, paginate


class Item(BaseModel):
    n: int


def numbers_router(total: int) -> APIRouter:
    router = APIRouter()

    @router.get("/numbers", response_model=Page[Item])
    async def list_numbers(request: Request, response: Response, page: PageParamsDep) -> Any:
        items = [{"n": n} for n in range(page.offset, min(page.offset + page.limit, total))]
        return paginate(request, response, page, items, total)

    return router


def links(response: Any) -> dict[str, str]:
    found = {}
    for part in response.headers["link"].split(", "):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').rstrip('"')] = url.strip("<>")
    return found


class TestPaging:
    async def test_body_and_link_header_on_a_middle_page(self, service_app) -> None:
        async with service_app([numbers_router(120)]) as (_, client):
            response = await client.get("/api/v1/numbers", params={"limit": 50, "offset": 50})
        body = response.json()
        assert (body["count"], body["limit"], body["offset"]) == (120, 50, 50)
        assert [item["n"] for item in body["items"]] == list(range(50, 100))
        rels = links(response)
        assert "offset=100" in rels["next"] and "offset=0" in rels["prev"]
        assert "offset=100" in rels["last"]

    async def test_last_page_has_no_next(self, service_app) -> None:
        async with service_app([numbers_router(120)]) as (_, client):
            response = await client.get("/api/v1/numbers", params={"limit": 50, "offset": 100})
        assert "next" not in links(response)
        assert len(response.json()["items"]) == 20

    async def test_default_and_bounds(self, service_app) -> None:
        async with service_app([numbers_router(10)]) as (_, client):
            default = await client.get("/api/v1/numbers")
            assert default.json()["limit"] == 50
            for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "ten"}):
                response = await client.get("/api/v1/numbers", params=params)
                assert response.status_code == 422, params
                assert response.headers["content-type"] == "application/problem+json"
