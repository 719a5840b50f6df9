from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from nfhub_compute.events.service import EventService
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/runs", tags=["events"])

WEBLOG_EVENT_SCHEMA = {
    "type": "object",
    "description": "One event of Nextflow's weblog (-with-weblog): started, process_submitted, "
    "process_started, process_completed, error or completed. Unknown fields are ignored.",
    "properties": {
        "event": {"type": "string", "examples": ["process_completed"]},
        "runName": {"type": "string"},
        "runId": {"type": "string", "description": "Nextflow's session id (reused on resume)"},
        "utcTime": {"type": "string", "format": "date-time"},
        "metadata": {"type": "object", "description": "started/completed: workflow, parameters"},
        "trace": {"type": "object", "description": "process_* and error: the task's trace"},
    },
    "additionalProperties": True,
}


@router.post(
    "/{run_id}/events",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WEBLOG_EVENT_SCHEMA}},
        }
    },
    responses={400: {"description": "Not a JSON object (problem+json); nothing stored"}},
)
async def ingest_run_event(
    run_id: uuid.UUID,
    request: Request,
    session: AsyncSessionDep,
    token: Annotated[
        str | None, Query(max_length=128, description="The run's weblog secret (from its URL)")
    ] = None,
) -> Response:
    """Nextflow's weblog target for one run; the secret in the URL is the credential."""
    events = EventService(session, request.app.state.settings)
    events.authenticate(run_id, token)
    await events.ingest(run_id, await request.body())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
