"""The orders pages: the list, the create form, an order with its samples, samplesheet, moves
and history. Whatever miner refuses is shown beside the field or the action it concerns."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem, FieldError, unless_refused
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.forms import FormErrors, read_json
from nfhub_web.orders.schemas import (
    ORDER_SAMPLES_PER_PAGE,
    ORDER_STATUSES,
    ORDERS_PER_PAGE,
    PRIORITIES,
    SUGGESTED_ROLES,
    OrderFilters,
    OrderForm,
    OrderStatus,
)
from nfhub_web.orders.service import OrdersService
from nfhub_web.pages import MAX_OFFSET, error_page, render
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep

router = APIRouter()

# Statuses miner answers with when it refuses what a user asked: shown on the page, not as
# an error page (anything else, 404 included, is one).
REFUSALS = (400, 403, 409, 422)
MAX_FIELD = 10_000
Text = Annotated[str, Form(max_length=MAX_FIELD)]
SearchWords = Annotated[str, Query(max_length=100)]
# What miner names in the create form's refusals, and in the add-samples form's.
ORDER_FIELDS = ("display_id", "pipeline", "version", "mode", "priority", "tags", "notes", "params")
ADD_SAMPLE_FIELDS = ("sample_id", "role")


def as_uuid(value: str) -> uuid.UUID | None:
    """A picked id (the checkboxes' values are ids; anything else picks nothing)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def order_filters(
    # "" is the filter form's "(any)".
    status: Annotated[OrderStatus | Literal[""] | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OrderFilters:
    return OrderFilters(status or None, offset)


OrderFiltersDep = Annotated[OrderFilters, Depends(order_filters)]


@router.get("/orders")
async def list_orders(
    request: Request, session: ProjectSession, apis: ApisDep, filters: OrderFiltersDep
) -> Response:
    orders = await OrdersService(apis, session).list_orders(filters)
    return render(
        request,
        "orders/list.html",
        session,
        orders=orders,
        filters=filters,
        statuses=ORDER_STATUSES,
        per_page=ORDERS_PER_PAGE,
    )


async def form_page(
    request: Request,
    session: ActiveSession,
    service: OrdersService,
    form: OrderForm,
    problem: ApiProblem | None = None,
) -> Response:
    return render(
        request,
        "orders/new.html",
        session,
        status_code=problem.status if problem else 200,
        form=form,
        problem=problem,
        errors=FormErrors.of(problem, ORDER_FIELDS),
        pipelines=await service.pipeline_choices(),
        priority_options=[(priority, priority) for priority in PRIORITIES],
    )


@router.get("/orders/new")
async def new_order(request: Request, session: ProjectSession, apis: ApisDep) -> Response:
    return await form_page(request, session, OrdersService(apis, session), OrderForm())


def order_body(form: OrderForm) -> dict[str, Any]:
    """The create form as miner's OrderCreate; ``params`` must be a JSON text (ValueError)."""
    body: dict[str, Any] = {
        "display_id": form.display_id.strip(),
        "pipeline": form.pipeline.strip(),
        "mode": form.mode.strip() or "standard",
        "priority": form.priority,
        "tags": form.tag_list(),
    }
    if form.version.strip():
        body["version"] = form.version.strip()
    if form.notes.strip():
        body["notes"] = form.notes
    if form.params.strip():
        body["params"] = read_json(form.params)
    return body


@router.post("/orders")
async def create_order(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    display_id: Text = "",
    pipeline: Text = "",
    version: Text = "",
    mode: Text = "",
    priority: Text = "medium",
    notes: Text = "",
    tags: Text = "",
    params: Text = "",
) -> Response:
    form = OrderForm(display_id, pipeline, version, mode, priority, notes, tags, params)
    service = OrdersService(apis, session)
    try:
        body = order_body(form)
    except ValueError as exc:
        # Reading the form's JSON is web's part; what the params must hold is miner's.
        problem = ApiProblem(
            422,
            "Not valid",
            "The parameters are not JSON.",
            [FieldError("params", f"Not JSON: {exc}")],
        )
        return await form_page(request, session, service, form, problem)
    try:
        order = await service.create(body)
    except ApiProblem as problem:
        if problem.status not in REFUSALS:
            raise
        return await form_page(request, session, service, form, problem)
    return RedirectResponse(f"/orders/{order.id}", status_code=303)


async def order_page(
    request: Request,
    session: ActiveSession,
    service: OrdersService,
    order_id: uuid.UUID,
    *,
    sample_offset: int = 0,
    problem: ApiProblem | None = None,
    section: str | None = None,
    words: str = "",
) -> Response:
    view = await service.view(order_id, sample_offset)
    found, search_problem = await unless_refused(service.find_samples(words), REFUSALS)
    return render(
        request,
        "orders/detail.html",
        session,
        status_code=problem.status if problem else 200,
        view=view,
        order=view.order,
        problem=problem,
        section=section,
        # A sample's add form: miner's samples.N.role is its role field's.
        errors=FormErrors.of(
            problem, ADD_SAMPLE_FIELDS if section == "samples" else (), items="samples"
        ),
        words=words,
        found=found,
        search_problem=search_problem,
        roles=SUGGESTED_ROLES,
        samples_per_page=ORDER_SAMPLES_PER_PAGE,
    )


@router.get("/orders/{order_id}")
async def get_order(
    request: Request,
    order_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    sample_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    q: SearchWords = "",
) -> Response:
    return await order_page(
        request,
        session,
        OrdersService(apis, session),
        order_id,
        sample_offset=sample_offset,
        words=q.strip(),
    )


@router.get("/orders/{order_id}/sample-picker")
async def pick_samples(
    request: Request,
    order_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    q: SearchWords = "",
) -> Response:
    """The samples matching the search: the picker's htmx fragment (the order page shows the
    same list when the search is sent without htmx)."""
    words = q.strip()
    found, search_problem = await unless_refused(
        OrdersService(apis, session).find_samples(words), REFUSALS
    )
    return render(
        request,
        "orders/_picker.html",
        session,
        order_id=order_id,
        found=found,
        search_problem=search_problem,
        words=words,
        oob=True,
    )


@router.post("/orders/{order_id}/samples")
async def add_samples(
    request: Request,
    order_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
    sample_id: Annotated[list[str] | None, Form(max_length=100)] = None,
    role: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    service = OrdersService(apis, session)
    picked = [chosen for value in sample_id or [] if (chosen := as_uuid(value)) is not None]
    try:
        if not picked:
            # Nothing picked is a form left empty, not a request to miner.
            raise ApiProblem(
                422,
                "Not valid",
                "Pick at least one sample to add.",
                [FieldError("sample_id", "Pick at least one sample.")],
            )
        await service.add_samples(order_id, picked, role.strip() or "sample")
    except ApiProblem as problem:
        if problem.status not in REFUSALS:
            raise
        return await order_page(
            request, session, service, order_id, problem=problem, section="samples"
        )
    return RedirectResponse(f"/orders/{order_id}#samples", status_code=303)


@router.post("/orders/{order_id}/samples/{sample_id}/remove")
async def remove_sample(
    request: Request,
    order_id: uuid.UUID,
    sample_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
) -> Response:
    service = OrdersService(apis, session)
    _, problem = await unless_refused(service.remove_sample(order_id, sample_id), REFUSALS)
    if problem is not None:
        return await order_page(
            request, session, service, order_id, problem=problem, section="samples"
        )
    return RedirectResponse(f"/orders/{order_id}#samples", status_code=303)


@router.post("/orders/{order_id}/transition")
async def move_order(
    request: Request,
    order_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
    to: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """One move of the status machine; miner says whether it is allowed (a page offers only
    the moves it listed, but a page can be stale, or the user not allowed to make it)."""
    service = OrdersService(apis, session)
    _, problem = await unless_refused(service.move(order_id, to, note.strip() or None), REFUSALS)
    if problem is not None:
        return await order_page(
            request, session, service, order_id, problem=problem, section="move"
        )
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.get("/orders/{order_id}/samplesheet")
async def preview_samplesheet(
    request: Request, order_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    """The samplesheet as a table, or why miner cannot build it (each sample and column)."""
    service = OrdersService(apis, session)
    order = await service.get(order_id)
    sheet, problem = await unless_refused(service.samplesheet(order_id), REFUSALS)
    return render(
        request,
        "orders/samplesheet.html",
        session,
        status_code=problem.status if problem else 200,
        order=order,
        sheet=sheet,
        problem=problem,
    )


@router.get("/orders/{order_id}/samplesheet.csv")
async def download_samplesheet(
    request: Request, order_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    """The CSV exactly as miner gives it, as a download."""
    try:
        sheet = await OrdersService(apis, session).samplesheet_file(order_id)
    except ApiProblem as problem:
        if problem.status not in REFUSALS:
            raise
        return error_page(
            request,
            problem.status,
            problem.detail,
            session=session,
            title="Cannot build the samplesheet",
            problem=problem,
        )
    return Response(
        sheet.content,
        media_type=sheet.media_type,
        headers={"Content-Disposition": sheet.disposition},
    )
