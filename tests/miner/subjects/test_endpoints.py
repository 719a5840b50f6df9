from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

PROBLEM_JSON = "application/problem+json"
# Two days ahead, not one: still in the future when the run crosses midnight (the value is
# computed at collection) and in any time zone the server's date is taken in.
IN_TWO_DAYS = datetime.now(UTC).date() + timedelta(days=2)


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


class TestCreateSubject:
    async def test_creates_one_with_its_fields(
        self, miner_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await miner_client.post(
            "/api/v1/subjects",
            json={
                "display_id": "P-001",
                "sex": "female",
                "date_of_birth": "1980-02-29",
                "external_id": "MRN-77",
                "diagnosis": "suspected Lynch syndrome",
                "tags": ["trio", "trio"],
                "properties": {"ethnicity": "unknown"},
            },
            headers=team.headers("editor"),
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"].endswith(f"/api/v1/subjects/{body['id']}")
        assert (body["display_id"], body["sex"], body["date_of_birth"]) == (
            "P-001",
            "female",
            "1980-02-29",
        )
        assert body["tags"] == ["trio"] and body["sample_count"] == 0

    async def test_a_display_id_is_unique_in_the_project(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        await make("subjects", display_id="P1")
        again = await miner_client.post(
            "/api/v1/subjects", json={"display_id": "P1"}, headers=team.headers("editor")
        )

        assert again.status_code == 409
        assert "already has a subject 'P1'" in again.json()["detail"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"display_id": "P1", "sex": "M"}, "sex"),
            ({"display_id": "P1", "date_of_birth": "1980-13-01"}, "date_of_birth"),
            ({"display_id": "P1", "date_of_birth": str(IN_TWO_DAYS)}, "date_of_birth"),
            ({"display_id": "has space"}, "display_id"),
            ({"display_id": ""}, "display_id"),
            ({"display_id": "P1", "tags": ["no spaces please"]}, "tags.0"),
            ({"display_id": "P1", "properties": {"blob": "x" * 70_000}}, "properties"),
            ({"display_id": "P1", "properties": []}, "properties"),
            ({"display_id": "P1", "colour": "blue"}, "colour"),
            ({}, "display_id"),
        ],
    )
    async def test_bad_fields_are_422_naming_them(
        self, miner_client: httpx.AsyncClient, team: Any, body: dict[str, Any], field: str
    ) -> None:
        response = await miner_client.post(
            "/api/v1/subjects", json=body, headers=team.headers("editor")
        )

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert fields(response) == [field]

    async def test_viewers_read_but_do_not_write(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        await make("subjects", display_id="P1")
        created = await miner_client.post(
            "/api/v1/subjects", json={"display_id": "P2"}, headers=team.headers("viewer")
        )
        listed = await miner_client.get("/api/v1/subjects", headers=team.headers("viewer"))

        assert created.status_code == 403
        assert [s["display_id"] for s in listed.json()["items"]] == ["P1"]


class TestChangeSubject:
    async def test_patch_changes_only_what_is_given(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        subject = await make("subjects", display_id="P1", sex="male", diagnosis="x")
        response = await miner_client.patch(
            f"/api/v1/subjects/{subject['id']}",
            json={"diagnosis": None, "tags": ["a"]},
            headers=team.headers("editor"),
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["sex"], body["diagnosis"], body["tags"]) == ("male", None, ["a"])

    @pytest.mark.parametrize("field", ["display_id", "sex", "tags", "properties"])
    async def test_required_fields_cannot_be_nulled(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, field: str
    ) -> None:
        subject = await make("subjects", display_id="P1")
        response = await miner_client.patch(
            f"/api/v1/subjects/{subject['id']}",
            json={field: None},
            headers=team.headers("editor"),
        )

        assert response.status_code == 422

    async def test_renaming_onto_another_subject_is_409(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        await make("subjects", display_id="P1")
        second = await make("subjects", display_id="P2")
        response = await miner_client.patch(
            f"/api/v1/subjects/{second['id']}",
            json={"display_id": "P1"},
            headers=team.headers("editor"),
        )

        assert response.status_code == 409


class TestListSubjects:
    async def test_search_and_filters(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        await make(
            "subjects", display_id="FAM12-proband", tags=["trio"], properties={"clinic": "Leeds"}
        )
        await make("subjects", display_id="FAM13-mother", external_id="MRN-4411")

        async def found(**params: Any) -> list[str]:
            response = await miner_client.get(
                "/api/v1/subjects", params=params, headers=team.headers("viewer")
            )
            assert response.status_code == 200, response.text
            return sorted(s["display_id"] for s in response.json()["items"])

        assert await found() == ["FAM12-proband", "FAM13-mother"]
        assert await found(q="fam12") == ["FAM12-proband"]
        assert await found(q="leed") == ["FAM12-proband"]  # a word of a property, by prefix
        assert await found(q="mrn 4411") == ["FAM13-mother"]
        assert await found(q="nobody") == []
        assert await found(tag="trio") == ["FAM12-proband"]

    @pytest.mark.parametrize("query", ["%%%", "\u00bf", "\u212a"])  # ¿, the Kelvin sign
    async def test_a_query_without_words_is_422(
        self, miner_client: httpx.AsyncClient, team: Any, query: str
    ) -> None:
        response = await miner_client.get(
            "/api/v1/subjects", params={"q": query}, headers=team.headers("viewer")
        )

        assert response.status_code == 422
        assert fields(response) == ["q"]


class TestDeleteSubject:
    async def test_a_subject_with_samples_needs_cascade(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        subject = await make("subjects", display_id="P1")
        await make("samples", display_id="S1", subject_id=subject["id"])
        await make("samples", display_id="S2", subject_id=subject["id"])

        refused = await miner_client.delete(
            f"/api/v1/subjects/{subject['id']}", headers=team.headers("editor")
        )
        cascaded = await miner_client.delete(
            f"/api/v1/subjects/{subject['id']}",
            params={"cascade": "true"},
            headers=team.headers("editor"),
        )
        samples = await miner_client.get("/api/v1/samples", headers=team.headers("viewer"))

        assert refused.status_code == 409
        assert "has 2 sample(s)" in refused.json()["detail"]
        assert cascaded.status_code == 200 and cascaded.json()["samples_deleted"] == 2
        assert samples.json()["count"] == 0 and samples.json()["items"] == []

    async def test_cascade_stops_at_samples_in_orders(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, hello: Any
    ) -> None:
        subject = await make("subjects", display_id="P1")
        sample = await make("samples", display_id="S1", subject_id=subject["id"])
        await make(
            "orders", display_id="ORD-1", pipeline="hello", samples=[{"sample_id": sample["id"]}]
        )

        response = await miner_client.delete(
            f"/api/v1/subjects/{subject['id']}",
            params={"cascade": "true"},
            headers=team.headers("editor"),
        )

        assert response.status_code == 409
        assert "S1 in ORD-1 (created)" in response.json()["detail"]
        still = await miner_client.get(
            f"/api/v1/subjects/{subject['id']}", headers=team.headers("viewer")
        )
        assert still.json()["sample_count"] == 1
