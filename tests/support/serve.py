"""A live stack's admin process: ``python -m nfhub_shared.serve``'s command line (uvicorn's),
run after admin's password hashing is set to the cheapest argon2id parameters
(support/passwords.py), as it is in the in-process tests.

Run as a script (``python tests/support/serve.py nfhub_admin.main:create_app --factory ...``):
the arguments are uvicorn's. The same argon2id code hashes and verifies every password; only
what a hash costs changes, which no test is about, and a live admin pays it at every login,
password set and user created (the fuzzer sends hundreds). ``make run``'s stack
(scripts/devstack.py) keeps the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    # tests/, for `support`; not the script's own folder (Python puts it first), where
    # support's modules (settings, web, admin, openapi, ...) would pass for top-level ones.
    support = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != support]
    sys.path.insert(0, str(support.parent))
    from nfhub_shared import serve
    from nfhub_shared.startup import process_start

    with process_start():
        from support import passwords

        passwords.install()
    serve.main()  # uvicorn's command line, as the other services' (nfhub_shared.serve)


if __name__ == "__main__":
    main()
