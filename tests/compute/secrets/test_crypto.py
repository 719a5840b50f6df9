"""Secrets at rest: AES-GCM bound to the row, the key ring, the settings that hold the keys,
and a key rotation (the rotate command as a real process on a committed database)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from nfhub_compute.config import Settings
from nfhub_compute.models import PipelineSecret
from nfhub_compute.secrets.crypto import SecretBox, SecretUnreadable, binding
from nfhub_compute.secrets.service import reseal_batch
from nfhub_shared.config import normalise_database_url


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


ORG, PROJECT = uuid.uuid4(), uuid.uuid4()
HERE = binding(ORG, PROJECT, "TOKEN")


class TestSecretBox:
    def test_a_sealed_value_opens_only_where_it_belongs(self) -> None:
        box = SecretBox(SecretStr(new_key()))

        sealed = box.seal("hunter2", HERE)

        assert box.open(sealed, HERE) == "hunter2"
        assert "hunter2" not in sealed and sealed != box.seal("hunter2", HERE)
        for elsewhere in (
            binding(uuid.uuid4(), PROJECT, "TOKEN"),
            binding(ORG, None, "TOKEN"),
            binding(ORG, PROJECT, "OTHER"),
        ):
            with pytest.raises(SecretUnreadable):
                box.open(sealed, elsewhere)

    def test_old_keys_open_and_only_the_current_key_seals(self) -> None:
        old, new = new_key(), new_key()
        sealed_before = SecretBox(SecretStr(old)).seal("v", HERE)
        ring = SecretBox(SecretStr(new), [SecretStr(old)])

        assert ring.open(sealed_before, HERE) == "v"
        assert not ring.is_current(sealed_before)
        assert ring.is_current(ring.seal("v", HERE))

    @pytest.mark.parametrize("tamper", ["version", "key", "body"])
    def test_an_unknown_key_or_a_tampered_value_is_unreadable(self, tamper: str) -> None:
        key = new_key()
        box = SecretBox(SecretStr(key))
        version, kid, body = box.seal("v", HERE).split(".")
        changed = {
            "version": f"v9.{kid}.{body}",
            "key": f"{version}.{SecretBox(SecretStr(new_key())).current_id}.{body}",
            "body": f"{version}.{kid}.{body[:-4]}AAAA",
        }[tamper]

        with pytest.raises(SecretUnreadable) as raised:
            box.open(changed, HERE)
        assert key not in str(raised.value)

    def test_the_repr_shows_no_key(self) -> None:
        key = new_key()

        assert key not in repr(SecretBox(SecretStr(key)))


class TestSettings:
    def test_production_refuses_the_default_key(self) -> None:
        with pytest.raises(ValidationError, match="COMPUTE_SECRETS_KEY"):
            Settings(
                _env_file=None,
                ENVIRONMENT="production",
                SERVICE_SECRET="s" * 40,
                WEBLOG_SECRET=SecretStr("w" * 40),
            )

    @pytest.mark.parametrize("field", ["SECRETS_KEY", "SECRETS_OLD_KEYS"])
    @pytest.mark.parametrize(
        "bad", ["short", "not base64 at all!!", base64.b64encode(b"x" * 31), "ab" * 31 + "zz"]
    )
    def test_a_key_that_is_not_32_bytes_is_refused_without_showing_it(
        self, field: str, bad: str | bytes
    ) -> None:
        text = bad.decode() if isinstance(bad, bytes) else bad
        value: Any = [text] if field == "SECRETS_OLD_KEYS" else text

        with pytest.raises(ValidationError, match="32 random bytes") as raised:
            Settings(_env_file=None, **{field: value})
        assert text not in str(raised.value)

    def test_keys_come_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        key, old = new_key(), os.urandom(32).hex()  # base64 or hex (openssl rand -hex 32)
        monkeypatch.setenv("COMPUTE_SECRETS_KEY", key)
        monkeypatch.setenv("COMPUTE_SECRETS_OLD_KEYS", json.dumps([old]))

        settings = Settings(_env_file=None)

        assert settings.SECRETS_KEY.get_secret_value() == key
        assert (
            SecretBox.from_settings(settings).open(SecretBox(SecretStr(old)).seal("v", HERE), HERE)
            == "v"
        )
        assert [k.get_secret_value() for k in settings.SECRETS_OLD_KEYS] == [old]
        assert key not in repr(settings) and old not in repr(settings)


def secret_row(box: SecretBox, name: str, value: str) -> PipelineSecret:
    return PipelineSecret(
        id=uuid.uuid4(),
        org_id=ORG,
        project_id=PROJECT,
        name=name,
        sealed_value=box.seal(value, binding(ORG, PROJECT, name)),
        created_by="test",
        updated_by="test",
    )


class TestRotation:
    async def test_reseal_moves_every_secret_to_the_current_key(
        self, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        old, new = new_key(), new_key()
        old_box = SecretBox(SecretStr(old))
        ring = SecretBox(SecretStr(new), [SecretStr(old)])
        async with session_factory() as session, session.begin():
            session.add_all(
                [secret_row(old_box, "A_1", "one"), secret_row(ring, "B_2", "two")]
                + [secret_row(old_box, f"C_{i}", f"v{i}") for i in range(3)]
            )

        async with session_factory() as session, session.begin():
            resealed, after = await reseal_batch(session, ring, None)

        new_only = SecretBox(SecretStr(new))
        async with session_factory() as session:
            rows = (await session.scalars(select(PipelineSecret))).all()
        opened = {
            r.name: new_only.open(r.sealed_value, binding(ORG, PROJECT, r.name)) for r in rows
        }
        assert (resealed, after) == (4, None)
        assert opened == {"A_1": "one", "B_2": "two", "C_0": "v0", "C_1": "v1", "C_2": "v2"}

    def test_the_rotate_command_reseals_a_real_database(self, nfhub_fresh_database: Any) -> None:
        old, new = new_key(), new_key()
        old_box = SecretBox(SecretStr(old))
        with nfhub_fresh_database() as database_url:

            async def insert() -> None:
                engine = create_async_engine(normalise_database_url(database_url))
                async with AsyncSession(engine) as session, session.begin():
                    session.add(secret_row(old_box, "TOKEN", "hunter2"))
                await engine.dispose()

            async def read() -> str:
                engine = create_async_engine(normalise_database_url(database_url))
                async with AsyncSession(engine) as session:
                    sealed = await session.scalar(select(PipelineSecret.sealed_value))
                await engine.dispose()
                assert sealed is not None
                return sealed

            import asyncio

            asyncio.run(insert())
            env = {
                "PATH": os.environ["PATH"],
                "ENVIRONMENT": "test",
                "DATABASE_URL": database_url,
                "COMPUTE_SECRETS_KEY": new,
                "COMPUTE_SECRETS_OLD_KEYS": json.dumps([old]),
            }
            command = [sys.executable, "-m", "nfhub_compute.secrets.rotate"]
            first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            sealed = asyncio.run(read())

        assert first.returncode == 0, first.stderr
        assert "1 secret(s) re-encrypted" in first.stdout
        assert "0 secret(s) re-encrypted" in again.stdout
        assert SecretBox(SecretStr(new)).open(sealed, binding(ORG, PROJECT, "TOKEN")) == "hunter2"
        assert "hunter2" not in first.stdout + first.stderr
