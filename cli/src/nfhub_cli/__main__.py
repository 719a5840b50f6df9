"""The ``nfhub`` process (the console script, and ``python -m nfhub_cli``): the command line's
modules imported with the cyclic garbage collector paused, then frozen (gc.freeze: no later
collection, nor the interpreter's at exit, walks them again), without httpx's own command
line (click, rich's and pygments' lexers), which nfhub never runs. nfhub_shared.startup does
the same for the services; the CLI is a package of its own and does not depend on it.
"""

from __future__ import annotations

import gc
import sys


def main() -> None:
    if "httpx" not in sys.modules:
        # httpx then defines the stub it has for a missing CLI (httpx.main says to install it).
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    gc.disable()
    try:
        from nfhub_cli.main import main as cli
    finally:
        gc.freeze()
        gc.enable()
    cli()


if __name__ == "__main__":
    main()
