from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from nfhub_miner.compute_client import SLUG_PATTERN
from nfhub_miner.fields import DisplayId, Properties, Tags
from nfhub_miner.orders.states import MOVES, OrderStatus, permitted_moves
from nfhub_shared.schemas import ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_miner.models import Order
    from nfhub_shared.auth.principal import ProjectRole

VERSION_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,98}[A-Za-z0-9])?$"
ROLE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
Priority = Literal["low", "medium", "high"]
OrderRole = Annotated[
    str,
    Field(pattern=ROLE_PATTERN, examples=["proband", "mother", "father", "tumour", "normal"]),
]
SamplesheetFormat = Literal["csv", "tsv", "json"]


class OrderSampleAdd(Schema):
    sample_id: uuid.UUID
    role: OrderRole = "sample"


class OrderSamplesAdd(Schema):
    samples: list[OrderSampleAdd] = Field(min_length=1, max_length=5000)


class OrderFields(Schema):
    display_id: DisplayId
    pipeline: str = Field(pattern=SLUG_PATTERN, description="Pipeline slug (compute)")
    version: str | None = Field(
        default=None, pattern=VERSION_PATTERN, description="Default: the pipeline's latest"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Pipeline parameters")
    mode: str = Field(default="standard", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    priority: Priority = "medium"
    notes: str | None = Field(default=None, max_length=10_000)
    tags: Tags = Field(default_factory=list)
    properties: Properties = Field(default_factory=dict)


class OrderCreate(OrderFields):
    samples: list[OrderSampleAdd] = Field(default_factory=list, max_length=5000)


class OrderUpdate(OrderFields):
    """The whole order (PUT): fields left out take their defaults."""


class OrderTransitionRequest(Schema):
    to: OrderStatus
    note: str | None = Field(default=None, max_length=2000)


class PipelineRef(ReadSchema):
    slug: str
    version: str


class RunRef(ReadSchema):
    id: uuid.UUID
    state: str | None = Field(
        default=None,
        description="compute's run state: on single reads and transitions always (null only "
        "when compute cannot answer), on lists once the run has ended",
    )
    state_reason: str | None = Field(
        default=None, description="Why the run is in this state (a failed run's error)"
    )
    finished_at: datetime | None = Field(default=None, description="When the run ended")


class OrderRead(ReadSchema):
    id: uuid.UUID
    display_id: str
    pipeline: PipelineRef
    params: dict[str, Any]
    mode: str
    priority: Priority
    notes: str | None = None
    tags: list[str]
    properties: dict[str, Any]
    status: OrderStatus
    allowed_transitions: list[OrderStatus]
    permitted_transitions: list[OrderStatus] = Field(
        description="The allowed_transitions the caller's project role may make (signing "
        "off and cancelling need a project admin)"
    )
    sample_count: int
    samplesheet_path: str | None = None
    run: RunRef | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime

    @classmethod
    def of(
        cls, order: Order, sample_count: int, role: ProjectRole, run: RunRef | None = None
    ) -> OrderRead:
        """The order as the API shows it to a caller of ``role``; ``run`` carries compute's
        state on single reads, else the run's end once miner has recorded it."""
        if order.run_id is None:
            run = None
        elif run is None:
            run = RunRef(
                id=order.run_id,
                state=order.run_end_state,
                state_reason=order.run_end_reason,
                finished_at=order.run_ended_at,
            )
        return read_model(
            cls,
            order,
            pipeline=PipelineRef(slug=order.pipeline_slug, version=order.pipeline_version),
            allowed_transitions=list(MOVES[OrderStatus(order.status)]),
            permitted_transitions=list(permitted_moves(OrderStatus(order.status), role)),
            sample_count=sample_count,
            run=run,
        )


class OrderSampleRead(ReadSchema):
    sample_id: uuid.UUID
    display_id: str
    role: str
    position: int
    added_at: datetime


class TransitionRead(ReadSchema):
    id: uuid.UUID
    from_status: OrderStatus
    to_status: OrderStatus
    actor_id: str
    note: str | None = None
    run_id: uuid.UUID | None = None
    occurred_at: datetime
