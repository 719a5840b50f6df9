"""What moving an order to analyzing does (samplesheet in storage, a compute run on it) or does
not do (when refused), and two moves at once (every move of the status machine and who may
make it: test_status_machine.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nfhub_miner.models import Order
from support.orders import move


class TestAnalyzing:
    async def test_writes_the_samplesheet_and_submits_a_run_on_it(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        order: dict[str, Any],
    ) -> None:
        response = await move(miner_client, team, order["id"], "analyzing", "editor")

        assert response.status_code == 200, response.text
        moved = response.json()
        assert moved["samplesheet_path"] == "orders/ORD-7/samplesheet.csv"
        # The answer shows the run as compute created it (issue 19.18: it said null).
        assert moved["run"]["state"] == "QUEUED"
        sheet = (team.storage / "orders" / "ORD-7" / "samplesheet.csv").read_text()
        assert sheet.splitlines()[0] == "sample,fastq_1,fastq_2"
        assert sheet.splitlines()[1].startswith("S1,/")
        run = await compute_client.get(
            f"/api/v1/runs/{moved['run']['id']}", headers=team.headers("viewer")
        )
        assert run.status_code == 200
        assert run.json()["input"] == {
            "path": "orders/ORD-7/samplesheet.csv",
            "order_id": order["id"],
        }
        assert run.json()["params"] == {"greeting": "hi"}
        assert run.json()["labels"] == ["order:ORD-7"]
        shown = await miner_client.get(
            f"/api/v1/orders/{order['id']}", headers=team.headers("viewer")
        )
        assert shown.json()["run"]["state"] == "QUEUED"
        by_order = await compute_client.get(
            f"/api/v1/runs/by-order/{order['id']}", headers=team.headers("viewer")
        )
        assert [r["id"] for r in by_order.json()["items"]] == [moved["run"]["id"]]

    async def test_when_compute_refuses_nothing_changes(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        make: Any,
        fastqs: Any,
        hello: Any,
    ) -> None:
        r1, r2 = fastqs("S9_R1.fastq.gz", "S9_R2.fastq.gz")
        sample = await make(
            "samples", display_id="S9", files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
        )
        bad = await make(
            "orders",
            display_id="ORD-BAD",
            pipeline="hello",
            params={"task_seconds": "slow"},
            samples=[{"sample_id": sample["id"]}],
        )

        response = await move(miner_client, team, bad["id"], "analyzing", "editor")

        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "params.task_seconds"
        after = await miner_client.get(
            f"/api/v1/orders/{bad['id']}", headers=team.headers("viewer")
        )
        assert (after.json()["status"], after.json()["run"], after.json()["samplesheet_path"]) == (
            "created",
            None,
            None,
        )
        assert not (team.storage / "orders" / "ORD-BAD" / "samplesheet.csv").exists()
        runs = await compute_client.get("/api/v1/runs", headers=team.headers("viewer"))
        assert runs.json()["count"] == 0
        history = await miner_client.get(
            f"/api/v1/orders/{bad['id']}/history", headers=team.headers("viewer")
        )
        assert history.json()["count"] == 0

    async def test_an_order_whose_samples_do_not_fit_does_not_move(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, hello: Any
    ) -> None:
        sample = await make("samples", display_id="NOFILES")
        order = await make(
            "orders", display_id="ORD-2", pipeline="hello", samples=[{"sample_id": sample["id"]}]
        )

        response = await move(miner_client, team, order["id"], "analyzing", "editor")

        assert response.status_code == 422
        assert response.json()["errors"][0]["sample"] == "NOFILES"
        assert response.json()["errors"][0]["column"] == "fastq_1"

    async def test_an_empty_order_does_not_move(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, hello: Any
    ) -> None:
        order = await make("orders", display_id="ORD-3", pipeline="hello")

        response = await move(miner_client, team, order["id"], "analyzing", "editor")

        assert response.status_code == 422
        assert "has no samples" in response.json()["detail"]


class TestConcurrentTransitions:
    """Racing requests need their own connections and real commits: a database of their own."""

    ROUNDS = 5

    @pytest.fixture
    async def live(
        self, nfhub_fresh_database: Any, admin_settings: Any, miner_settings: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], list[str]]]:
        from pydantic import SecretStr

        from nfhub_admin.main import create_app as create_admin
        from nfhub_miner.main import create_app as create_miner
        from support.factory import Factory

        with nfhub_fresh_database() as url:
            admin = create_admin(admin_settings.model_copy(update={"DATABASE_URL": SecretStr(url)}))
            async with admin.router.lifespan_context(admin):
                people = Factory(admin.state.sessionmaker, admin)
                owner = await people.user()
                project = await people.project(await people.org(owner))
                settings = miner_settings.model_copy(
                    update={"DATABASE_URL": SecretStr(url), "DATABASE_POOL_SIZE": 4}
                )
                miner = create_miner(settings, http_transport=httpx.ASGITransport(app=admin))
                async with miner.router.lifespan_context(miner):
                    orders = [
                        Order(
                            project_id=project,
                            display_id=f"RACE-{n}",
                            pipeline_slug="p",
                            pipeline_version="1",
                            status="review",
                            created_by="t",
                        )
                        for n in range(self.ROUNDS)
                    ]
                    async with miner.state.sessionmaker() as session, session.begin():
                        session.add_all(orders)
                    async with httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=miner), base_url="http://miner.test"
                    ) as client:
                        yield client, owner.in_project(project), [str(o.id) for o in orders]

    async def test_the_same_move_twice_at_once_one_wins(
        self, live: tuple[httpx.AsyncClient, dict[str, str], list[str]]
    ) -> None:
        client, headers, order_ids = live
        for order_id in order_ids:
            url = f"/api/v1/orders/{order_id}/transition"
            responses = await asyncio.gather(
                *(client.post(url, json={"to": "sign_off"}, headers=headers) for _ in range(2))
            )
            assert sorted(r.status_code for r in responses) == [200, 409], [
                r.text for r in responses
            ]
            loser = next(r for r in responses if r.status_code == 409)
            assert "is 'sign_off'" in loser.json()["detail"]
            history = await client.get(f"/api/v1/orders/{order_id}/history", headers=headers)
            assert history.json()["count"] == 1
