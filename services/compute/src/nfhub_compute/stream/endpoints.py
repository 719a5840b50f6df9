"""Server-Sent Events of runs: ``GET /runs/{id}/stream`` and ``GET /runs/stream``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from nfhub_compute.runs.states import RunState
from nfhub_compute.state import ComputeState, SettingsDep
from nfhub_compute.stream.service import StreamHub, StreamService
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/runs", tags=["runs"])

RunsViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "runs:read")]

EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx (and others honouring it) would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}
EVENT_LINES = (
    "`id:` (the event's id, for Last-Event-ID), `event:` (run | progress | task | log) and "
    "one JSON `data:` line per event; a `: keep-alive` comment line when idle."
)
STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"An endless text/event-stream: {EVENT_LINES}",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    }
}
RUN_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"A text/event-stream: {EVENT_LINES} It ends once the run has ended: "
        "after the `run` event of its final state (COMPLETE, EXECUTOR_ERROR, SYSTEM_ERROR, "
        "CANCELED), the run's events of the next COMPUTE_STREAM_END_GRACE_SECONDS (2 s by "
        "default: the last log lines) come, then `event: end` (`data`: run_id, run_state; "
        "its `id:` is the run's last event's) and the response closes. A run that has "
        "already ended: without Last-Event-ID, its current state as a `run` event, then "
        "`end`; with one, what was missed, then `end`. An EventSource client should close() "
        "on `end` (it would otherwise reconnect and be told `end` again).",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    }
}
LastEventIdHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=32,
        description="Resume after this event (EventSource sends it on reconnect); 0: from the "
        "oldest event kept. Digits only: anything else is a 400.",
    ),
]
LastEventIdQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=9_223_372_036_854_775_807,
        description="The same as the Last-Event-ID header, for clients that cannot set one "
        "(the header wins when both are given).",
    ),
]


class StreamState(ComputeState):
    """compute's state with the streams' hub (set by main's lifespan). Declared here rather
    than in nfhub_compute.state, which sits below every domain and imports none."""

    stream_hub: StreamHub


async def get_stream(
    request: Request, settings: SettingsDep, session: AsyncSessionDep, access: RunsViewer
) -> StreamService:
    hub = StreamState.of(request.app).stream_hub
    return StreamService(
        session,
        access,
        hub,
        heartbeat=settings.STREAM_HEARTBEAT_SECONDS,
        end_grace=settings.STREAM_END_GRACE_SECONDS,
    )


Stream = Annotated[StreamService, Depends(get_stream)]


def _resume_from(header: str | None, query: int | None) -> str | None:
    return header if header is not None else (None if query is None else str(query))


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
async def stream_runs(
    stream: Stream,
    state: Annotated[
        list[RunState] | None,
        Query(description="Only events of runs in these states (repeat for several)"),
    ] = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> StreamingResponse:
    """Live events of the project's runs: state changes and task counters (Server-Sent Events)."""
    subscription = await stream.open(
        run_id=None,
        last_event_id=_resume_from(last_event_id_header, last_event_id),
        states=[s.value for s in state] if state else (),
    )
    return StreamingResponse(
        stream.events(subscription), media_type=EVENT_STREAM, headers=STREAM_HEADERS
    )


@router.get(
    "/{run_id}/stream",
    response_class=StreamingResponse,
    responses=RUN_STREAM_RESPONSES,
)
async def stream_run(
    run_id: uuid.UUID,
    stream: Stream,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> StreamingResponse:
    """Live events of one run: state, task changes, counters and log lines (Server-Sent Events),
    until the run has ended."""
    subscription = await stream.open(
        run_id=run_id, last_event_id=_resume_from(last_event_id_header, last_event_id)
    )
    return StreamingResponse(
        stream.events(subscription), media_type=EVENT_STREAM, headers=STREAM_HEADERS
    )
