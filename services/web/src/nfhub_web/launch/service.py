"""Launching a pipeline from a form: what compute offers (pipelines, versions, their schema,
the org's compute environments), and the launch itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from nfhub_web.apis import ApiProblem
from nfhub_web.launch.schemas import VERSION, ParamGroup, form_from_schema, input_required
from nfhub_web.project_apis import ProjectApis
from nfhub_web.schemas import (
    ComputeEnv,
    FileEntry,
    OrderSummary,
    Page,
    Pipeline,
    PipelineVersion,
    RunRead,
)

MAX_LISTED = 500
# The samplesheet picker shows a folder this many entries at a time.
FILES_PER_PAGE = 500


@dataclass(frozen=True)
class LaunchForm:
    pipeline: Pipeline
    version: str
    versions: list[PipelineVersion]
    groups: list[ParamGroup]
    compute_envs: list[ComputeEnv]
    orders: list[OrderSummary]
    # The schema requires a samplesheet (compute refuses the launch without one).
    input_required: bool = False

    def samplesheet_of(self, order_id: uuid.UUID | None) -> str:
        """The samplesheet miner wrote for a listed order ("" for any other)."""
        for order in self.orders:
            if order.id == order_id:
                return order.samplesheet_path or ""
        return ""


@dataclass(frozen=True)
class LaunchRequest:
    version: str
    params: dict[str, Any]
    input_path: str
    order_id: uuid.UUID | None
    compute_env_id: uuid.UUID | None
    name: str

    def body(self, slug: str) -> dict[str, Any]:
        body: dict[str, Any] = {"pipeline": slug, "version": self.version, "params": self.params}
        given: dict[str, str] = {}
        if self.input_path:
            given["path"] = self.input_path
        if self.order_id is not None:
            given["order_id"] = str(self.order_id)
        if given:  # both given: compute says which one it takes, or that it takes one
            body["input"] = given
        if self.compute_env_id is not None:
            body["compute_env_id"] = str(self.compute_env_id)
        if self.name:
            body["name"] = self.name
        return body


class LaunchService(ProjectApis):
    async def pipelines(self) -> Page[Pipeline]:
        return await self.read(
            Page[Pipeline], "compute", "/pipelines", params={"limit": MAX_LISTED}
        )

    async def form(self, slug: str, version: str | None) -> LaunchForm:
        pipeline = await self.read(Pipeline, "compute", f"/pipelines/slug/{slug}")
        versions = await self.read(
            Page[PipelineVersion],
            "compute",
            f"/pipelines/slug/{slug}/versions",
            params={"limit": 100},
        )
        chosen = version or (pipeline.version.version if pipeline.version else None)
        if chosen is None:
            raise ApiProblem(409, "No version", f"{slug} has no version to launch yet.")
        if not VERSION.fullmatch(chosen):
            raise ApiProblem(404, "Not Found", f"{slug} has no version {chosen!r}.")
        groups: list[ParamGroup] = []
        needs_input = False
        try:
            schema = await self.call(
                "compute", "GET", f"/pipelines/slug/{slug}/versions/{chosen}/schema"
            )
            document = schema.json()
            groups, needs_input = form_from_schema(document), input_required(document)
        except ApiProblem as problem:
            if problem.status != 404:  # a version without a schema: no parameter fields
                raise
        envs = await self.read(
            Page[ComputeEnv], "compute", "/compute-envs", params={"limit": MAX_LISTED}
        )
        orders = await self.orders()
        return LaunchForm(pipeline, chosen, versions.items, groups, envs.items, orders, needs_input)

    async def orders(self) -> list[OrderSummary]:
        """The project's newest orders with a samplesheet miner wrote for their runs, which a
        run can take as input (none when miner does not answer: the samplesheet path still
        works). miner filters them: an order behind many newer ones without is still offered."""
        try:
            page = await self.read(
                Page[OrderSummary],
                "miner",
                "/orders",
                params={"limit": 100, "has_samplesheet": "true"},
            )
        except ApiProblem as problem:
            if problem.status < 500:
                raise
            return []
        return page.items

    async def files(self, folder: str, offset: int = 0) -> Page[FileEntry]:
        """A folder of the project's files, for the samplesheet picker."""
        return await self.read(
            Page[FileEntry],
            "files",
            "/files",
            params={"path": folder, "limit": FILES_PER_PAGE, "offset": offset},
        )

    async def launch(self, slug: str, request: LaunchRequest) -> RunRead:
        return await self.read(RunRead, "compute", "/runs", method="POST", json=request.body(slug))
