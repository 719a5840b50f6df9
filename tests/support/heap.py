"""The cyclic garbage collector of a test process, set for a heap the size of the suite's.

After collection a pytest process holds every module the suite imports and every collected
test: hundreds of thousands of objects that live until it exits. Python's collector walks
all of them again at every full collection, and an in-process test makes enough cyclic
garbage (four apps, their routes, dependency graphs, engines, clients) to set one off every
few tests: the collector's full passes were a large share of the suite's CPU.

So once collection is done, what exists is frozen (``gc.freeze``: moved where the collector
no longer looks; it is never garbage, as the test items are needed to the end), and the
young generation is collected every 20,000 allocations instead of every 700, the middle one
every 50 young collections instead of 10: most of a test's garbage then dies in a cheap pass
instead of being promoted and walked again in full collections. The collector still runs;
only when and over what changes. Processes the tests start (live stacks, the CLI) keep
Python's defaults.
"""

from __future__ import annotations

import gc

# Allocations between young collections, then young collections per middle one and middle
# ones per full one (Python's defaults: 700, 10, 10).
THRESHOLDS = (20_000, 50, 10)


def settle() -> None:
    """Freeze what exists now and collect young garbage less often (after collection)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
