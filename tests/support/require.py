"""Skipping for a missing part (Chromium, Redis, the team's fixtures, slurm…) is for developer
machines only: in CI (``CI=true``) the same test fails, so a green CI means it ran."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_or_skip(reason: str, *, allow_module_level: bool = False) -> NoReturn:
    """Skip with ``reason``, or fail with it when running in CI."""
    if in_ci():
        pytest.fail(f"CI=true, and {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


def require_dir(path: Path, what: str) -> Path:
    """``path`` when it is a folder, else :func:`require_or_skip`."""
    if not path.is_dir():
        require_or_skip(f"{what} are not at {path}")
    return path
