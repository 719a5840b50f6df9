from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from nfhub_compute.config import Settings
from nfhub_compute.main import create_app
from nfhub_compute.models import Pipeline, PipelineVersion
from nfhub_compute.pipelines.catalog import CatalogError, sync_catalog

REPO = Path(__file__).resolve().parents[3]
HELLO = REPO / "tests" / "fakes" / "pipelines" / "hello"
PROBLEM_JSON = "application/problem+json"
SCHEMA = json.loads((HELLO / "nextflow_schema.json").read_text())


@pytest_asyncio.fixture
async def publisher(factory: Any, team: Any) -> dict[str, str]:
    """Headers of a platform admin who administers the team's org (so its project too)."""
    actor = await factory.user(platform_admin=True)
    await factory.join_org(team.org_id, actor, "admin")
    return dict(actor.in_project(team.project_id))


def version_body(version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"version": version, "source": {"path": str(HELLO)}, **extra}


class TestCreatePipeline:
    async def test_a_project_admin_registers_one_with_schemas_read_from_its_folder(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "hello", "name": "Hello", "version": version_body()},
            headers=team.headers("admin"),
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"].endswith(f"/api/v1/pipelines/{body['id']}")
        assert body["org_id"] == str(team.org_id) and body["visibility"] == "org"
        version = body["version"]
        assert version["source"] == {"kind": "path", "url": None, "revision": None,
                                     "path": str(HELLO)}  # fmt: skip
        assert version["has_params_schema"] and version["has_input_schema"]

    @pytest.mark.parametrize("role", ["editor", "viewer"])
    async def test_editors_and_viewers_may_not(
        self, compute_client: httpx.AsyncClient, team: Any, role: str
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines", json={"slug": "x", "name": "X"}, headers=team.headers(role)
        )

        assert response.status_code == 403
        assert "admin role" in response.json()["detail"]

    async def test_a_slug_is_unique_in_the_org(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        body = {"slug": "dup", "name": "Dup"}
        first = await compute_client.post(
            "/api/v1/pipelines", json=body, headers=team.headers("admin")
        )
        second = await compute_client.post(
            "/api/v1/pipelines", json=body, headers=team.headers("admin")
        )

        assert first.status_code == 201
        assert second.status_code == 409
        assert "already has a pipeline 'dup'" in second.json()["detail"]

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ({"path": "/etc"}, "outside the folders pipelines may come from"),
            ({"path": "relative/dir"}, "must be an absolute path"),
            ({"path": "/srv/a\x00b"}, "cannot contain the NUL character"),  # was a 500
            ({"path": str(HELLO / ".." / ".." / "..")}, "outside the folders"),
            ({"path": str(HELLO / "main.nf")}, "is not a folder"),
        ],
    )
    async def test_a_local_source_must_be_a_folder_inside_the_allowed_roots(
        self, compute_client: httpx.AsyncClient, team: Any, source: dict[str, str], message: str
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "p", "name": "P", "version": {"version": "1", "source": source}},
            headers=team.headers("admin"),
        )

        assert response.status_code == 422
        assert message in response.json()["detail"]

    @pytest.mark.parametrize(
        "source",
        [
            {"url": "https://github.com/nf-core/rnaseq"},  # no revision
            {"url": "file:///etc/passwd", "revision": "main"},
            {"url": "https://github.com/x/y", "revision": "1", "path": str(HELLO)},
            {},
            {"path": str(HELLO), "revision": "1.0"},
            {"url": "https://github.com/x/y", "revision": "$(reboot)"},
        ],
    )
    async def test_bad_sources_are_422(
        self, compute_client: httpx.AsyncClient, team: Any, source: dict[str, str]
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "p", "name": "P", "version": {"version": "1", "source": source}},
            headers=team.headers("admin"),
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["errors"][0]["field"].startswith("version.source")

    async def test_a_git_source_with_uploaded_schemas(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={
                "slug": "rnaseq",
                "name": "nf-core/rnaseq",
                "version": {
                    "version": "3.14.0",
                    "source": {"url": "https://github.com/nf-core/rnaseq", "revision": "3.14.0"},
                    "params_schema": SCHEMA,
                    "default_params": {"greeting": "hi"},
                    "profiles": ["docker"],
                },
            },
            headers=team.headers("admin"),
        )

        assert response.status_code == 201, response.text
        version = response.json()["version"]
        assert version["source"]["kind"] == "git" and version["profiles"] == ["docker"]
        assert version["has_params_schema"] and not version["has_input_schema"]

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ({"params_schema": {"type": "object", "properties": {"a": {"type": 7}}}},
             "not a valid JSON Schema"),
            ({"params_schema": {"properties": {"a": {"$ref": "http://x.test/s.json"}}}},
             "only references inside the schema"),
            ({"default_params": {"grreting": "hi"}}, "default_params do not match"),
            ({"default_params": {"task_seconds": "slow"}}, "default_params do not match"),
            ({"input_schema": {"type": "array", "items": {"type": "nope"}}}, "input_schema"),
        ],
    )  # fmt: skip
    async def test_invalid_schemas_and_defaults_are_422(
        self, compute_client: httpx.AsyncClient, team: Any, extra: dict[str, Any], message: str
    ) -> None:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "p", "name": "P", "version": version_body(**extra)},
            headers=team.headers("admin"),
        )

        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
        listed = await compute_client.get("/api/v1/pipelines", headers=team.headers("admin"))
        assert listed.json()["count"] == 0  # nothing half-made

    async def test_a_body_over_the_limit_is_413(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        huge = {"type": "object", "description": "x" * (1024 * 1024 + 1)}
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "p", "name": "P", "version": version_body(params_schema=huge)},
            headers=team.headers("admin"),
        )

        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON


