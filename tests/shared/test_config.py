from __future__ import annotations

import pytest
from pydantic import ValidationError

from nfhub_admin.config import Settings as AdminSettings
from nfhub_files.config import Settings as FilesSettings
from nfhub_miner.config import Settings as MinerSettings
from nfhub_shared.config import BaseServiceSettings, normalise_database_url


class TestSettings:
    def test_production_refuses_the_default_service_secret(self) -> None:
        with pytest.raises(ValidationError, match="SERVICE_SECRET"):
            BaseServiceSettings(_env_file=None, ENVIRONMENT="production")

    def test_production_refuses_admin_without_a_signing_key(self) -> None:
        with pytest.raises(ValidationError, match="ADMIN_JWT_PRIVATE_KEY"):
            AdminSettings(_env_file=None, ENVIRONMENT="production", SERVICE_SECRET="s" * 40)

    def test_dev_accepts_defaults(self) -> None:
        assert BaseServiceSettings(_env_file=None).ENVIRONMENT == "dev"

    def test_prefixed_variable_wins_over_stack_wide(self, monkeypatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://stack/wide")
        assert "stack/wide" in AdminSettings(_env_file=None).database_url
        monkeypatch.setenv("ADMIN_DATABASE_URL", "postgresql://only/admin")
        assert "only/admin" in AdminSettings(_env_file=None).database_url

    def test_secrets_are_not_in_the_repr(self, monkeypatch) -> None:
        monkeypatch.setenv("SERVICE_SECRET", "very-secret-value-" + "x" * 32)
        assert "very-secret-value" not in repr(BaseServiceSettings(_env_file=None))

    def test_short_service_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="at least 32 bytes"):
            BaseServiceSettings(_env_file=None, SERVICE_SECRET="short")

    @pytest.mark.parametrize(
        "settings_class", [BaseServiceSettings, AdminSettings, FilesSettings, MinerSettings]
    )
    def test_a_refused_secret_is_not_printed_in_the_error(self, settings_class: type) -> None:
        """A settings error ends up in logs and terminals: it names the field, not the value."""
        with pytest.raises(ValidationError) as refused:
            settings_class(_env_file=None, SERVICE_SECRET="short-but-secret-4711")
        assert "SERVICE_SECRET" in str(refused.value)
        assert "short-but-secret-4711" not in str(refused.value)

    def test_cache_ttls_cannot_exceed_sixty_seconds(self) -> None:
        with pytest.raises(ValidationError):
            BaseServiceSettings(_env_file=None, TOKEN_CACHE_TTL_SECONDS=61)
        with pytest.raises(ValidationError):
            BaseServiceSettings(_env_file=None, ROLE_CACHE_TTL_SECONDS=120)

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
            ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
            ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ],
    )
    def test_plain_postgres_urls_use_asyncpg(self, given: str, expected: str) -> None:
        assert normalise_database_url(given) == expected
