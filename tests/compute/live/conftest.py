"""A real stack (admin, files, compute, miner under uvicorn) on a committed database, shared
by the modules of the same settings (support/shared_stacks.py): each module a tenant of its own
with the test pipeline and two samplesheets."""

from __future__ import annotations

import pytest

from support.live import LiveStack

HELLO_SHEET = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"
TWO_SAMPLES = HELLO_SHEET + b"S2,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz\n"


@pytest.fixture(scope="module")
def stack(shared_stack: LiveStack) -> LiveStack:
    shared_stack.register_hello()
    shared_stack.upload("sheets/one.csv", HELLO_SHEET)
    shared_stack.upload("sheets/two.csv", TWO_SAMPLES)
    return shared_stack
