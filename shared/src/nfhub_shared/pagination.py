"""`limit`/`offset` paging: ``{items, count, limit, offset}`` bodies and an RFC 8288 Link header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

ItemT = TypeVar("ItemT")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    count: int
    limit: int
    offset: int


def link_header(request: Request, params: PageParams, count: int) -> str | None:
    links: list[str] = []

    def url_for(offset: int) -> str:
        return str(request.url.include_query_params(limit=params.limit, offset=offset))

    links.append(f'<{url_for(0)}>; rel="first"')
    if params.offset > 0:
        links.append(f'<{url_for(max(params.offset - params.limit, 0))}>; rel="prev"')
    if params.offset + params.limit < count:
        links.append(f'<{url_for(params.offset + params.limit)}>; rel="next"')
    last_offset = max((count - 1) // params.limit * params.limit, 0)
    links.append(f'<{url_for(last_offset)}>; rel="last"')
    return ", ".join(links)


def _page_headers(request: Request, response: Response, params: PageParams, count: int) -> None:
    link = link_header(request, params, count)
    if link:
        response.headers["Link"] = link
    response.headers["X-Total-Count"] = str(count)


def paginate(
    request: Request,
    response: Response,
    params: PageParams,
    items: Sequence[ItemT],
    count: int,
) -> dict[str, object]:
    """The page body (validated against ``Page[XRead]`` by the route) plus its Link header.

    Items stay ORM objects here; the response model reads them with ``from_attributes``.
    Routes that return typed results use ``page_of`` instead.
    """
    _page_headers(request, response, params, count)
    return {"items": list(items), "count": count, "limit": params.limit, "offset": params.offset}


def page_of(
    request: Request,
    response: Response,
    params: PageParams,
    items: Sequence[ItemT],
    count: int,
) -> Page[ItemT]:
    """The page (typed) plus its Link and X-Total-Count headers.

    Items may be ORM objects or read models: the route's ``response_model`` (``Page[XRead]``)
    reads them with ``from_attributes``. The page is left unparametrised at run time so that
    pydantic never builds a schema for an ORM class.
    """
    _page_headers(request, response, params, count)
    return Page(items=list(items), count=count, limit=params.limit, offset=params.offset)
