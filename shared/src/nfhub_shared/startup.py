"""A process's start: its imports with the cyclic garbage collector paused, then everything they
built moved out of the collector's sight; and no import of httpx's own command line.

Importing a service creates a few hundred thousand objects that live as long as the process
(modules, classes, pydantic validators, SQLAlchemy mappers, routes). While they are created
the collector keeps walking them, and every full collection afterwards walks them again, as
do the interpreter's last collections at exit. ``gc.freeze()`` moves them to the permanent
generation, which no collection looks at; the few cycles the imports left as garbage stay
(a few thousand objects), which is what the pause costs.

For a process's entry point only (a server's launch, the worker): never in code that a test
process imports as a library, whose own garbage would stay frozen with it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def skip_httpx_cli() -> None:
    """httpx imports its command-line client (click, rich, pygments) whenever they are
    installed, and they are: nfhub's CLI uses rich. No nfhub process runs httpx's command line;
    with its module marked missing, httpx defines the stub it has for that case instead (a
    ``httpx.main`` that says to install ``httpx[cli]``). Before httpx is first imported."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


@contextmanager
def process_start() -> Iterator[None]:
    """Run the block (a process's imports) without collections, then freeze what is alive."""
    skip_httpx_cli()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