class TestReadPipelines:
    async def test_by_slug_gives_the_latest_version_or_the_one_asked_for(
        self, compute_client: httpx.AsyncClient, team: Any, register_pipeline: Any
    ) -> None:
        await register_pipeline()
        added = await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions",
            json=version_body("1.1.0"),
            headers=team.headers("admin"),
        )
        assert added.status_code == 201, added.text

        latest = await compute_client.get(
            "/api/v1/pipelines/slug/hello", headers=team.headers("viewer")
        )
        pinned = await compute_client.get(
            "/api/v1/pipelines/slug/hello",
            params={"version": "1.0.0"},
            headers=team.headers("viewer"),
        )
        missing = await compute_client.get(
            "/api/v1/pipelines/slug/hello",
            params={"version": "9.9"},
            headers=team.headers("viewer"),
        )

        assert latest.json()["version"]["version"] == "1.1.0"
        assert pinned.json()["version"]["version"] == "1.0.0"
        assert missing.status_code == 404
        assert "has no version '9.9'" in missing.json()["detail"]

    async def test_versions_are_listed_newest_first_and_unique(
        self, compute_client: httpx.AsyncClient, team: Any, register_pipeline: Any
    ) -> None:
        await register_pipeline()
        for version in ("1.1.0", "2.0.0"):
            await compute_client.post(
                "/api/v1/pipelines/slug/hello/versions",
                json=version_body(version),
                headers=team.headers("admin"),
            )
        again = await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions",
            json=version_body("2.0.0"),
            headers=team.headers("admin"),
        )

        listed = await compute_client.get(
            "/api/v1/pipelines/slug/hello/versions", headers=team.headers("viewer")
        )
        assert again.status_code == 409
        assert [v["version"] for v in listed.json()["items"]] == ["2.0.0", "1.1.0", "1.0.0"]
        assert listed.json()["count"] == 3 and 'rel="first"' in listed.headers["link"]

    async def test_a_deprecated_version_is_no_longer_the_latest(
        self, compute_client: httpx.AsyncClient, team: Any, register_pipeline: Any
    ) -> None:
        await register_pipeline()
        await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions", json=version_body("2.0.0"),
            headers=team.headers("admin"),
        )  # fmt: skip
        deprecated = await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions/2.0.0/deprecate",
            json={"note": "broken STAR index; use 1.0.0"},
            headers=team.headers("admin"),
        )

        latest = await compute_client.get(
            "/api/v1/pipelines/slug/hello", headers=team.headers("viewer")
        )
        current = await compute_client.get(
            "/api/v1/pipelines/slug/hello/versions",
            params={"include_deprecated": "false"},
            headers=team.headers("viewer"),
        )
        assert deprecated.status_code == 200
        assert deprecated.json()["deprecated"] is True
        assert deprecated.json()["deprecation_note"] == "broken STAR index; use 1.0.0"
        assert latest.json()["version"]["version"] == "1.0.0"
        assert [v["version"] for v in current.json()["items"]] == ["1.0.0"]

    async def test_the_schema_endpoints_return_what_the_version_carries(
        self, compute_client: httpx.AsyncClient, team: Any, register_pipeline: Any
    ) -> None:
        await register_pipeline()
        params = await compute_client.get(
            "/api/v1/pipelines/slug/hello/versions/1.0.0/schema", headers=team.headers("viewer")
        )
        samplesheet = await compute_client.get(
            "/api/v1/pipelines/slug/hello/versions/1.0.0/input-schema",
            headers=team.headers("viewer"),
        )

        assert params.json() == SCHEMA
        assert samplesheet.json()["items"]["required"] == ["sample", "fastq_1"]

    async def test_a_version_without_an_input_schema_says_so(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "git", "name": "Git", "version": {
                "version": "1", "source": {"url": "https://github.com/x/y", "revision": "1"}}},
            headers=team.headers("admin"),
        )  # fmt: skip
        response = await compute_client.get(
            "/api/v1/pipelines/slug/git/versions/1/input-schema", headers=team.headers("viewer")
        )

        assert response.status_code == 404
        assert "has no input schema" in response.json()["detail"]

    async def test_rename_and_share_with_every_org(
        self, compute_client: httpx.AsyncClient, register_pipeline: Any, publisher: Any
    ) -> None:
        created = await register_pipeline()
        response = await compute_client.patch(
            f"/api/v1/pipelines/{created['id']}",
            json={"name": "Hello world", "visibility": "public"},
            headers=publisher,
        )

        assert response.status_code == 200
        assert (response.json()["name"], response.json()["visibility"]) == ("Hello world", "public")


