"""The per-run secrets Nextflow reports a launched run with: the one in its ``-with-weblog``
URL, or, on the Tower channel, its ``TOWER_ACCESS_TOKEN``.

Each is an HMAC of the run id under COMPUTE_WEBLOG_SECRET: nothing to store, checked without
a database read, and one run's secret says nothing about another's (nor opens anything else:
the Tower run token is accepted for the calls about its own run only, never as a user's).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
import uuid
from typing import Any

from nfhub_compute.config import Settings
from nfhub_shared.auth.tokens import secrets_match


def weblog_token(settings: Settings, run_id: uuid.UUID) -> str:
    return _weblog_mac(settings.WEBLOG_SECRET.get_secret_value(), run_id)


# Every event of a run checks the same token: the HMAC is computed once per run (and secret),
# for the few thousand runs busy at once.
@functools.lru_cache(maxsize=4096)
def _weblog_mac(secret: str, run_id: uuid.UUID) -> str:
    return hmac.new(secret.encode(), b"nfhub-weblog:" + run_id.bytes, hashlib.sha256).hexdigest()


def weblog_token_valid(settings: Settings, run_id: uuid.UUID, token: str) -> bool:
    return secrets_match(weblog_token(settings, run_id), token)


def weblog_url(settings: Settings, run_id: uuid.UUID) -> str:
    base = str(settings.COMPUTE_URL).rstrip("/")
    return f"{base}/api/v1/runs/{run_id}/events?token={weblog_token(settings, run_id)}"


# The Tower channel's run token: "nfrun_<run id hex>_<hmac hex>". No dots and not base64:
# Nextflow's client sends it as Basic credentials "@token:<token>" (TowerClient.setAuthToken).
RUN_TOKEN_PREFIX = "nfrun_"  # noqa: S105 - a prefix, not a secret
WORKFLOW_ID_ALPHABET = string.ascii_letters + string.digits
WORKFLOW_ID_CHARS = 14  # like Seqera Platform's; the client allows 16


def new_workflow_id() -> str:
    """The id Nextflow's Tower client knows a run by (its /trace/{workflowId}/… URLs)."""
    return "".join(secrets.choice(WORKFLOW_ID_ALPHABET) for _ in range(WORKFLOW_ID_CHARS))


def _run_token_mac(settings: Settings, run_id: uuid.UUID) -> str:
    key = settings.WEBLOG_SECRET.get_secret_value().encode()
    return hmac.new(key, b"nfhub-tower-run:" + run_id.bytes, hashlib.sha256).hexdigest()


def tower_run_token(settings: Settings, run_id: uuid.UUID) -> str:
    return f"{RUN_TOKEN_PREFIX}{run_id.hex}_{_run_token_mac(settings, run_id)}"


def is_run_token(token: str) -> bool:
    return token.startswith(RUN_TOKEN_PREFIX)


def run_of_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The run a Tower run token was made for; None when it is not a valid one."""
    run_hex, _, mac = token.removeprefix(RUN_TOKEN_PREFIX).partition("_")
    try:
        run_id = uuid.UUID(hex=run_hex)
    except ValueError:
        return None
    if len(run_hex) != 32 or not secrets_match(_run_token_mac(settings, run_id), mac):
        return None
    return run_id


def tower_endpoint(settings: Settings) -> str:
    """What ``-with-tower`` names (tower.endpoint): Nextflow appends /trace/…"""
    return f"{str(settings.COMPUTE_URL).rstrip('/')}/api/v1/tower"


def channel_columns(settings: Settings) -> dict[str, Any]:
    """A new launched run's channel (COMPUTE_PROGRESS_CHANNEL) and, on the Tower channel, the
    workflow id its Nextflow attaches to (TOWER_WORKFLOW_ID)."""
    if settings.PROGRESS_CHANNEL == "tower":
        return {"channel": "tower", "tower_workflow_id": new_workflow_id()}
    return {"channel": "weblog"}
