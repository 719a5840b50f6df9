from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from nfhub_miner.models import Order

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def trio(make: Any, fastqs: Any) -> list[dict[str, Any]]:
    """Three samples with a FASTQ pair each."""
    made = []
    for name in ("S1", "S2", "S3"):
        r1, r2 = fastqs(f"{name}_R1.fastq.gz", f"{name}_R2.fastq.gz")
        made.append(
            await make(
                "samples", display_id=name, files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
            )
        )
    return made


class TestCreateOrder:
    async def test_an_order_takes_the_pipelines_latest_version_and_its_samples(
        self, miner_client: httpx.AsyncClient, team: Any, hello: Any, trio: list[dict[str, Any]]
    ) -> None:
        response = await miner_client.post(
            "/api/v1/orders",
            json={
                "display_id": "ORD-1",
                "pipeline": "hello",
                "priority": "high",
                "params": {"greeting": "hi"},
                "tags": ["trio"],
                "samples": [
                    {"sample_id": trio[0]["id"], "role": "proband"},
                    {"sample_id": trio[1]["id"], "role": "mother"},
                ],
            },
            headers=team.headers("editor"),
        )

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["pipeline"] == {"slug": "hello", "version": "1.0.0"}
        assert (order["status"], order["sample_count"], order["priority"]) == ("created", 2, "high")
        assert order["allowed_transitions"] == ["analyzing", "cancelled"]
        members = await miner_client.get(
            f"/api/v1/orders/{order['id']}/samples", headers=team.headers("viewer")
        )
        assert [(m["display_id"], m["role"]) for m in members.json()["items"]] == [
            ("S1", "proband"),
            ("S2", "mother"),
        ]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"pipeline": "no-such-pipeline"}, "pipeline"),
            ({"pipeline": "hello", "version": "9.9.9"}, "version"),
            ({"pipeline": "hello", "priority": "urgent"}, "priority"),
            ({"pipeline": "hello", "samples": [{"sample_id": str(uuid.uuid4())}]}, "samples"),
            ({"pipeline": "hello", "display_id": "ORD 1"}, "display_id"),
            ({"pipeline": "Hello World"}, "pipeline"),
        ],
    )
    async def test_bad_references_are_422(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        hello: Any,
        body: dict[str, Any],
        field: str,
    ) -> None:
        response = await miner_client.post(
            "/api/v1/orders", json={"display_id": "ORD-1", **body}, headers=team.headers("editor")
        )

        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field

    async def test_display_ids_are_unique(
        self, miner_client: httpx.AsyncClient, team: Any, hello: Any, make: Any
    ) -> None:
        await make("orders", display_id="ORD-1", pipeline="hello")
        again = await miner_client.post(
            "/api/v1/orders",
            json={"display_id": "ORD-1", "pipeline": "hello"},
            headers=team.headers("editor"),
        )

        assert again.status_code == 409


class TestOrderSamples:
    async def test_add_and_remove_while_created(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        hello: Any,
        make: Any,
        trio: list[dict[str, Any]],
    ) -> None:
        order = await make("orders", display_id="ORD-1", pipeline="hello")
        added = await miner_client.post(
            f"/api/v1/orders/{order['id']}/samples",
            json={"samples": [{"sample_id": s["id"], "role": "case"} for s in trio]},
            headers=team.headers("editor"),
        )
        again = await miner_client.post(
            f"/api/v1/orders/{order['id']}/samples",
            json={"samples": [{"sample_id": trio[0]["id"]}]},
            headers=team.headers("editor"),
        )
        removed = await miner_client.delete(
            f"/api/v1/orders/{order['id']}/samples/{trio[1]['id']}", headers=team.headers("editor")
        )
        gone = await miner_client.delete(
            f"/api/v1/orders/{order['id']}/samples/{trio[1]['id']}", headers=team.headers("editor")
        )

        assert added.status_code == 200 and added.json()["sample_count"] == 3
        assert again.status_code == 409 and "S1" in again.json()["detail"]
        assert removed.status_code == 204 and gone.status_code == 404
        final = await miner_client.get(
            f"/api/v1/orders/{order['id']}", headers=team.headers("viewer")
        )
        assert final.json()["sample_count"] == 2

    async def test_an_order_past_created_keeps_its_samples_and_fields(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        hello: Any,
        make: Any,
        trio: list[dict[str, Any]],
    ) -> None:
        order = await make(
            "orders", display_id="ORD-1", pipeline="hello", samples=[{"sample_id": trio[0]["id"]}]
        )
        moved = await miner_client.post(
            f"/api/v1/orders/{order['id']}/transition",
            json={"to": "analyzing"},
            headers=team.headers("editor"),
        )
        assert moved.status_code == 200, moved.text

        add = await miner_client.post(
            f"/api/v1/orders/{order['id']}/samples",
            json={"samples": [{"sample_id": trio[1]["id"]}]},
            headers=team.headers("editor"),
        )
        remove = await miner_client.delete(
            f"/api/v1/orders/{order['id']}/samples/{trio[0]['id']}", headers=team.headers("editor")
        )
        replace = await miner_client.put(
            f"/api/v1/orders/{order['id']}",
            json={"display_id": "ORD-1", "pipeline": "hello", "notes": "late change"},
            headers=team.headers("editor"),
        )
        delete = await miner_client.delete(
            f"/api/v1/orders/{order['id']}", headers=team.headers("admin")
        )

        assert [r.status_code for r in (add, remove, replace, delete)] == [409, 409, 409, 409]
        assert "only change while it is 'created'" in add.json()["detail"]


