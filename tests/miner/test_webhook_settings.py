"""miner's webhook key: refused at its development default in production, a bad key refused
without being printed (as compute's COMPUTE_SECRETS_KEY)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nfhub_miner.config import Settings

REAL = {"SERVICE_SECRET": "s" * 48, "ENVIRONMENT": "production"}


def test_dev_default_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="MINER_WEBHOOK_SECRETS_KEY"):
        Settings(_env_file=None, **REAL)
    Settings(_env_file=None, WEBHOOK_SECRETS_KEY="ab" * 32, **REAL)


@pytest.mark.parametrize("key", ["too-short-but-secret", "zz" * 32, "ab" * 31])
def test_a_bad_key_is_refused_and_not_shown(key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, WEBHOOK_SECRETS_KEY=key)
    assert key not in str(refused.value)
    assert "32-byte key" in str(refused.value)
