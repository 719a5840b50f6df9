"""Forged, stale or misused bearer tokens answer 401 at admin and at a service that only uses
the shared library (which verifies admin's JWTs against the JWKS it fetched over HTTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
LEEWAY = 10  # BaseServiceSettings.JWT_LEEWAY_SECONDS default, asserted in TestControl


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """Built by hand: PyJWT refuses to use a public key as an HMAC secret, attackers do not."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned_token(claims: dict[str, Any], alg: str, kid: str) -> str:
    return f"{b64url_json({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{b64url_json(claims)}."


@dataclass
class Targets:
    """The two protected routes under attack, for the same victim (a viewer in a project):
    admin's /users/me, and a project-scoped route of a service built from the shared library."""

    admin: httpx.AsyncClient
    service: httpx.AsyncClient
    project_id: uuid.UUID
    victim_id: uuid.UUID
    victim_username: str
    victim_password: str
    other_user_id: uuid.UUID
    private_key: Ed25519PrivateKey
    kid: str

    async def call(self, authorization: str | None) -> dict[str, httpx.Response]:
        headers = {} if authorization is None else {"Authorization": authorization}
        return {
            "admin": await self.admin.get("/api/v1/users/me", headers=headers),
            "service": await self.service.get(
                "/api/v1/probe/role", headers={**headers, "X-Project-ID": str(self.project_id)}
            ),
        }

    async def assert_refused(self, authorization: str | None, *secrets: str) -> None:
        for name, response in (await self.call(authorization)).items():
            assert_unauthorized(name, response, *secrets)

    async def assert_accepted(self, authorization: str) -> None:
        for name, response in (await self.call(authorization)).items():
            assert response.status_code == 200, f"{name}: {response.text}"
            assert response.json()["id" if name == "admin" else "subject"] == str(self.victim_id)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like admin's access tokens; an override of None drops the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "nfhub-admin",
            "aud": "nfhub",
            "sub": str(self.victim_id),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "scope": "users:read projects:read",
            "preferred_username": self.victim_username,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: Ed25519PrivateKey | None = None,
        typ: str | None = "at+jwt",
    ) -> str:
        """Signed as admin signs access tokens; ``typ`` is the header's (None leaves it out)."""
        return jwt.encode(
            claims,
            key or self.private_key,
            algorithm="EdDSA",
            headers={"kid": self.kid, "typ": typ},
        )


def assert_unauthorized(name: str, response: httpx.Response, *secrets: str) -> None:
    assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), name
    assert response.headers["www-authenticate"].startswith("Bearer"), name
    body = response.json()
    assert body["status"] == 401, name
    assert body["type"].endswith("/unauthorized"), name
    assert body["detail"], name
    for secret in secrets:
        assert secret not in response.text, name


@pytest.fixture
async def target(
    admin_app: FastAPI,
    admin_client: httpx.AsyncClient,
    factory: Any,
    make_probe: Callable[..., Any],
) -> AsyncIterator[Targets]:
    victim = await factory.user(password="victim-password-123")
    owner = await factory.user()
    org_id = await factory.org(owner)
    project_id = await factory.project(org_id, members={victim: "viewer"})
    keys = admin_app.state.signing_keys
    async with make_probe() as probe:
        yield Targets(
            admin=admin_client,
            service=probe.client,
            project_id=project_id,
            victim_id=victim.id,
            victim_username=victim.username,
            victim_password=victim.password,
            other_user_id=owner.id,
            private_key=keys.private_key,
            kid=keys.kid,
        )


