"""The per-run secret in Nextflow's ``-with-weblog`` URL.

It is an HMAC of the run id under COMPUTE_WEBLOG_SECRET: nothing to store, checked without a
database read on every event, and one run's secret says nothing about another's.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from nfhub_compute.config import Settings
from nfhub_shared.auth.tokens import secrets_match


def weblog_token(settings: Settings, run_id: uuid.UUID) -> str:
    key = settings.WEBLOG_SECRET.get_secret_value().encode()
    return hmac.new(key, b"nfhub-weblog:" + run_id.bytes, hashlib.sha256).hexdigest()


def weblog_token_valid(settings: Settings, run_id: uuid.UUID, token: str) -> bool:
    return secrets_match(weblog_token(settings, run_id), token)


def weblog_url(settings: Settings, run_id: uuid.UUID) -> str:
    base = str(settings.COMPUTE_URL).rstrip("/")
    return f"{base}/api/v1/runs/{run_id}/events?token={weblog_token(settings, run_id)}"
