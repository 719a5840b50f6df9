"""What services ask admin and files over HTTP (never by importing their code).

admin, with a service token: where a project's storage is. files, with the caller's own
token, so that files applies the caller's role and scopes: whether paths exist, listings,
signed download URLs, and uploads (two steps: a signed URL, then the bytes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from nfhub_shared.auth.tokens import SERVICE_CALL_HEADER, ServiceTokens
from nfhub_shared.cache import ExpiringCache
from nfhub_shared.errors import (
    AppError,
    BadRequest,
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

logger = structlog.get_logger("nfhub.clients")

TIMEOUT_SECONDS = 10.0
BATCH = 500  # paths per batch call (the files service's limit)
# A project's storage location only changes with the deployment's configuration.
LOCATION_TTL_SECONDS = 300.0
WORKSPACE_TTL_SECONDS = 3600.0
UNKNOWN_WORKSPACE_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class StorageLocation:
    backend: str
    uri: str  # the project's prefix as a URI, ending in '/'


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else response.reason_phrase


class AdminClient:
    def __init__(
        self, client: httpx.AsyncClient, admin_url: str, service_tokens: ServiceTokens
    ) -> None:
        self.client = client
        self.admin_url = admin_url.rstrip("/")
        self.service_tokens = service_tokens
        self._locations: ExpiringCache[uuid.UUID, StorageLocation] = ExpiringCache(
            10_000, LOCATION_TTL_SECONDS
        )
        # A workspace id names one project for good: found ones are kept long, unknown ones
        # briefly (the project may be created in a moment).
        self._workspaces: ExpiringCache[int, uuid.UUID] = ExpiringCache(
            10_000, WORKSPACE_TTL_SECONDS
        )
        self._unknown_workspaces: ExpiringCache[int, bool] = ExpiringCache(
            10_000, UNKNOWN_WORKSPACE_TTL_SECONDS
        )

    async def workspace_project(self, workspace_id: int) -> uuid.UUID | None:
        """The project a workspace id (Nextflow's tower.workspaceId) names, None if none."""
        cached = self._workspaces.get(workspace_id)
        if cached is not None:
            return cached
        if self._unknown_workspaces.get(workspace_id):
            return None
        try:
            response = await self.client.post(
                f"{self.admin_url}/api/v1/internal/workspace-project",
                json={"workspace_id": workspace_id},
                headers={"Authorization": f"Bearer {self.service_tokens.token()}"},
                timeout=TIMEOUT_SECONDS,
            )
            if response.status_code == 404:
                self._unknown_workspaces.put(workspace_id, True)
                return None
            response.raise_for_status()
            project_id = uuid.UUID(str(response.json()["project_id"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            logger.warning("admin workspace-project failed", error=type(exc).__name__)
            raise ServiceUnavailable(
                "The admin service cannot say which project this workspace id names right "
                "now; try again shortly."
            ) from exc
        self._workspaces.put(workspace_id, project_id)
        return project_id

    async def storage_location(self, project_id: uuid.UUID) -> StorageLocation:
        cached = self._locations.get(project_id)
        if cached is not None:
            return cached
        try:
            response = await self.client.post(
                f"{self.admin_url}/api/v1/internal/storage-location",
                json={"project_id": str(project_id)},
                headers={"Authorization": f"Bearer {self.service_tokens.token()}"},
                timeout=TIMEOUT_SECONDS,
            )
            response.raise_for_status()
            body = response.json()
            location = StorageLocation(backend=str(body["backend"]), uri=str(body["uri"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            logger.warning("admin storage-location failed", error=type(exc).__name__)
            raise ServiceUnavailable(
                "The admin service cannot say where this project's storage is right now; "
                "try again shortly."
            ) from exc
        self._locations.put(project_id, location)
        return location


# How another service's refusal is passed on to our caller. A 429 keeps its Retry-After: the
# caller can wait it out as if it had called the other service itself.
PASSED_ON: dict[int, type[AppError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


class CallerClient:
    """Calls another service as the caller: same token, same project, same permissions.

    Each call also carries this service's own token in ``X-NFHub-Service``: the callee's rate
    limiter does not charge the caller's budget for work a service does on their behalf (the
    request that caused it was counted where it came in).
    """

    service = "service"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, *, service_tokens: ServiceTokens
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.service_tokens = service_tokens

    async def _call(
        self, method: str, path: str, token: str, project_id: uuid.UUID, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self.client.request(
                method,
                self.base_url + path,
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Project-ID": str(project_id),
                    SERVICE_CALL_HEADER: self.service_tokens.token(),
                },
                timeout=TIMEOUT_SECONDS,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            logger.warning("service call failed", service=self.service, path=path,
                           error=type(exc).__name__)  # fmt: skip
            raise ServiceUnavailable(
                f"The {self.service} service is not reachable right now; try again shortly."
            ) from exc

    def _body(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON body of a 2xx; the other service's own refusal, passed on, otherwise."""
        if response.is_success:
            try:
                body = response.json()
            except ValueError as exc:
                raise ServiceUnavailable(
                    f"The {self.service} service gave an unreadable answer."
                ) from exc
            if isinstance(body, dict):
                return body
            raise ServiceUnavailable(f"The {self.service} service gave an unexpected answer.")
        error = PASSED_ON.get(response.status_code)
        if error is None:
            logger.warning("service call refused", service=self.service,
                           status=response.status_code)  # fmt: skip
            error = ServiceUnavailable
        errors = None
        try:
            problem = response.json()
            if isinstance(problem, dict) and isinstance(problem.get("errors"), list):
                errors = [_passed_on(item) for item in problem["errors"] if isinstance(item, dict)]
        except ValueError:
            pass
        retry_after = response.headers.get("Retry-After")
        headers = {"Retry-After": retry_after} if retry_after and retry_after.isdigit() else None
        raise error(
            f"{self.service} service: {_problem_detail(response)}", errors=errors, headers=headers
        )


def _passed_on(item: dict[str, Any]) -> FieldProblem:
    """Another service's field error, as it said it (its location and extra keys kept)."""
    known = {"location", "field", "message", "type"}
    field = item.get("field")
    return FieldProblem(
        field=field if isinstance(field, str) else None,
        message=str(item.get("message", "")),
        type=str(item.get("type", "value_error")),
        location=str(item.get("location", "body")),
        context={key: value for key, value in item.items() if key not in known},
    )


class FilesClient(CallerClient):
    """The files service, called as the caller."""

    service = "files"

    async def stat(self, token: str, project_id: uuid.UUID, path: str) -> dict[str, Any] | None:
        """The file or folder at ``path``, or None when there is none."""
        response = await self._call(
            "GET", "/api/v1/files/stat", token, project_id, params={"path": path}
        )
        if response.status_code == 404:
            return None
        return self._body(response)

    async def stat_many(
        self, token: str, project_id: uuid.UUID, paths: list[str]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """(entries that exist, missing paths), 500 paths a call."""
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        unique = list(dict.fromkeys(paths))
        for start in range(0, len(unique), BATCH):
            response = await self._call(
                "POST", "/api/v1/files/stat", token, project_id,
                json={"paths": unique[start : start + BATCH]},
            )  # fmt: skip
            body = self._body(response)
            found += list(body.get("items", []))
            missing += [str(path) for path in body.get("missing", [])]
        return found, missing

    async def upload(
        self, token: str, project_id: uuid.UUID, path: str, data: bytes, content_type: str
    ) -> None:
        """Put a small file (a samplesheet) into the project's storage, as a user would."""
        ticket = self._body(
            await self._call(
                "POST", "/api/v1/files/upload-url", token, project_id,
                json={"path": path, "size": len(data), "content_type": content_type},
            )
        )  # fmt: skip
        try:
            response = await self.client.put(
                str(ticket["url"]),
                content=data,
                headers={str(k): str(v) for k, v in dict(ticket.get("headers") or {}).items()},
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("The storage did not take the upload; try again.") from exc
        if not response.is_success:
            logger.warning("upload refused", status=response.status_code)
            raise ServiceUnavailable(f"The storage refused the upload ({response.status_code}).")

    async def delete(self, token: str, project_id: uuid.UUID, path: str) -> None:
        response = await self._call(
            "DELETE", "/api/v1/files", token, project_id, params={"path": path}
        )
        if response.status_code != 404:
            self._body(response)

    async def list_folder(
        self, token: str, project_id: uuid.UUID, path: str, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        response = await self._call(
            "GET",
            "/api/v1/files",
            token,
            project_id,
            params={"path": path, "limit": limit, "offset": offset},
        )
        if response.status_code == 404:
            return [], 0
        body = self._body(response)
        return list(body.get("items", [])), int(body.get("count", 0))

    async def download_urls(
        self, token: str, project_id: uuid.UUID, paths: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Signed download URLs for many files in one call, by path."""
        if not paths:
            return {}
        response = await self._call(
            "POST", "/api/v1/files/download-urls", token, project_id, json={"paths": paths}
        )
        body = self._body(response)
        return {str(item["path"]): item for item in body.get("items", [])}
