"""A real stack (admin, files, compute under uvicorn) on a committed database, per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.live import LiveStack, live_stack

HELLO_SHEET = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"
TWO_SAMPLES = HELLO_SHEET + b"S2,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz\n"


@pytest.fixture(scope="module")
def stack(
    nfhub_fresh_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with nfhub_fresh_database() as database_url:
        root = tmp_path_factory.mktemp("live")
        with live_stack(root, database_url) as running:
            running.register_hello()
            running.upload("sheets/one.csv", HELLO_SHEET)
            running.upload("sheets/two.csv", TWO_SAMPLES)
            yield running
