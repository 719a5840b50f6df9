"""The route class of every nfhub API route: authentication runs before FastAPI's dependencies.

FastAPI resolves each dependency through its generic machinery: a recursive solve, a cache
key, three callable classifications. For one dependency that is ~10 µs of a ~40 µs request,
more than the authentication itself costs (bench/auth.py). Authentication is the one
dependency on almost every route, and it needs nothing but the request, so ``AuthFirstRoute``
calls it directly and hands its result to the endpoint. FastAPI still solves everything
else, and the route's OpenAPI (security schemes, scopes) comes from the unchanged dependant.

Authentication also runs first: a caller without a valid token gets its 401 before the body
is read or a database session is opened.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, NamedTuple

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from nfhub_shared.auth.dependencies import RequestAuth

# Where the handler leaves the authentication results for the endpoint wrapper.
RESOLVED_SCOPE_KEY = "nfhub.resolved_auth"
_REQUEST_PARAM = "_nfhub_request"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class AuthStep(NamedTuple):
    auth: RequestAuth
    scopes: tuple[str, ...]
    name: str | None  # the endpoint parameter, None for a route-level dependency


def _oauth_scopes(dependant: Dependant) -> tuple[str, ...]:
    """The scopes FastAPI's SecurityScopes would carry: the parents' then the dependency's own."""
    scopes = [*(dependant.parent_oauth_scopes or ()), *(dependant.own_oauth_scopes or ())]
    return tuple(dict.fromkeys(scopes))


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub_dependant in dependant.dependencies:
        yield sub_dependant.call
        yield from _calls(sub_dependant)


def _auth_steps(dependant: Dependant) -> list[AuthStep]:
    """The endpoint's own authentication dependencies that can run ahead of the others.

    One that appears again deeper in the tree stays with FastAPI: there, FastAPI calls it
    once per request and shares the result, which running it here as well would not.
    """
    calls = list(_calls(dependant))
    return [
        AuthStep(sub.call, _oauth_scopes(sub), sub.name)
        for sub in dependant.dependencies
        if isinstance(sub.call, RequestAuth) and calls.count(sub.call) == 1
    ]


def _endpoint_taking_resolved(
    endpoint: Callable[..., Any], request_param: str, keep_request: bool
) -> Callable[..., Any]:
    """``endpoint`` called with the results the handler left in the request's scope."""

    def arguments(values: dict[str, Any]) -> dict[str, Any]:
        request: Request = values[request_param] if keep_request else values.pop(request_param)
        values.update(request.scope[RESOLVED_SCOPE_KEY])
        return values

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def call_async(**values: Any) -> Any:
            return await endpoint(**arguments(values))

        return call_async

    @functools.wraps(endpoint)
    def call_sync(**values: Any) -> Any:
        return endpoint(**arguments(values))

    return call_sync


