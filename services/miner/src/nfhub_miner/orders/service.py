"""Orders: samples to analyse with a pipeline, moved forward through their status machine.

Moving an order to ``analyzing`` writes its samplesheet to the project's storage
(``orders/<display id>/samplesheet.csv``) and submits a compute run of the order's pipeline on
it. If compute refuses, the samplesheet is removed again and the order does not move.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import IO, Any

import structlog

from nfhub_miner.compute_client import ComputeClient
from nfhub_miner.models import Order, OrderTransition
from nfhub_miner.orders.errors import IllegalTransition, OrderExists, OrderLocked, OrderNotFound
from nfhub_miner.orders.repository import OrderRepository
from nfhub_miner.orders.schemas import (
    OrderCreate,
    OrderFields,
    OrderRead,
    OrderSampleAdd,
    OrderSampleRead,
    OrderUpdate,
    RunRef,
    TransitionRead,
)
from nfhub_miner.orders.states import DELETABLE, EDITABLE, MOVES, ROLE_TO_ENTER, OrderStatus
from nfhub_miner.samples.repository import SampleRepository
from nfhub_miner.samplesheets.builder import SamplesheetBuilder
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import (
    AppError,
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ValidationFailed,
)

logger = structlog.get_logger("nfhub.miner.orders")

SAMPLESHEET_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "json": "application/json",
}


def allowed(order: Order) -> str:
    moves = MOVES[OrderStatus(order.status)]
    if not moves:
        return "it is final and cannot move any more"
    return "it can move to " + " or ".join(f"'{move.value}'" for move in moves)


class OrderService:
    def __init__(
        self,
        session: AsyncSession,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        compute: ComputeClient,
        files: FilesClient,
        admin: AdminClient,
        caller_token: str,
        max_samples: int,
    ) -> None:
        self.session = session
        self.audit = audit
        self.access = access
        self.compute = compute
        self.files = files
        self.admin = admin
        self.token = caller_token
        self.max_samples = max_samples
        self.orders = OrderRepository(session)

    # -- reading -------------------------------------------------------------------------------

    async def get(self, order_id: uuid.UUID, *, for_update: bool = False) -> Order:
        order = await self.orders.get_in_project(
            self.access.project_id, order_id, for_update=for_update
        )
        if order is None:
            raise OrderNotFound(f"No order {order_id} in this project.")
        return order

    async def get_read(self, order_id: uuid.UUID) -> OrderRead:
        order = await self.get(order_id)
        return await self._read(order, await self._run_ref(order))

    async def _run_ref(self, order: Order) -> RunRef | None:
        """The order's run as compute has it now; its recorded end (final, no call) once it
        has ended; None (the bare reference) when compute cannot answer."""
        if order.run_id is None or order.run_end_state is not None:
            return None
        try:
            found = await self.compute.run(self.token, self.access.project_id, order.run_id)
        except AppError as exc:  # compute down or the run gone: the order still reads
            logger.warning("run state unavailable", order_id=str(order.id), error=exc.detail)
            return None
        return RunRef(
            id=order.run_id,
            state=found.get("state"),
            state_reason=found.get("state_reason"),
            finished_at=found.get("finished_at"),
        )

    async def list_orders(self, **filters: Any) -> tuple[list[OrderRead], int]:
        orders, count = await self.orders.list_in_project(self.access.project_id, **filters)
        counts = await self.orders.sample_counts([order.id for order in orders])
        return [
            OrderRead.of(order, counts.get(order.id, 0), self.access.role) for order in orders
        ], count

    async def list_samples(
        self, order_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[OrderSampleRead], int]:
        order = await self.get(order_id)
        rows, count = await self.orders.list_samples(order.id, limit=limit, offset=offset)
        return [OrderSampleRead.model_validate(row) for row in rows], count

    async def history(
        self, order_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[TransitionRead], int]:
        order = await self.get(order_id)
        transitions, count = await self.orders.transitions(order.id, limit=limit, offset=offset)
        return [TransitionRead.model_validate(t) for t in transitions], count

    # -- changing ------------------------------------------------------------------------------

    async def create(self, order_create: OrderCreate) -> OrderRead:
        if await self.orders.display_id_taken(self.access.project_id, order_create.display_id):
            raise OrderExists(
                f"This project already has an order {order_create.display_id!r}; pick another "
                f"display_id."
            )
        version = await self._pipeline_version(order_create)
        order = Order(
            project_id=self.access.project_id,
            **self._fields(order_create),
            pipeline_version=version,
            status=OrderStatus.created.value,
            status_changed_at=datetime.now(UTC),
            created_by=self.access.principal.subject,
        )
        await self.orders.add(order)
        await self._add_samples(order, order_create.samples)
        await self._record("order.create", order, {"display_id": order.display_id})
        return await self._read(order)

    async def replace(self, order_id: uuid.UUID, order_update: OrderUpdate) -> OrderRead:
        order = await self._editable(await self.get(order_id, for_update=True))
        if order_update.display_id != order.display_id and await self.orders.display_id_taken(
            self.access.project_id, order_update.display_id
        ):
            raise OrderExists(f"This project already has an order {order_update.display_id!r}.")
        version = await self._pipeline_version(order_update)
        await self.orders.update(order, {**self._fields(order_update), "pipeline_version": version})
        await self._record("order.update", order, {"display_id": order.display_id})
        return await self._read(order)

    async def delete(self, order_id: uuid.UUID) -> None:
        order = await self.get(order_id, for_update=True)
        if OrderStatus(order.status) not in DELETABLE:
            raise OrderLocked(
                f"Order {order.display_id} is '{order.status}'; only created or cancelled orders "
                f"can be deleted (the others are the record of an analysis)."
            )
        await self.orders.delete(order)
        await self._record("order.delete", order, {"display_id": order.display_id})

    async def add_samples(self, order_id: uuid.UUID, samples: list[OrderSampleAdd]) -> OrderRead:
        order = await self._editable(await self.get(order_id, for_update=True))
        await self._add_samples(order, samples)
        await self._record("order.samples.add", order, {"samples": len(samples)})
        return await self._read(order)

    async def remove_sample(self, order_id: uuid.UUID, sample_id: uuid.UUID) -> None:
        order = await self._editable(await self.get(order_id, for_update=True))
        if not await self.orders.remove_sample(order.id, sample_id):
            raise NotFound(f"Sample {sample_id} is not in order {order.display_id}.")
        await self._record("order.samples.remove", order, {"sample_id": str(sample_id)})

    async def transition(
        self, order_id: uuid.UUID, target: OrderStatus, note: str | None
    ) -> OrderRead:
        # The row lock makes racing transitions take turns: the second sees the first's move.
        order = await self.get(order_id, for_update=True)
        current = OrderStatus(order.status)
        if target not in MOVES[current]:
            raise IllegalTransition(
                f"Order {order.display_id} is '{current.value}'; {allowed(order)}.",
                extra={"allowed_transitions": [move.value for move in MOVES[current]]},
            )
        needed = ROLE_TO_ENTER[target]
        if not self.access.role.allows(needed):
            raise Forbidden(
                f"Moving an order to '{target.value}' needs the {needed.value} role in the "
                f"project; you are {self.access.role.value}."
            )
        run_id, run = None, None
        if target == OrderStatus.analyzing:
            run = await self._start_analysis(order)
            run_id = run.id
        now = datetime.now(UTC)
        await self.orders.update(order, {"status": target.value, "status_changed_at": now})
        await self.orders.add_transition(
            OrderTransition(
                order_id=order.id,
                from_status=current.value,
                to_status=target.value,
                actor_id=self.access.principal.subject,
                note=note,
                run_id=run_id,
                occurred_at=now,
            )
        )
        await self._record("order.transition", order, {"from": current.value, "to": target.value})
        return await self._read(order, run or await self._run_ref(order))

    # -- the samplesheet -----------------------------------------------------------------------

    async def samplesheet(self, order_id: uuid.UUID, file_format: str) -> tuple[Order, IO[bytes]]:
        order = await self.get(order_id)
        return order, await self._build_samplesheet(order, file_format)

    async def _build_samplesheet(
        self, order: Order, file_format: str, *, for_run: bool = False
    ) -> IO[bytes]:
        schema = await self.compute.input_schema(
            self.token, self.access.project_id, order.pipeline_slug, order.pipeline_version
        )
        location = await self.admin.storage_location(self.access.project_id)
        builder = SamplesheetBuilder(schema, order.pipeline_slug, location.uri, for_run=for_run)
        counts = await self.orders.sample_counts([order.id])
        if not counts.get(order.id):
            raise ValidationFailed(
                f"Order {order.display_id} has no samples; add some with POST "
                f"/orders/{order.id}/samples."
            )
        return await builder.write(self.orders.iter_samples(order.id), file_format)

    async def _start_analysis(self, order: Order) -> RunRef:
        spool = await self._build_samplesheet(order, "csv", for_run=True)
        try:
            data = spool.read()
        finally:
            spool.close()
        path = f"orders/{order.display_id}/samplesheet.csv"
        await self.files.upload(self.token, self.access.project_id, path, data, "text/csv")
        try:
            run = await self.compute.create_run(
                self.token,
                self.access.project_id,
                {
                    "pipeline": order.pipeline_slug,
                    "version": order.pipeline_version,
                    "params": order.params,
                    "input": {"path": path, "order_id": str(order.id)},
                    "labels": [f"order:{order.display_id}"],
                    "name": order.display_id,
                },
            )
        except AppError:
            # Nothing changes: take the samplesheet back out (best effort) and refuse.
            try:
                await self.files.delete(self.token, self.access.project_id, path)
            except AppError as exc:
                logger.warning("samplesheet left behind", path=path, error=exc.detail)
            raise
        run_ref = RunRef(id=uuid.UUID(str(run["id"])), state=run.get("state"))
        await self.orders.update(order, {"run_id": run_ref.id, "samplesheet_path": path})
        return run_ref

    # -- helpers -------------------------------------------------------------------------------

    async def _pipeline_version(self, fields: OrderFields) -> str:
        try:
            pipeline = await self.compute.pipeline(
                self.token, self.access.project_id, fields.pipeline, fields.version
            )
        except NotFound as exc:
            field = "version" if fields.version and "version" in exc.detail else "pipeline"
            raise ValidationFailed(
                exc.detail,
                errors=[FieldProblem(field, exc.detail, "not_found")],
            ) from exc
        version = pipeline.get("version") or {}
        if not version.get("version"):
            raise ValidationFailed(f"Pipeline {fields.pipeline} has no version to use.")
        return str(version["version"])

    @staticmethod
    def _fields(fields: OrderFields) -> dict[str, Any]:
        return {
            "display_id": fields.display_id,
            "pipeline_slug": fields.pipeline,
            "params": fields.params,
            "mode": fields.mode,
            "priority": fields.priority,
            "notes": fields.notes,
            "tags": list(dict.fromkeys(fields.tags)),
            "properties": fields.properties,
        }

    async def _editable(self, order: Order) -> Order:
        if OrderStatus(order.status) not in EDITABLE:
            raise OrderLocked(
                f"Order {order.display_id} is '{order.status}'; its fields and samples can only "
                f"change while it is 'created'."
            )
        return order

    async def _add_samples(self, order: Order, samples: list[OrderSampleAdd]) -> None:
        if not samples:
            return
        ids = [entry.sample_id for entry in samples]
        if len(set(ids)) != len(ids):
            raise ValidationFailed("A sample is listed twice; give each sample once.")
        found = await SampleRepository(self.session).in_project(self.access.project_id, ids)
        unknown = [str(sample_id) for sample_id in ids if sample_id not in found]
        if unknown:
            raise ValidationFailed(
                f"{len(unknown)} sample(s) are not in this project: {', '.join(unknown[:5])}.",
                errors=[
                    FieldProblem("samples", f"no sample {s}", "not_found") for s in unknown[:100]
                ],
            )
        already = await self.orders.members(order.id, ids)
        if already:
            names = ", ".join(found[s].display_id for s in list(already)[:5])
            raise Conflict(f"Already in order {order.display_id}: {names}.")
        counts = await self.orders.sample_counts([order.id])
        if counts.get(order.id, 0) + len(ids) > self.max_samples:
            raise ValidationFailed(f"An order holds at most {self.max_samples} samples.")
        await self.orders.add_samples(order.id, [(e.sample_id, e.role) for e in samples])

    async def _read(self, order: Order, run: RunRef | None = None) -> OrderRead:
        counts = await self.orders.sample_counts([order.id])
        return OrderRead.of(order, counts.get(order.id, 0), self.access.role, run)

    async def _record(self, action: str, order: Order, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "order", order.id, details
        )
