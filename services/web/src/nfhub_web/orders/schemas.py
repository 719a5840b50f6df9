"""Orders as miner answers them, and what the orders pages hold: their filters, the create
form's values, a samplesheet read back as a table. The status machine is miner's: its statuses
are listed here only to filter by them; the moves a page offers are the order's
``permitted_transitions``: miner's allowed moves from its status that the user's role may
make."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import urlencode

from pydantic import Field

from nfhub_web.forms import tags as split_tags
from nfhub_web.schemas import ApiModel

OrderStatus = Literal["created", "analyzing", "review", "sign_off", "completed", "cancelled"]
Priority = Literal["low", "medium", "high"]
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)
PRIORITIES: tuple[str, ...] = get_args(Priority)
ORDERS_PER_PAGE = 50
ORDER_SAMPLES_PER_PAGE = 100
HISTORY_PER_PAGE = 100
PICKER_RESULTS = 20
# Roles offered as suggestions; miner takes any role matching its pattern.
SUGGESTED_ROLES = ("sample", "proband", "mother", "father", "sibling", "tumour", "normal")


class PipelineRef(ApiModel):
    slug: str
    version: str


class RunRef(ApiModel):
    id: uuid.UUID
    state: str | None = None
    state_reason: str | None = None
    finished_at: datetime | None = None


class OrderRead(ApiModel):
    id: uuid.UUID
    display_id: str
    pipeline: PipelineRef
    params: dict[str, Any] = Field(default_factory=dict)
    mode: str = "standard"
    priority: str = "medium"
    notes: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    status: str
    allowed_transitions: list[str] = Field(default_factory=list)
    # The allowed moves the user's role may make (miner says both: web decides neither).
    permitted_transitions: list[str] = Field(default_factory=list)
    sample_count: int = 0
    samplesheet_path: str | None = None
    run: RunRef | None = None
    created_by: str = ""
    created_at: datetime
    updated_at: datetime | None = None
    status_changed_at: datetime | None = None


class OrderSampleRead(ApiModel):
    sample_id: uuid.UUID
    display_id: str
    role: str
    position: int
    added_at: datetime


class TransitionRead(ApiModel):
    id: uuid.UUID
    from_status: str
    to_status: str
    actor_id: str
    note: str | None = None
    run_id: uuid.UUID | None = None
    occurred_at: datetime


class SubjectBrief(ApiModel):
    id: uuid.UUID
    display_id: str


class SampleBrief(ApiModel):
    """A sample as the picker lists it."""

    id: uuid.UUID
    display_id: str
    subject: SubjectBrief | None = None
    sample_type: str = ""
    tissue: str | None = None


@dataclass(frozen=True)
class OrderFilters:
    """The orders list's filter and page, as miner's GET /orders takes them."""

    status: str | None = None
    offset: int = 0

    def api_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {"limit": ORDERS_PER_PAGE, "offset": self.offset}
        if self.status:
            params["status"] = self.status
        return params

    def page_prefix(self) -> str:
        """This list's URL, filter kept, waiting for an offset."""
        kept = [("status", self.status)] if self.status else []
        return "/orders?" + urlencode([*kept, ("offset", "")])


@dataclass(frozen=True)
class OrderForm:
    """The create form's answers, as typed (shown again when miner refuses them)."""

    display_id: str = ""
    pipeline: str = ""
    version: str = ""
    mode: str = "standard"
    priority: str = "medium"
    notes: str = ""
    tags: str = ""
    params: str = ""

    def tag_list(self) -> list[str]:
        return split_tags(self.tags)


@dataclass(frozen=True)
class Samplesheet:
    """The CSV miner built, as a table for the preview."""

    header: list[str]
    rows: list[list[str]]

    @classmethod
    def parse(cls, text: str) -> Samplesheet:
        rows = list(csv.reader(io.StringIO(text)))
        return cls(rows[0] if rows else [], rows[1:])


@dataclass(frozen=True)
class OrderView:
    """Everything the order page shows."""

    order: OrderRead
    samples: list[OrderSampleRead]
    sample_total: int
    sample_offset: int
    history: list[TransitionRead]
    # Who is who in the history: user ids to names, for the ids admin told us about.
    names: dict[str, str] = field(default_factory=dict)

    def who(self, actor_id: str) -> str:
        return self.names.get(actor_id, actor_id)
