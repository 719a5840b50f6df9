"""Run states (GA4GH WES names) and the moves between them.

States only move forward. The one loop is RUNNING ⇄ UNKNOWN: a silent run becomes UNKNOWN and
comes back with the next event or the backend's answer. CANCELING ends only in CANCELED, once
the backend confirms the launcher is gone.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    UNKNOWN = "UNKNOWN"
    CANCELING = "CANCELING"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def live(self) -> bool:
        """Submitted (or being submitted) and not finished: the reconciler watches it."""
        return self in LIVE_STATES


TERMINAL_STATES = frozenset(
    {RunState.COMPLETE, RunState.EXECUTOR_ERROR, RunState.SYSTEM_ERROR, RunState.CANCELED}
)
LIVE_STATES = frozenset(
    {RunState.INITIALIZING, RunState.RUNNING, RunState.UNKNOWN, RunState.CANCELING}
)
_FINISHED_BY_BACKEND = {RunState.COMPLETE, RunState.EXECUTOR_ERROR, RunState.SYSTEM_ERROR}

ALLOWED_MOVES: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.INITIALIZING, RunState.CANCELED, RunState.SYSTEM_ERROR}),
    RunState.INITIALIZING: frozenset(
        {RunState.RUNNING, RunState.CANCELING, RunState.CANCELED, *_FINISHED_BY_BACKEND}
    ),
    RunState.RUNNING: frozenset({RunState.UNKNOWN, RunState.CANCELING, *_FINISHED_BY_BACKEND}),
    RunState.UNKNOWN: frozenset({RunState.RUNNING, RunState.CANCELING, *_FINISHED_BY_BACKEND}),
    RunState.CANCELING: frozenset({RunState.CANCELED}),
    **{state: frozenset() for state in TERMINAL_STATES},
}

# Where a cancel request takes each state.
CANCEL_MOVES: dict[RunState, RunState] = {
    RunState.QUEUED: RunState.CANCELED,
    RunState.INITIALIZING: RunState.CANCELING,
    RunState.RUNNING: RunState.CANCELING,
    RunState.UNKNOWN: RunState.CANCELING,
}


def can_move(source: RunState, target: RunState) -> bool:
    return target in ALLOWED_MOVES[source]


def states_that_can_move_to(target: RunState) -> tuple[str, ...]:
    """For guarded UPDATEs: the states from which ``target`` is a legal move."""
    return tuple(sorted(state.value for state, moves in ALLOWED_MOVES.items() if target in moves))