class AuthFirstRoute(APIRoute):
    """An APIRoute whose authentication dependencies run directly, ahead of FastAPI's solve.

    It also turns away other paths cheaply: the router asks every route in turn, and the
    regular expression and bookkeeping of a refusal cost ~1.5 µs, a tenth of a request for the
    tenth route of a service. A path with no parameters must equal the request's path; one
    with parameters must start with its text up to the first. Routes of this class are put
    on the app directly (``create_app``), never through ``include_router``, whose matching
    by an included router's context this does not know.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        literal, brace, _ = self.path.partition("{")
        self._static_path = None if brace else literal
        self._literal_prefix = literal
        # Paths of sibling routes this one's parameters must not swallow (reserve_literals).
        self._reserved_paths: frozenset[str] = frozenset()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not scope.get("root_path"):
            path: str = scope["path"]
            if self._static_path is not None:
                if path != self._static_path:
                    return Match.NONE, {}
            elif not path.startswith(self._literal_prefix) or path in self._reserved_paths:
                return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        endpoint = self.dependant.call
        steps = _auth_steps(self.dependant)
        if not steps or endpoint is None or _is_generator(endpoint):
            return standard
        keep_request = self.dependant.request_param_name is not None
        request_param = self.dependant.request_param_name or _REQUEST_PARAM
        pre_resolved = {id(step.auth) for step in steps}
        runtime = dataclasses.replace(
            self.dependant,
            dependencies=[
                sub for sub in self.dependant.dependencies if id(sub.call) not in pre_resolved
            ],
            call=_endpoint_taking_resolved(endpoint, request_param, keep_request),
            request_param_name=request_param,
        )
        # FastAPI's own handler, built for the dependant without the authentication steps.
        original, self.dependant = self.dependant, runtime
        try:
            fast = super().get_route_handler()
        finally:
            self.dependant = original
        overrides_provider = self.dependency_overrides_provider
        return _auth_first_handler(tuple(steps), fast, standard, overrides_provider)


def _auth_first_handler(
    steps: Sequence[AuthStep], fast: Handler, standard: Handler, overrides_provider: Any
) -> Handler:
    async def handler(request: Request) -> Response:
        if overrides_provider is not None and overrides_provider.dependency_overrides:
            # Tests replacing a dependency get FastAPI's own resolution, overrides and all.
            return await standard(request)
        resolved: dict[str, Any] = {}
        for step in steps:
            value = await step.auth.authenticate_request(request, step.scopes)
            if step.name is not None:
                resolved[step.name] = value
        request.scope[RESOLVED_SCOPE_KEY] = resolved
        return await fast(request)

    return handler


def _is_generator(endpoint: Callable[..., Any]) -> bool:
    """Streaming endpoints (SSE, JSON lines) are left to FastAPI entirely."""
    return inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint)


def add_routes(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """Put the router's routes on the app itself, under ``prefix``.

    ``include_router`` keeps each router as a branch that FastAPI matches lazily, walking the
    branch's routes twice for every request that reaches it; on the app's own list a request
    is matched once, which saves ~15 µs a request (bench/auth.py). The routes are rebuilt
    from their own settings, as ``include_router`` did before it kept branches.
    """
    for route in router.routes:
        if isinstance(route, APIRoute):
            app.router.add_api_route(
                prefix + route.path,
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=route.tags,
                dependencies=route.dependencies,
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses=route.responses,
                deprecated=route.deprecated,
                methods=route.methods,
                operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema,
                response_class=route.response_class,
                name=route.name,
                callbacks=route.callbacks,
                openapi_extra=route.openapi_extra,
                # The app's: the ids name operations the same way on every service.
                generate_unique_id_function=app.router.generate_unique_id_function,
                strict_content_type=route.strict_content_type,
                max_body_size=route.max_body_size,
                form_limits=route.form_limits or None,
                # A router's own route class wins; plain routes run authentication first.
                route_class_override=AuthFirstRoute if type(route) is APIRoute else type(route),
            )
        elif type(route) is Route:
            app.router.routes.append(
                TemplatedRoute(
                    prefix + route.path,
                    route.endpoint,
                    methods=sorted(route.methods) if route.methods else None,
                    name=route.name,
                    include_in_schema=route.include_in_schema,
                )
            )
        else:
            raise TypeError(f"{type(route).__name__} {route!r} cannot be added under {prefix!r}")


def reserve_literals(app: FastAPI) -> None:
    """Keep ``/samples/{sample_id}`` from matching ``/samples/import``.

    A path with parameters matches any text in their place, so ``PATCH /samples/import``
    was ``PATCH /samples/{sample_id}`` with a bad id (422) instead of a method that
    ``/samples/import`` does not take (405, ``Allow: POST``). Each route with parameters is
    told the literal paths of the app that its template also matches; it leaves them alone.
    """
    literal_paths = {
        route.path
        for route in app.router.routes
        if isinstance(route, Route) and "{" not in route.path
    }
    for route in app.router.routes:
        if isinstance(route, AuthFirstRoute) and route._static_path is None:
            route._reserved_paths = frozenset(
                path for path in literal_paths if route.path_regex.match(path)
            )


class TemplatedRoute(Route):
    """A plain Starlette route that names itself in the scope, as FastAPI's routes do: the
    metrics and the access log label its requests by its template, not as unmatched."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


# Where a group leaves the route it matched, for its handle().
GROUPED_ROUTE_SCOPE_KEY = "nfhub.grouped_route"


class PrefixRouteGroup(BaseRoute):
    """Routes under one path prefix, found ahead of the app's others with one test.

    The router asks every route in turn, in order: a root router's routes (compute's WES)
    come after every /api/v1 route, so each of their requests was first refused by some 50
    routes (~50 us a request, bench/wes.py). Put first, a group costs every other request
    one ``startswith``, and its own requests skip the rest. It only finds the route: the
    routes stay in the app's list, for OpenAPI and for what matches no route fully (a
    method the path does not take: the list's 405).
    """

    def __init__(self, prefix: str, routes: Sequence[BaseRoute]) -> None:
        self.prefix = prefix
        self.routes = tuple(routes)
        self._path_format: str | None = None

    @property
    def path_format(self) -> str | None:
        """The template of the route matched last: the router reads it (telemetry's route
        name) right after ``matches``, with no await in between."""
        return self._path_format

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    child_scope[GROUPED_ROUTE_SCOPE_KEY] = route
                    self._path_format = getattr(route, "path_format", None)
                    return Match.FULL, child_scope
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[GROUPED_ROUTE_SCOPE_KEY].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # the routes in the app's list answer


def match_first(app: FastAPI, prefix: str) -> None:
    """The app's routes under ``prefix`` (which no other route's path may start with) are
    matched before all others (PrefixRouteGroup)."""
    grouped = [
        route
        for route in app.router.routes
        if isinstance(route, Route) and route.path.startswith(prefix)
    ]
    app.router.routes.insert(0, PrefixRouteGroup(prefix, grouped))