class TestVisibility:
    async def test_an_org_pipeline_is_invisible_to_other_orgs(
        self, compute_client: httpx.AsyncClient, team: Any, register_pipeline: Any, factory: Any
    ) -> None:
        created = await register_pipeline()
        stranger = await factory.user()
        other = await factory.project(await factory.org(stranger))
        headers = stranger.in_project(other)

        by_id = await compute_client.get(f"/api/v1/pipelines/{created['id']}", headers=headers)
        by_slug = await compute_client.get("/api/v1/pipelines/slug/hello", headers=headers)
        listed = await compute_client.get("/api/v1/pipelines", headers=headers)

        assert (by_id.status_code, by_slug.status_code) == (404, 404)
        assert listed.json()["count"] == 0

    async def test_a_public_pipeline_is_launchable_but_not_changeable_by_other_orgs(
        self, compute_client: httpx.AsyncClient, register_pipeline: Any, factory: Any,
        publisher: Any,
    ) -> None:  # fmt: skip
        created = await register_pipeline()
        await compute_client.patch(
            f"/api/v1/pipelines/{created['id']}", json={"visibility": "public"}, headers=publisher
        )
        stranger = await factory.user()
        other = await factory.project(await factory.org(stranger))
        headers = stranger.in_project(other)

        seen = await compute_client.get("/api/v1/pipelines/slug/hello", headers=headers)
        changed = await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions", json=version_body("6.6.6"), headers=headers
        )

        assert seen.status_code == 200
        assert changed.status_code == 403
        assert "public pipeline of another organisation" in changed.json()["detail"]


