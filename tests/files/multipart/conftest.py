"""Multipart tests use 1 KiB parts: the planning rules are the same, the bytes are few."""

from __future__ import annotations

import pytest

from nfhub_files.config import Settings

MIN_PART = 1024


@pytest.fixture
def files_settings(files_settings: Settings) -> Settings:
    return files_settings.model_copy(update={"MULTIPART_MIN_PART_BYTES": MIN_PART})
