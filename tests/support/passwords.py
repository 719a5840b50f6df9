"""admin's password hashing with the cheapest argon2id parameters, in the test process only.

admin hashes with argon2's defaults (3 passes over 64 MiB on 4 lanes): tens of milliseconds
of CPU per hash or verification, hundreds under load, paid by every login, password set and
user created through the API, and by every login for an unknown name (the timing equaliser).
The tests check what the code does with a hash, not what a hash costs: the same argon2id
code runs here with 1 pass over argon2's least memory, 8 KiB (tests/support/factory.py's
users are hashed alike). The live stacks' admin processes start with them too
(support/serve.py); ``make run``'s stack (tests/e2e/test_make_run.py) and the CLI keep the
defaults.
"""

from __future__ import annotations

import anyio
from argon2 import PasswordHasher

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
MOVED = (
    "admin's password hashing is not where tests/support/passwords.py sets it "
    "(nfhub_admin.users.passwords: _hasher, _DUMMY_HASH, hash_password): update it"
)


def install() -> None:
    import nfhub_admin.users.passwords as passwords

    # admin's own code, not a library's: when its hashing moves, fail, rather than leave every
    # test (and every live admin) hashing at full cost unnoticed.
    if not (hasattr(passwords, "_hasher") and hasattr(passwords, "_DUMMY_HASH")):
        raise RuntimeError(MOVED)
    passwords._hasher = CHEAP
    passwords._DUMMY_HASH = CHEAP.hash("nfhub-timing-equaliser")
    # A hash names the parameters it was made with: admin's are CHEAP's now, or it moved.
    if CHEAP.check_needs_rehash(anyio.run(passwords.hash_password, "nfhub-probe")):
        raise RuntimeError(MOVED)
