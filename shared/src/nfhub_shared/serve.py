"""``python -m nfhub_shared.serve PACKAGE.main:create_app --factory [OPTIONS]``: uvicorn's
command line (same arguments, same behaviour), with the app's module imported first under
``startup.process_start()``: the service's start and its exit cost less CPU, and its
long-lived objects stay out of every later collection.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

from nfhub_shared.startup import process_start


def main() -> None:
    app = sys.argv[1] if len(sys.argv) > 1 else ""
    with process_start():
        from uvicorn.main import main as uvicorn

        module, _, attribute = app.partition(":")
        if attribute and not module.startswith("-"):
            # One that does not import is uvicorn's to report, as it would without this.
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
    uvicorn()  # reads sys.argv, as `python -m uvicorn` does; finds the module imported


if __name__ == "__main__":
    main()
