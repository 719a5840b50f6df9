"""What free-text search finds a subject or a sample by (kept in ``search_text`` on write)."""

from __future__ import annotations

from nfhub_miner.fields import search_text
from nfhub_miner.models import Sample, Subject


def subject_search_text(subject: Subject) -> str:
    return search_text(
        subject.display_id,
        subject.external_id,
        subject.diagnosis,
        subject.tags,
        subject.properties,
    )


def sample_search_text(sample: Sample, subject_display_id: str | None = None) -> str:
    return search_text(
        sample.display_id,
        sample.external_id,
        sample.barcode,
        sample.tissue,
        subject_display_id,
        sample.tags,
        sample.properties,
    )
