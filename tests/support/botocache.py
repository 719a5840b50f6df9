"""One botocore data loader per test process, not one per boto session.

Every S3 storage the files service builds starts a boto session, and each session's loader
parses S3's service model again (a few MB of JSON): ~0.2 s of CPU per s3 test's app. The loader
only reads botocore's own data files and keeps what it parsed, so the tests share one per data
path (AWS_DATA_PATH) across sessions.

If botocore stops having this function, nothing is shared and the suite is only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NAME = "create_loader"


def _cached(original: Callable[..., Any]) -> Callable[..., Any]:
    built: dict[str | None, Any] = {}

    def cached(search_path_string: str | None = None) -> Any:
        loader = built.get(search_path_string)
        if loader is None:
            loader = built[search_path_string] = original(search_path_string)
        return loader

    return cached


def install() -> None:
    try:
        import botocore.session
    except ImportError:
        return
    original = getattr(botocore.session, NAME, None)
    if original is not None and not getattr(original, "nfhub_cached", False):
        cached = _cached(original)
        cached.nfhub_cached = True  # type: ignore[attr-defined]
        setattr(botocore.session, NAME, cached)
