"""Tower's refusals. Nextflow prints the ``message`` field of an error answer (its
``parseCause``), so every one carries its detail there too."""

from __future__ import annotations

from typing import Any

from nfhub_shared.errors import AppError, BadRequest, Forbidden, NotFound


def for_nextflow(error: type[AppError], detail: str, **kwargs: Any) -> AppError:
    return error(detail, extra={"message": detail}, **kwargs)


class TowerRunNotFound(NotFound):
    title = "No such Tower workflow"


def workflow_not_found(workflow_id: str) -> AppError:
    return for_nextflow(
        TowerRunNotFound,
        f"No run with workflow id {workflow_id!r} in this workspace; it comes from "
        f"nfhub's answer to POST /trace/create.",
    )


def missing_workspace() -> AppError:
    return for_nextflow(
        BadRequest,
        "Name the nfhub project: set tower.workspaceId in nextflow.config (or "
        "TOWER_WORKSPACE_ID) to the project's workspace_id, shown by GET /api/v1/projects/{id}.",
    )


def unknown_workspace(workspace: str) -> AppError:
    return for_nextflow(
        Forbidden,
        f"Workspace {workspace[:32]!r} is not an nfhub project you can report runs into: "
        f"check tower.workspaceId and that your token's user is an editor there.",
    )


def run_token_creates() -> AppError:
    return for_nextflow(
        Forbidden,
        "A run's own token reports that run only (TOWER_WORKFLOW_ID must name it); report "
        "other runs with a personal access token.",
    )