class TestCatalog:
    async def test_the_shipped_catalog_registers_a_public_read_only_demo(
        self, compute_settings: Settings, nfhub_fresh_database: Any, factory: Any
    ) -> None:
        # Start-up commits the catalog for real, so it gets a database of its own.
        with nfhub_fresh_database() as database_url:
            settings = compute_settings.model_copy(
                update={
                    "CATALOG_FILE": REPO / "pipelines" / "catalog.yaml",
                    "DATABASE_URL": SecretStr(database_url),
                }
            )
            for _ in range(2):  # a restart syncs again without duplicating anything
                app = create_app(settings)
                async with app.router.lifespan_context(app):
                    pass
            engine = create_async_engine(settings.database_url)
            try:
                async with engine.connect() as connection:
                    rows = (
                        await connection.execute(
                            select(Pipeline.slug, Pipeline.org_id, Pipeline.visibility).where(
                                Pipeline.from_catalog.is_(True)
                            )
                        )
                    ).all()
                    versions = (
                        await connection.execute(
                            select(PipelineVersion.version, PipelineVersion.source_path)
                        )
                    ).all()
            finally:
                await engine.dispose()

        assert [tuple(row) for row in rows] == [("demo", None, "public")]
        assert [tuple(row) for row in versions] == [("1.0.0", str(REPO / "pipelines" / "demo"))]

    async def test_catalog_pipelines_are_every_orgs_and_read_only(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        team: Any,
        session_factory: Any,
    ) -> None:
        async with session_factory() as session, session.begin():
            await sync_catalog(session, compute_settings, REPO / "pipelines" / "catalog.yaml")

        demo = await compute_client.get(
            "/api/v1/pipelines/slug/demo", headers=team.headers("viewer")
        )
        change = await compute_client.post(
            "/api/v1/pipelines/slug/demo/versions", json=version_body("9"),
            headers=team.headers("admin"),
        )  # fmt: skip
        rename = await compute_client.patch(
            f"/api/v1/pipelines/{demo.json()['id']}", json={"name": "mine"},
            headers=team.headers("admin"),
        )  # fmt: skip

        assert demo.status_code == 200, demo.text
        assert (demo.json()["org_id"], demo.json()["from_catalog"]) == (None, True)
        assert demo.json()["version"]["has_params_schema"]
        assert change.status_code == 403 and "catalog file" in change.json()["detail"]
        assert rename.status_code == 403

    async def test_an_unusable_catalog_stops_the_service_from_starting(
        self, compute_settings: Settings, admin_transport: Any, tmp_path: Path
    ) -> None:
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text("pipelines:\n  - slug: Bad Slug\n    name: x\n    versions: []\n")
        app = create_app(
            compute_settings.model_copy(update={"CATALOG_FILE": catalog}),
            http_transport=admin_transport,
        )

        with pytest.raises(CatalogError, match=r"catalog .* is not usable"):
            async with app.router.lifespan_context(app):
                pass


class TestPublishing:
    """Visibility public reaches every org, so it needs a platform admin (platform:admin)."""

    @pytest.mark.parametrize(
        ("who", "status"), [("admin", 403), ("publisher", 201), ("publisher-pat", 201)]
    )
    async def test_creating_a_public_pipeline(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any, who: str, status: int
    ) -> None:
        headers = await _caller(factory, team, who)

        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "shared", "name": "S", "visibility": "public"},
            headers=headers,
        )

        assert response.status_code == status, response.text
        if status == 403:
            assert "needs a platform admin (scope platform:admin)" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("who", "change", "status"),
        [
            ("admin", {"visibility": "public"}, 403),
            ("admin", {"name": "renamed", "visibility": "org"}, 200),
            ("publisher", {"visibility": "public"}, 200),
        ],
    )
    async def test_making_a_pipeline_public(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any,
        register_pipeline: Any, who: str, change: dict[str, Any], status: int,
    ) -> None:  # fmt: skip
        created = await register_pipeline()

        response = await compute_client.patch(
            f"/api/v1/pipelines/{created['id']}",
            json=change,
            headers=await _caller(factory, team, who),
        )

        assert response.status_code == status, response.text

    @pytest.mark.parametrize(("who", "status"), [("admin", 403), ("publisher", 201)])
    async def test_adding_a_version_to_a_public_pipeline(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any,
        register_pipeline: Any, publisher: dict[str, str], who: str, status: int,
    ) -> None:  # fmt: skip
        created = await register_pipeline()
        await compute_client.patch(
            f"/api/v1/pipelines/{created['id']}", json={"visibility": "public"}, headers=publisher
        )

        response = await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions",
            json=version_body("2.0.0"),
            headers=await _caller(factory, team, who),
        )

        assert response.status_code == status, response.text


async def _caller(factory: Any, team: Any, who: str) -> dict[str, str]:
    """Headers of the team's project admin, or of a platform admin of the team's org (by JWT
    or by a personal access token, which admin introspects)."""
    if who == "admin":
        return dict(team.headers("admin"))
    actor = await factory.user(platform_admin=True)
    await factory.join_org(team.org_id, actor, "admin")
    if who == "publisher-pat":
        _, secret = await factory.personal_access_token(actor)
        return {"Authorization": f"Bearer {secret}", "X-Project-ID": str(team.project_id)}
    return dict(actor.in_project(team.project_id))


