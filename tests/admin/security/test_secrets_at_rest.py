"""Passwords and tokens are stored only as hashes and never reach the logs in clear."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text

from nfhub_admin.models import PersonalAccessToken, RefreshToken, User

PASSWORD = "Zebra-Pancake-9173-Orbit"
WRONG_PASSWORD = "Quartz-Lantern-5521-Meadow"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def nfhub_log_text(stderr: str, records: list[logging.LogRecord]) -> tuple[str, str]:
    """What nfhub logged: structlog's JSON lines on stderr, and stdlib records.

    The test's own httpx client logs every URL it requests, query string included; that is the
    caller's log, not nfhub's, so those lines are left out (admin makes no HTTP calls here).
    """
    lines = [
        line
        for line in stderr.splitlines()
        if not (line.startswith("{") and json.loads(line).get("logger") == "httpx")
    ]
    kept = [record for record in records if record.name != "httpx"]
    text = "\n".join(f"{record.name} {record.getMessage()} {record.__dict__!r}" for record in kept)
    return "\n".join(lines), text


async def dump_admin_schema(session_factory: Any) -> str:
    """Every row of every admin table, as text."""
    async with session_factory() as session:
        tables = (
            await session.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'admin' ORDER BY 1")
            )
        ).all()
        assert {"users", "refresh_tokens", "personal_access_tokens", "audit_events"} <= set(tables)
        rows = []
        for table in tables:
            result = await session.scalars(text(f'SELECT t::text FROM admin."{table}" t'))
            rows += [f"{table}: {row}" for row in result]
    return "\n".join(rows)


class TestSecretsAtRestAndInLogs:
    async def test_password_and_tokens_are_hashed_and_never_logged(
        self,
        admin_client: httpx.AsyncClient,
        factory,
        session_factory,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)
        owner = await factory.user()
        org_id = await factory.org(owner)
        username = f"carol-{owner.id.hex[:6]}"

        created = await admin_client.post(
            "/api/v1/users",
            headers=owner.headers,
            json={"username": username, "password": PASSWORD, "org_id": str(org_id)},
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]

        # Failed logins: a wrong password, the password for an unknown user, the password
        # typed into the username field, and a request that fails validation.
        for credentials in (
            {"username": username, "password": WRONG_PASSWORD},
            {"username": f"not-{username}", "password": PASSWORD},
            {"username": PASSWORD, "password": WRONG_PASSWORD},
        ):
            failed = await admin_client.post("/api/v1/auth/login", json=credentials)
            assert failed.status_code == 401
        invalid = await admin_client.post(
            "/api/v1/auth/login", json={"username": PASSWORD, "password": ""}
        )
        assert invalid.status_code == 422

        login = await admin_client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        first = login.json()
        refreshed = await admin_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        second = refreshed.json()
        bearer = {"Authorization": f"Bearer {second['access_token']}"}

        pat_response = await admin_client.post(
            "/api/v1/tokens", headers=bearer, json={"name": "laptop"}
        )
        assert pat_response.status_code == 201, pat_response.text
        pat = pat_response.json()["token"]

        # Secrets in query strings, as careless clients send them.
        leaky = await admin_client.get(
            "/api/v1/users/me",
            params={"access_token": second["access_token"], "pat": pat, "password": PASSWORD},
            headers={"Authorization": f"Bearer {pat}"},
        )
        assert leaky.status_code == 200, leaky.text
        leaky_refresh = await admin_client.post(
            "/api/v1/auth/refresh",
            params={"refresh_token": second["refresh_token"]},
            json={"refresh_token": first["refresh_token"]},  # reuse: revokes, logs, 401
        )
        assert leaky_refresh.status_code == 401
        extra_field = await admin_client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": second["refresh_token"], "password": PASSWORD},
        )
        assert extra_field.status_code == 422

        access_tokens = [first["access_token"], second["access_token"]]
        refresh_tokens = [first["refresh_token"], second["refresh_token"]]

        # At rest: argon2id for the password, SHA-256 hex for the opaque tokens.
        async with session_factory() as session:
            user = await session.get(User, user_id)
            assert user is not None and user.password_hash is not None
            assert user.password_hash.startswith("$argon2id$")
            assert PasswordHasher().verify(user.password_hash, PASSWORD)
            stored_refresh = (
                await session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id))
            ).all()
            stored_pat = await session.scalar(
                select(PersonalAccessToken).where(PersonalAccessToken.user_id == user.id)
            )
        assert all(SHA256_HEX.match(row.token_hash) for row in stored_refresh)
        assert {sha256(token) for token in refresh_tokens} <= {
            row.token_hash for row in stored_refresh
        }
        assert stored_pat is not None
        assert SHA256_HEX.match(stored_pat.token_hash)
        assert stored_pat.token_hash == sha256(pat)
        assert pat.startswith(stored_pat.token_hint) and len(stored_pat.token_hint) < 16

        # What must never appear: each whole secret, and the secret part of each token (a
        # PAT's first characters are its public hint; a JWT's signature is what makes it work).
        secrets = [PASSWORD, WRONG_PASSWORD, *access_tokens, *refresh_tokens, pat]
        fragments = [token.rsplit(".", 1)[1] for token in access_tokens]
        fragments += [token[len("nfh_rt_") :] for token in refresh_tokens]
        fragments.append(pat[len(stored_pat.token_hint) :])

        database = await dump_admin_schema(session_factory)
        assert username in database  # the dump does see this test's rows
        for secret in secrets + fragments:
            assert secret not in database

        logging.getLogger("nfhub.test.stdlib").warning("stdlib probe")
        stderr = capsys.readouterr().err
        # The captures work: structlog's JSON lines (written to the current sys.stderr) hold
        # this test's access log, and stdlib records reach both caplog and stderr.
        assert '"event": "request"' in stderr
        assert '"path": "/api/v1/auth/login"' in stderr
        assert any(record.name == "nfhub.test.stdlib" for record in caplog.records)
        assert '"logger": "nfhub.test.stdlib"' in stderr
        json_lines, records = nfhub_log_text(stderr, caplog.records)
        assert "Wrong username or password." in json_lines
        for secret in secrets + fragments:
            assert secret not in json_lines
            assert secret not in records