class TestReplaceAndDelete:
    async def test_put_replaces_every_field(
        self, miner_client: httpx.AsyncClient, team: Any, hello: Any, make: Any
    ) -> None:
        order = await make(
            "orders",
            display_id="ORD-1",
            pipeline="hello",
            notes="first",
            tags=["a"],
            priority="high",
        )
        response = await miner_client.put(
            f"/api/v1/orders/{order['id']}",
            json={"display_id": "ORD-1b", "pipeline": "hello", "params": {"greeting": "yo"}},
            headers=team.headers("editor"),
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["display_id"], body["notes"], body["tags"], body["priority"]) == (
            "ORD-1b",
            None,
            [],
            "medium",
        )
        assert body["params"] == {"greeting": "yo"}

    async def test_delete_a_created_order(
        self, miner_client: httpx.AsyncClient, team: Any, hello: Any, make: Any
    ) -> None:
        order = await make("orders", display_id="ORD-1", pipeline="hello")
        deleted = await miner_client.delete(
            f"/api/v1/orders/{order['id']}", headers=team.headers("editor")
        )
        after = await miner_client.get(
            f"/api/v1/orders/{order['id']}", headers=team.headers("viewer")
        )

        assert deleted.status_code == 204 and after.status_code == 404


class TestListOrders:
    async def test_filters(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        hello: Any,
        make: Any,
        session_factory: Any,
    ) -> None:
        first = await make("orders", display_id="ORD-1", pipeline="hello", tags=["urgent"])
        await make("orders", display_id="ORD-2", pipeline="hello")
        async with session_factory() as session, session.begin():
            await session.execute(
                update(Order)
                .where(Order.id == uuid.UUID(first["id"]))
                .values(samplesheet_path="orders/ORD-1/samplesheet.csv")
            )
        await miner_client.post(
            f"/api/v1/orders/{first['id']}/transition",
            json={"to": "cancelled"},
            headers=team.headers("admin"),
        )

        async def found(**params: Any) -> list[str]:
            response = await miner_client.get(
                "/api/v1/orders", params=params, headers=team.headers("viewer")
            )
            assert response.status_code == 200, response.text
            return [order["display_id"] for order in response.json()["items"]]

        assert await found() == ["ORD-2", "ORD-1"]
        assert await found(status="cancelled") == ["ORD-1"]
        assert await found(tag="urgent") == ["ORD-1"]
        assert await found(pipeline="hello") == ["ORD-2", "ORD-1"]
        assert await found(pipeline="other") == []
        assert await found(has_samplesheet="true") == ["ORD-1"]
        assert await found(has_samplesheet="false") == ["ORD-2"]
        unreadable = await miner_client.get(
            "/api/v1/orders", params={"has_samplesheet": "maybe"}, headers=team.headers("viewer")
        )
        assert unreadable.status_code in (400, 422)
        assert unreadable.headers["content-type"] == PROBLEM_JSON
