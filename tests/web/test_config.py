"""web's settings refuse what would weaken sessions in production."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from nfhub_web.config import Settings

REAL = {"SERVICE_SECRET": secrets.token_urlsafe(48), "SESSION_KEY": secrets.token_hex(32)}


def test_production_refuses_the_development_session_key() -> None:
    with pytest.raises(ValidationError, match="WEB_SESSION_KEY still has its development default"):
        Settings(_env_file=None, ENVIRONMENT="production", SERVICE_SECRET=REAL["SERVICE_SECRET"])

    assert Settings(_env_file=None, ENVIRONMENT="production", **REAL).COOKIE_SECURE


def test_a_session_key_that_is_not_32_bytes_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, SESSION_KEY="short-and-secret")

    assert "not a 32-byte key" in str(refused.value)
    assert "short-and-secret" not in str(refused.value)
