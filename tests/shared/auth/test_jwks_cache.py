"""A service fetches admin's JWKS once, and unknown kids cannot make it hammer admin."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nfhub_admin.keys import SigningKeys
from support.clock import FakeClock

ROLE = "/api/v1/probe/role"


def access_token(user_id: uuid.UUID, key: Ed25519PrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "nfhub-admin",
        "aud": "nfhub",
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "scope": "projects:read",
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


def headers(token: str, project_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Project-ID": str(project_id)}


class TestJwksFetchedOnce:
    async def test_keys_are_fetched_once_for_many_requests_and_users(self, probe, factory) -> None:
        owner = await factory.user()
        viewer = await factory.user()
        project_id = await factory.project(await factory.org(owner), members={viewer: "viewer"})
        assert probe.jwks_fetches == 0  # nothing is fetched before the first token arrives
        for actor in (owner, viewer, owner, viewer):
            response = await probe.client.get(ROLE, headers=actor.in_project(project_id))
            assert response.status_code == 200, response.text
        fresh = await factory.user()  # a token the service has never seen, same key
        response = await probe.client.get(ROLE, headers=fresh.in_project(project_id))
        assert response.status_code == 404  # verified (not 401), just not a member
        assert probe.jwks_fetches == 1


class TestUnknownKidRefetch:
    async def test_unknown_kids_within_the_cooldown_cause_no_refetch(
        self, probe, factory, admin_app
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        assert probe.settings.JWKS_REFRESH_COOLDOWN_SECONDS == 5
        assert (await probe.client.get(ROLE, headers=actor.in_project(project_id))).is_success
        assert probe.jwks_fetches == 1
        forged = [
            access_token(actor.id, Ed25519PrivateKey.generate(), f"made-up-{index}")
            for index in range(20)
        ]
        responses = await asyncio.gather(
            *(probe.client.get(ROLE, headers=headers(token, project_id)) for token in forged)
        )
        assert [response.status_code for response in responses] == [401] * len(forged)
        assert probe.jwks_fetches == 1

    async def test_first_token_with_unknown_kid_fetches_once_then_cooldown_applies(
        self, probe, factory
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        forged = [
            access_token(actor.id, Ed25519PrivateKey.generate(), uuid.uuid4().hex)
            for _ in range(10)
        ]
        responses = await asyncio.gather(
            *(probe.client.get(ROLE, headers=headers(token, project_id)) for token in forged)
        )
        assert {response.status_code for response in responses} == {401}
        assert probe.jwks_fetches == 1
        # That one fetch brought admin's real key along.
        assert (await probe.client.get(ROLE, headers=actor.in_project(project_id))).is_success
        assert probe.jwks_fetches == 1

    async def test_after_the_cooldown_one_refetch_picks_up_a_rotated_key(
        self, make_probe, factory, admin_app, clock: FakeClock
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        async with make_probe(JWKS_REFRESH_COOLDOWN_SECONDS=1) as probe:
            assert (await probe.client.get(ROLE, headers=actor.in_project(project_id))).is_success
            assert probe.jwks_fetches == 1

            # admin starts publishing a new key (what a key rotation looks like from outside).
            rotated = SigningKeys(Ed25519PrivateKey.generate())
            admin_app.state.signing_keys = rotated
            token = access_token(actor.id, rotated.private_key, rotated.kid)
            too_early = await probe.client.get(ROLE, headers=headers(token, project_id))
            assert too_early.status_code == 401
            assert probe.jwks_fetches == 1

            clock.at(1.05)
            burst = await asyncio.gather(
                *(probe.client.get(ROLE, headers=headers(token, project_id)) for _ in range(10))
            )
            assert [response.status_code for response in burst] == [200] * 10
            assert probe.jwks_fetches == 2
            unknown = access_token(actor.id, Ed25519PrivateKey.generate(), "still-unknown")
            refused = await asyncio.gather(
                *(probe.client.get(ROLE, headers=headers(unknown, project_id)) for _ in range(5))
            )
            assert [response.status_code for response in refused] == [401] * 5
            assert probe.jwks_fetches == 2
