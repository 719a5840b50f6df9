"""Nextflow's weblog target. A plain Starlette route, not a FastAPI one: Nextflow posts every
task change of every run here, and FastAPI's per-request parameter machinery cost a fifth of
the throughput (bench/compute.py). It is documented in OpenAPI by OPENAPI_PATHS."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status

from nfhub_compute.events.service import EventService
from nfhub_compute.state import ComputeState
from nfhub_shared.errors import NotFound

router = APIRouter(tags=["events"])
MAX_TOKEN_CHARS = 128


async def ingest_run_event(request: Request) -> Response:
    """Nextflow's weblog target for one run; the secret in the URL is the credential."""
    state = ComputeState.of(request.app)
    try:
        run_id = uuid.UUID(request.path_params["run_id"])
    except ValueError as exc:
        raise NotFound("No such run: the URL is not one nfhub gave to Nextflow.") from exc
    events = EventService(state.settings, state.event_writer)
    events.authenticate(run_id, request.query_params.get("token", "")[:MAX_TOKEN_CHARS])
    event = events.read(await request.body())
    await events.store(run_id, event)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.add_route(
    "/runs/{run_id}/events", ingest_run_event, methods=["POST"], include_in_schema=False
)

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
_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/runs/{run_id}/events": {
        "post": {
            "tags": ["events"],
            "summary": "Ingest Run Event",
            "description": str(ingest_run_event.__doc__),
            "operationId": "ingest_run_event",
            "parameters": [
                {
                    "name": "run_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
                {
                    "name": "token",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "maxLength": MAX_TOKEN_CHARS},
                    "description": "The run's weblog secret (from its URL)",
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WEBLOG_EVENT_SCHEMA}},
            },
            "responses": {
                "204": {
                    "description": "Stored (or, with nothing to store, taken as a sign of life)"
                },
                "400": {"description": "Not a JSON object; nothing stored", "content": _PROBLEM},
                "401": {"description": "The secret is not this run's", "content": _PROBLEM},
                "404": {"description": "The URL names no run", "content": _PROBLEM},
                "413": {"description": "Larger than MAX_REQUEST_BODY_BYTES", "content": _PROBLEM},
                "503": {
                    "description": "Not stored: the writer's queue is full, or the transaction "
                    "that held the event failed (Retry-After says when to post again)",
                    "content": _PROBLEM,
                },
            },
        }
    }
}
