"""Work out each route's dependency graph and response model once per test process, not once
per app.

Every test builds its services' apps afresh (their state must be fresh), and FastAPI works out
each route's dependency graph (``Dependant``) from the endpoint's signature, and a pydantic
adapter for its response model, again every time: most of building an app, a tenth of a
second per service per test. A route whose body is several parameters (or embedded, or a
form) also gets a pydantic model built for its body, every time. All are pure functions of
objects that are the same from one app to the next (the endpoint, its path, the route's
dependencies; the response type; the body parameters of the kept dependency graph), so they
are kept, for the tests only. An app is still built whole per test: its state, routes,
handlers and dependency overrides are its own.

If FastAPI stops having these functions, nothing is kept and the suite is only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import fastapi.routing

DEPENDANT = "_build_dependant_with_parameterless_dependencies"
RESPONSE_FIELD = "create_model_field"
BODY_FIELD = "_get_body_field"


def _cached_dependants(original: Callable[..., Any]) -> Callable[..., Any]:
    built: dict[Hashable, tuple[Any, tuple[Any, ...]]] = {}

    def cached(*, path: str, call: Callable[..., Any], dependencies: Sequence[Any]) -> Any:
        # By identity: the entry keeps the dependencies alive, so no id is reused meanwhile.
        key = (path, call, tuple(id(depends) for depends in dependencies))
        entry = built.get(key)
        if entry is None:
            answer = original(path=path, call=call, dependencies=dependencies)
            entry = built[key] = (answer, tuple(dependencies))
        return entry[0]

    return cached


def _cached_response_fields(original: Callable[..., Any]) -> Callable[..., Any]:
    built: dict[Hashable, Any] = {}

    def cached(*args: Any, **kwargs: Any) -> Any:
        # Only the routes' own calls: name, type and mode, all by keyword.
        if args or set(kwargs) != {"name", "type_", "mode"}:
            return original(*args, **kwargs)
        key = (kwargs["name"], kwargs["type_"], kwargs["mode"])
        try:
            field = built.get(key)
        except TypeError:  # an unhashable type annotation
            return original(**kwargs)
        if field is None:
            field = built[key] = original(**kwargs)
        return field

    return cached


def _cached_body_fields(original: Callable[..., Any]) -> Callable[..., Any]:
    built: dict[Hashable, tuple[Any, list[Any]]] = {}

    def cached(*, body_params: list[Any], name: str, embed_body_fields: bool) -> Any:
        if not body_params:  # no body: nothing is built, nor kept
            return original(body_params=body_params, name=name, embed_body_fields=embed_body_fields)
        # By identity: the kept dependency graphs hand out the same list every time; the
        # entry keeps it alive, so no id is reused meanwhile.
        key = (id(body_params), name, embed_body_fields)
        entry = built.get(key)
        if entry is None:
            answer = original(
                body_params=body_params, name=name, embed_body_fields=embed_body_fields
            )
            entry = built[key] = (answer, body_params)
        return entry[0]

    return cached


WRAPPERS = (
    (DEPENDANT, _cached_dependants),
    (RESPONSE_FIELD, _cached_response_fields),
    (BODY_FIELD, _cached_body_fields),
)


def install() -> None:
    for name, wrap in WRAPPERS:
        original = getattr(fastapi.routing, name, None)
        if original is not None and not getattr(original, "nfhub_cached", False):
            cached = wrap(original)
            cached.nfhub_cached = True  # type: ignore[attr-defined]
            setattr(fastapi.routing, name, cached)
