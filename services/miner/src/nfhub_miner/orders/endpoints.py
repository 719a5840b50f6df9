from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from nfhub_miner.compute_client import SLUG_PATTERN
from nfhub_miner.deps import SamplesEditor, SamplesViewer
from nfhub_miner.fields import TAG_PATTERN
from nfhub_miner.orders.schemas import (
    OrderCreate,
    OrderRead,
    OrderSampleRead,
    OrderSamplesAdd,
    OrderTransitionRequest,
    OrderUpdate,
    SamplesheetFormat,
    TransitionRead,
)
from nfhub_miner.orders.service import SAMPLESHEET_TYPES, OrderService
from nfhub_miner.orders.states import OrderStatus
from nfhub_miner.samplesheets.builder import chunks
from nfhub_miner.state import MinerStateDep
from nfhub_shared.auth.dependencies import bearer_token
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession, AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of
from nfhub_shared.schemas import IsoDateTime

router = APIRouter(prefix="/orders", tags=["orders"])


def _service(
    request: Request, state: MinerStateDep, session: AsyncSession, access: ProjectAccess
) -> OrderService:
    return OrderService(
        session,
        state.audit_writer,
        access,
        compute=state.compute_client,
        files=state.files_client,
        admin=state.admin_client,
        caller_token=bearer_token(request),
        max_samples=state.settings.MAX_ORDER_SAMPLES,
    )


async def get_reader(
    request: Request, state: MinerStateDep, session: AsyncSessionDep, access: SamplesViewer
) -> OrderService:
    return _service(request, state, session, access)


async def get_writer(
    request: Request, state: MinerStateDep, session: AsyncSessionDep, access: SamplesEditor
) -> OrderService:
    return _service(request, state, session, access)


Reader = Annotated[OrderService, Depends(get_reader)]
Writer = Annotated[OrderService, Depends(get_writer)]


@router.get("", response_model=Page[OrderRead])
async def list_orders(
    request: Request,
    response: Response,
    page: PageParamsDep,
    orders: Reader,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    pipeline: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    created_after: IsoDateTime | None = None,
    created_before: IsoDateTime | None = None,
    has_samplesheet: Annotated[
        bool | None,
        Query(
            description="Only the orders with (true) or without (false) a samplesheet written "
            "for their run: what a run can take as input."
        ),
    ] = None,
) -> Page[OrderRead]:
    """This project's orders, newest first."""
    items, count = await orders.list_orders(
        status=status_.value if status_ else None,
        pipeline=pipeline,
        tag=tag,
        created_after=created_after,
        created_before=created_before,
        has_samplesheet=has_samplesheet,
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(request, response, page, items, count)


@router.post("", response_model=OrderRead, status_code=status.HTTP_201_CREATED)
async def create_order(
    order_create: OrderCreate, request: Request, response: Response, orders: Writer
) -> OrderRead:
    """Create an order for a pipeline (its latest version unless one is given), optionally
    with its samples and their roles."""
    created = await orders.create(order_create)
    response.headers["Location"] = str(request.url_for("get_order", order_id=created.id))
    return created


@router.get("/{order_id}", response_model=OrderRead)
async def get_order(order_id: uuid.UUID, orders: Reader) -> OrderRead:
    """An order, with its run and the run's state (from compute)."""
    return await orders.get_read(order_id)


@router.put("/{order_id}", response_model=OrderRead)
async def replace_order(
    order_id: uuid.UUID, order_update: OrderUpdate, orders: Writer
) -> OrderRead:
    """Replace an order's fields (while it is 'created')."""
    return await orders.replace(order_id, order_update)


@router.delete("/{order_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_order(order_id: uuid.UUID, orders: Writer) -> Response:
    """Delete a created or cancelled order."""
    await orders.delete(order_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{order_id}/samples", response_model=Page[OrderSampleRead])
async def list_order_samples(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    orders: Reader,
) -> Page[OrderSampleRead]:
    """The order's samples and their roles, in the order they were added."""
    items, count = await orders.list_samples(order_id, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.post("/{order_id}/samples", response_model=OrderRead)
async def add_order_samples(
    order_id: uuid.UUID, order_samples_add: OrderSamplesAdd, orders: Writer
) -> OrderRead:
    """Add samples, each with its role (proband, mother, tumour, normal…)."""
    return await orders.add_samples(order_id, order_samples_add.samples)


@router.delete("/{order_id}/samples/{sample_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_order_sample(
    order_id: uuid.UUID, sample_id: uuid.UUID, orders: Writer
) -> Response:
    """Take a sample out of a created order."""
    await orders.remove_sample(order_id, sample_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{order_id}/transition", response_model=OrderRead)
async def transition_order(
    order_id: uuid.UUID, order_transition: OrderTransitionRequest, orders: Writer
) -> OrderRead:
    """Move an order forward; to 'analyzing' also writes its samplesheet and starts a run."""
    return await orders.transition(order_id, order_transition.to, order_transition.note)


@router.get("/{order_id}/history", response_model=Page[TransitionRead])
async def get_order_history(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    orders: Reader,
) -> Page[TransitionRead]:
    """Every status change: who, when, from, to."""
    items, count = await orders.history(order_id, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.get(
    "/{order_id}/samplesheet",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "text/tab-separated-values": {}, "application/json": {}},
            "description": "The samplesheet (UTF-8, no BOM, LF line endings)",
        },
        422: {
            "description": "Samples do not fit the pipeline's schema (problem+json: each "
            "sample and column)"
        },
    },
)
async def get_order_samplesheet(
    order_id: uuid.UUID,
    orders: Reader,
    file_format: Annotated[SamplesheetFormat, Query(alias="format")] = "csv",
) -> StreamingResponse:
    """The order's nf-core samplesheet, built from the pipeline version's schema_input.json
    and checked against it first."""
    order, spool = await orders.samplesheet(order_id, file_format)
    extension = {"csv": "csv", "tsv": "tsv", "json": "json"}[file_format]
    return StreamingResponse(
        chunks(spool),
        media_type=SAMPLESHEET_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{order.display_id}.samplesheet.'
            f'{extension}"'
        },
    )
