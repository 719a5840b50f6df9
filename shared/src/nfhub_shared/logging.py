"""JSON structured logs; request id, principal and project ride along via contextvars.

nfhub's own events go through structlog's fast native path (an access log line costs a few
microseconds); other libraries' stdlib logging records are rendered the same way.

A request's fields (request id, service, principal, project) live in one dict in one context
variable, set once per request: structlog's own ``clear_contextvars``/``bind_contextvars``
walk every context variable and cost more than the rest of the request's logging
(bench/auth.py). structlog's contextvars still work for code outside requests.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Any

import structlog

_request_fields: ContextVar[dict[str, Any] | None] = ContextVar(
    "nfhub_request_log_fields", default=None
)


def begin_request_fields(**fields: Any) -> Token[dict[str, Any] | None]:
    """Start a request's log fields (a fresh dict: nothing leaks from an earlier request)."""
    return _request_fields.set(fields)


def end_request_fields(token: Token[dict[str, Any] | None]) -> None:
    _request_fields.reset(token)


def bind_request_fields(**fields: Any) -> None:
    """Add fields to the current request's log lines (outside a request: structlog's own)."""
    current = _request_fields.get()
    if current is None:
        structlog.contextvars.bind_contextvars(**fields)
    else:
        current.update(fields)


def request_fields() -> Mapping[str, Any]:
    return _request_fields.get() or structlog.contextvars.get_contextvars()


def merge_request_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    current = _request_fields.get()
    if current:
        for key, value in current.items():
            event_dict.setdefault(key, value)
    return event_dict


class StderrLogger:
    """Writes rendered lines to whatever ``sys.stderr`` is now (test capture swaps it)."""

    def msg(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger_factory(*_args: Any) -> StderrLogger:
    return StderrLogger()


class _CurrentStderr:
    """The stream of the stdlib handler: ``sys.stderr`` as it is at each write, not at setup."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_configured = False


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    global _configured
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        merge_request_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=_stderr_logger_factory,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(_CurrentStderr())
        handler.setFormatter(formatter)
        root.addHandler(handler)
        # uvicorn's access log repeats ours and prints the query string, which may hold a secret.
        logging.getLogger("uvicorn.access").disabled = True
        # httpx logs every request URL at INFO, query string included (signed URLs, secrets).
        logging.getLogger("httpx").setLevel(logging.WARNING)
        _configured = True
    root.setLevel(numeric_level)
