"""Calls one service makes for its caller (shared clients.CallerClient): they do not spend the
caller's budget at the callee, and a genuine 429 from the callee reaches the caller as a 429
with its Retry-After."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request

from nfhub_shared.auth.dependencies import ProjectViewer, bearer_token
from nfhub_shared.auth.tokens import ServiceTokens
from nfhub_shared.clients import CallerClient

WINDOW = 3600


class ProbeClient(CallerClient):
    service = "probe"

    async def role(self, token: str, project_id: uuid.UUID) -> dict[str, Any]:
        return self._body(await self._call("GET", "/api/v1/probe/role", token, project_id))

    async def edit(self, token: str, project_id: uuid.UUID) -> dict[str, Any]:
        return self._body(await self._call("POST", "/api/v1/probe/edit", token, project_id))


def callee_router() -> APIRouter:
    router = APIRouter(prefix="/probe", tags=["probe"])

    @router.get("/role")
    async def get_role(access: ProjectViewer) -> dict[str, str]:
        return {"role": access.role.value}

    @router.post("/edit")
    async def edit(access: ProjectViewer) -> dict[str, str]:
        return {"role": access.role.value}

    return router


def caller_router(callee: ProbeClient) -> APIRouter:
    router = APIRouter(prefix="/front", tags=["front"])

    @router.post("/work")
    async def work(request: Request, access: ProjectViewer) -> dict[str, Any]:
        """Like miner creating a sample: one call of ours, a call to another service."""
        return await callee.edit(bearer_token(request), access.project_id)

    return router


async def member(factory: Any) -> tuple[Any, uuid.UUID]:
    actor, owner = await factory.user(), await factory.user()
    org_id = await factory.org(owner)
    return actor, await factory.project(org_id, members={actor: "editor"})


def client_for(app: Any, tokens: ServiceTokens) -> ProbeClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    return ProbeClient(http, "http://callee.test", service_tokens=tokens)


class TestServiceCallsSpendNoCallerBudget:
    async def test_calls_through_the_client_are_not_counted(self, service_app, factory) -> None:
        actor, project_id = await member(factory)
        async with service_app(
            [callee_router()], RATE_LIMIT_WRITE=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (app, direct):
            callee = client_for(app, app.state.service_tokens)
            async with callee.client:
                for _ in range(5):
                    assert await callee.edit(actor.token, project_id) == {"role": "editor"}
            # The user's own budget is whole: the five calls above were the service's.
            response = await direct.post(
                "/api/v1/probe/edit",
                headers={**actor.headers, "X-Project-ID": str(project_id)},
            )
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Remaining"] == "1"

    async def test_a_service_header_that_does_not_verify_is_counted(
        self, service_app, factory
    ) -> None:
        actor, project_id = await member(factory)
        async with service_app(
            [callee_router()], RATE_LIMIT_WRITE=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (app, _):
            forged = client_for(app, ServiceTokens("f" * 40, "miner"))
            async with forged.client:
                for _ in range(2):
                    await forged.edit(actor.token, project_id)
                response = await forged._call("POST", "/api/v1/probe/edit", actor.token, project_id)
        assert response.status_code == 429


class TestDependencyRateLimitIsPassedOn:
    async def test_a_429_from_the_callee_is_a_429_with_its_retry_after(
        self, service_app, factory
    ) -> None:
        actor, project_id = await member(factory)
        async with (
            service_app(
                [callee_router()], RATE_LIMIT_WRITE=1, RATE_LIMIT_WINDOW_SECONDS=WINDOW
            ) as (callee_app, callee_direct),
        ):
            headers = {**actor.headers, "X-Project-ID": str(project_id)}
            # The user spends their budget at the callee by calling it directly...
            assert (await callee_direct.post("/api/v1/probe/edit", headers=headers)).is_success
            refused = await callee_direct.post("/api/v1/probe/edit", headers=headers)
            assert refused.status_code == 429
            # ...and a client without the service mark (any dependency that limits us) gets
            # the same genuine 429, which must reach our caller as a 429, not a 503.
            unmarked = client_for(callee_app, ServiceTokens("u" * 40, "other"))
            async with (
                unmarked.client,
                service_app([caller_router(unmarked)]) as (_, front),
            ):
                response = await front.post("/api/v1/front/work", headers=headers)
        assert response.status_code == 429, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW
        assert "probe service: Too many write requests" in response.json()["detail"]
