from __future__ import annotations

from pathlib import Path

import pytest

from nfhub_compute.backends.local import LocalBackend


@pytest.fixture
def invocations(tmp_path: Path) -> Path:
    """Where the stand-in records each nextflow it was started as (one JSON line each)."""
    return tmp_path / "invocations.jsonl"


@pytest.fixture
def backend(tmp_path: Path, invocations: Path) -> LocalBackend:
    return LocalBackend(
        tmp_path / "work", env={"NFHUB_FAKE_NEXTFLOW_INVOCATIONS": str(invocations)}
    )
