"""The four APIs as web calls them: over HTTP, as the user (their access token), never by
importing a service. Every answer above 399 becomes an ``ApiProblem`` carrying the API's own
problem+json, which the pages show as it is: no rule is decided here."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Container
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from nfhub_shared.logging import request_fields

logger = structlog.get_logger("nfhub.web.apis")

Service = Literal["admin", "compute", "files", "miner"]
ModelT = TypeVar("ModelT", bound=BaseModel)
AnswerT = TypeVar("AnswerT")


@dataclass(frozen=True)
class FieldError:
    field: str | None
    message: str
    # The data row it is about, when the request carried a sheet (miner's imports).
    row: int | None = None


@dataclass
class ApiProblem(Exception):
    """An API said no (or could not be reached): what its problem+json said."""

    status: int
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    error_id: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return cls(response.status_code, response.reason_phrase, response.text[:300])
        errors = [
            FieldError(
                str(item["field"]) if item.get("field") is not None else None,
                str(item.get("message", "")),
                item["row"] if type(item.get("row")) is int else None,
            )
            for item in body.get("errors") or []
            if isinstance(item, dict)
        ]
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase),
            detail=str(body.get("detail") or ""),
            errors=errors,
            error_id=str(body["error_id"]) if body.get("error_id") else None,
        )


async def unless_refused(
    answer: Awaitable[AnswerT], statuses: Container[int]
) -> tuple[AnswerT | None, ApiProblem | None]:
    """The API's answer, or its refusal when its status is one of ``statuses`` (what a page
    shows beside the search or form that caused it); any other problem goes on up, to the
    error page."""
    try:
        return await answer, None
    except ApiProblem as problem:
        if problem.status not in statuses:
            raise
        return None, problem


def unavailable(service: str) -> ApiProblem:
    return ApiProblem(
        503, "Service Unavailable", f"The {service} service does not answer; try again shortly."
    )


class Apis:
    """One httpx client (the lifespan's) and where each service is."""

    def __init__(
        self, http: httpx.AsyncClient, urls: dict[Service, str], timeout_seconds: float
    ) -> None:
        self.http = http
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.timeout = timeout_seconds

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        token: str | None = None,
        project_id: uuid.UUID | None = None,
        params: Any = None,
        json: Any = None,
        files: Any = None,
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if project_id is not None:
            headers["X-Project-ID"] = str(project_id)
        request_id = request_fields().get("request_id")
        if request_id:
            # The page's request id goes on: one id in web's log lines and the API's.
            headers["X-Request-ID"] = str(request_id)
        try:
            response = await self.http.request(
                method,
                f"{self.urls[service]}/api/v1{path}",
                headers=headers,
                params=params,
                json=json,
                files=files,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            logger.warning("api call failed", service=service, error=type(exc).__name__)
            raise unavailable(service) from exc
        if response.status_code >= 400:
            raise ApiProblem.from_response(response)
        return response

    async def read(
        self,
        model: type[ModelT],
        service: Service,
        path: str,
        *,
        method: str = "GET",
        **kwargs: Any,
    ) -> ModelT:
        """One call whose JSON answer is ``model``."""
        response = await self.call(service, method, path, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            logger.warning("api answer unreadable", service=service, path=path)
            raise ApiProblem(
                502, "Bad Gateway", f"The {service} service answered in a shape web cannot read."
            ) from exc