class TestControl:
    """The tokens these tests forge differ from valid ones only in the attacked detail."""

    async def test_well_formed_token_is_accepted(self, target: Targets) -> None:
        await target.assert_accepted(f"Bearer {target.sign(target.claims())}")

    async def test_expiry_within_leeway_is_accepted(self, target: Targets, admin_app: Any) -> None:
        assert admin_app.state.settings.JWT_LEEWAY_SECONDS == LEEWAY
        token = target.sign(target.claims(exp=int(time.time()) - LEEWAY // 2))
        await target.assert_accepted(f"Bearer {token}")

    async def test_not_before_within_leeway_is_accepted(self, target: Targets) -> None:
        token = target.sign(target.claims(nbf=int(time.time()) + LEEWAY // 2))
        await target.assert_accepted(f"Bearer {token}")


class TestForgedSignature:
    async def test_alg_none(self, target: Targets) -> None:
        claims = target.claims()
        for alg in ("none", "None", "NONE"):
            await target.assert_refused(f"Bearer {unsigned_token(claims, alg, target.kid)}")
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": target.kid})
        await target.assert_refused(f"Bearer {token}")

    async def test_hs256_keyed_with_raw_public_key(self, target: Targets) -> None:
        public = target.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": target.kid}
        # The raw 32 bytes, and the base64url "x" that the JWKS publishes.
        for secret in (public, b64url(public).encode()):
            await target.assert_refused(f"Bearer {hs256_token(header, target.claims(), secret)}")

    async def test_hs256_keyed_with_public_key_pem(self, target: Targets) -> None:
        pem = target.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": target.kid}
        await target.assert_refused(f"Bearer {hs256_token(header, target.claims(), pem)}")

    async def test_other_ed25519_key_with_admin_kid(self, target: Targets) -> None:
        token = target.sign(target.claims(), key=Ed25519PrivateKey.generate())
        await target.assert_refused(f"Bearer {token}")

    async def test_other_key_embedded_as_jwk_header(self, target: Targets) -> None:
        attacker = Ed25519PrivateKey.generate()
        raw = attacker.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        token = jwt.encode(
            target.claims(), attacker, algorithm="EdDSA", headers={"kid": target.kid, "jwk": jwk}
        )
        await target.assert_refused(f"Bearer {token}")

    async def test_tampered_payload_keeps_signature(self, target: Targets) -> None:
        header, _, signature = target.sign(target.claims()).split(".")
        tampered = b64url_json(target.claims(sub=str(target.other_user_id)))
        await target.assert_refused(f"Bearer {header}.{tampered}.{signature}")

    async def test_missing_kid(self, target: Targets) -> None:
        token = jwt.encode(target.claims(), target.private_key, algorithm="EdDSA")
        await target.assert_refused(f"Bearer {token}")


class TestClaimChecks:
    async def test_expired_beyond_leeway(self, target: Targets) -> None:
        now = int(time.time())
        token = target.sign(target.claims(iat=now - 1000, nbf=now - 1000, exp=now - LEEWAY - 30))
        responses = await target.call(f"Bearer {token}")
        for name, response in responses.items():
            assert_unauthorized(name, response)
            assert "expired" in response.json()["detail"], name

    async def test_not_before_in_the_future(self, target: Targets) -> None:
        token = target.sign(target.claims(nbf=int(time.time()) + LEEWAY + 60))
        await target.assert_refused(f"Bearer {token}")

    async def test_wrong_issuer(self, target: Targets) -> None:
        await target.assert_refused(f"Bearer {target.sign(target.claims(iss='nfhub-evil'))}")

    async def test_wrong_audience(self, target: Targets) -> None:
        for audience in ("another-system", ["another-system"]):
            await target.assert_refused(f"Bearer {target.sign(target.claims(aud=audience))}")

    async def test_typ_not_access(self, target: Targets) -> None:
        for typ in ("refresh", "id", "ACCESS", None):
            await target.assert_refused(f"Bearer {target.sign(target.claims(typ=typ))}")

    async def test_header_typ_not_at_jwt(self, target: Targets) -> None:
        # RFC 9068: an access token says so in its header; a JWT of any other kind signed by
        # the same key (typ JWT, or none at all) is not one, even with access-token claims.
        for typ in ("JWT", "jwt", "id+jwt", "at+jwt2", None):
            await target.assert_refused(f"Bearer {target.sign(target.claims(), typ=typ)}")

    async def test_header_typ_as_media_type_is_accepted(self, target: Targets) -> None:
        for typ in ("application/at+jwt", "AT+JWT"):
            await target.assert_accepted(f"Bearer {target.sign(target.claims(), typ=typ)}")

    async def test_required_claim_missing(self, target: Targets) -> None:
        for claim in ("exp", "jti", "sub", "iss", "aud"):
            token = target.sign(target.claims(**{claim: None}))
            await target.assert_refused(f"Bearer {token}")


class TestWrongCredentials:
    async def test_refresh_token_as_bearer(
        self, target: Targets, admin_client: httpx.AsyncClient
    ) -> None:
        login = await admin_client.post(
            "/api/v1/auth/login",
            json={"username": target.victim_username, "password": target.victim_password},
        )
        assert login.status_code == 200, login.text
        refresh_token = login.json()["refresh_token"]
        assert refresh_token.startswith("nfh_rt_")
        responses = await target.call(f"Bearer {refresh_token}")
        for name, response in responses.items():
            assert_unauthorized(name, response, refresh_token)
            assert "refresh token" in response.json()["detail"], name

    async def test_garbage_strings(self, target: Targets) -> None:
        for garbage in (
            "garbage",
            "a.b.c",
            "eyJhbGciOiJFZERTQSJ9..",
            "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.AAAA",
            f"{b64url_json([1, 2])}.{b64url_json({})}.",
            "nfh_pat_" + "A" * 43,
            "nfh_pat_",
            "x" * 4096,
            "Bearer",
            "",
        ):
            await target.assert_refused(f"Bearer {garbage}")

    async def test_missing_header(self, target: Targets) -> None:
        await target.assert_refused(None)

    async def test_basic_scheme(self, target: Targets) -> None:
        # The right username and password, in a scheme nfhub does not accept.
        basic = base64.b64encode(f"{target.victim_username}:{target.victim_password}".encode())
        await target.assert_refused(f"Basic {basic.decode()}", target.victim_password)

    async def test_valid_token_in_another_scheme(self, target: Targets) -> None:
        token = target.sign(target.claims())
        for scheme in ("Token", "JWT", "Digest"):
            await target.assert_refused(f"{scheme} {token}")
