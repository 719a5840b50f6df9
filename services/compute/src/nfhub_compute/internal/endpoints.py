"""Endpoints other nfhub services call with a service token (never users)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from nfhub_compute.internal.schemas import RunStateRead, RunStates, RunStatesRequest
from nfhub_compute.internal.service import InternalQueries
from nfhub_shared.auth.dependencies import InternalService
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/internal", tags=["internal"])


async def get_internal_queries(session: AsyncSessionDep) -> InternalQueries:
    return InternalQueries(session)


InternalQueriesDep = Annotated[InternalQueries, Depends(get_internal_queries)]


@router.post("/run-states", response_model=RunStates)
async def get_run_states(
    run_states_request: RunStatesRequest,
    queries: InternalQueriesDep,
    _service: InternalService,
) -> RunStates:
    """The state of each run asked for, in any project: miner follows its orders' runs."""
    runs = await queries.run_states(run_states_request.ids)
    return RunStates(items=[RunStateRead.model_validate(run) for run in runs])