class TestSlugs:
    """One pipeline per slug is visible to any org: the catalog's, a public one or the org's."""

    # (who holds the slug first, with which visibility) → (who asks next, visibility) → status
    @pytest.mark.parametrize(
        ("first", "then", "status", "message"),
        [
            ("catalog", ("a", "org"), 409, "The catalog has a pipeline 'demo'"),
            ("catalog", ("pa", "public"), 409, "The catalog has a pipeline 'demo'"),
            (("pb", "public"), ("a", "org"), 409, "Another organisation publishes a pipeline"),
            (("b", "org"), ("pa", "public"), 409, "Another organisation has a pipeline"),
            (("a", "org"), ("a", "org"), 409, "Your organisation already has a pipeline"),
            (("b", "org"), ("a", "org"), 201, None),
            (("pb", "org"), ("pa", "org"), 201, None),
        ],
        ids=[
            "org-takes-catalog", "public-takes-catalog", "org-takes-public",
            "public-takes-other-orgs", "same-org-twice", "two-orgs-private", "admins-private",
        ],
    )  # fmt: skip
    async def test_a_slug_names_one_pipeline_for_every_org(
        self, compute_client: httpx.AsyncClient, compute_settings: Settings, team: Any,
        factory: Any, session_factory: Any, first: Any, then: tuple[str, str], status: int,
        message: str | None,
    ) -> None:  # fmt: skip
        callers = await _two_orgs(factory, team)
        if first == "catalog":
            async with session_factory() as session, session.begin():
                await sync_catalog(session, compute_settings, REPO / "pipelines" / "catalog.yaml")
        else:
            who, visibility = first
            made = await compute_client.post(
                "/api/v1/pipelines",
                json={"slug": "demo", "name": "First", "visibility": visibility},
                headers=callers[who],
            )
            assert made.status_code == 201, made.text

        who, visibility = then
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "demo", "name": "Second", "visibility": visibility},
            headers=callers[who],
        )

        assert response.status_code == status, response.text
        if message is not None:
            assert message in response.json()["detail"]
        for caller in ("a", "b"):  # no org sees two demos: the slug resolves unambiguously
            listed = await compute_client.get("/api/v1/pipelines", headers=callers[caller])
            slugs = [item["slug"] for item in listed.json()["items"]]
            assert slugs.count("demo") <= 1, (caller, slugs)

    async def test_making_public_a_slug_another_org_uses_is_409(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any
    ) -> None:
        callers = await _two_orgs(factory, team)
        for who in ("a", "b"):
            made = await compute_client.post(
                "/api/v1/pipelines", json={"slug": "x", "name": "X"}, headers=callers[who]
            )
            assert made.status_code == 201, made.text

        mine = await compute_client.get("/api/v1/pipelines/slug/x", headers=callers["pa"])
        response = await compute_client.patch(
            f"/api/v1/pipelines/{mine.json()['id']}",
            json={"visibility": "public"},
            headers=callers["pa"],
        )

        assert response.status_code == 409
        assert "Another organisation has a pipeline 'x'" in response.json()["detail"]

    async def test_a_catalog_entry_may_not_take_an_orgs_slug(
        self, compute_client: httpx.AsyncClient, compute_settings: Settings, team: Any,
        session_factory: Any,
    ) -> None:  # fmt: skip
        made = await compute_client.post(
            "/api/v1/pipelines",
            json={"slug": "demo", "name": "Ours"},
            headers=team.headers("admin"),
        )
        assert made.status_code == 201

        with pytest.raises(CatalogError, match="an organisation already has a pipeline"):
            async with session_factory() as session, session.begin():
                await sync_catalog(session, compute_settings, REPO / "pipelines" / "catalog.yaml")


async def _two_orgs(factory: Any, team: Any) -> dict[str, dict[str, str]]:
    """Headers: a/b an org admin of org A (the team's) / B, pa/pb a platform admin in each."""
    stranger = await factory.user()
    other_org = await factory.org(stranger)
    other_project = await factory.project(other_org)
    pb = await factory.user(platform_admin=True)
    await factory.join_org(other_org, pb, "admin")
    return {
        "a": dict(team.headers("admin")),
        "pa": await _caller(factory, team, "publisher"),
        "b": dict(stranger.in_project(other_project)),
        "pb": dict(pb.in_project(other_project)),
    }
