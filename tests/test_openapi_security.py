"""Every operation is authenticated unless it is on the public allowlist, on paper and live.

The committed documents in ``openapi/`` are what clients and the gateway see; the live admin app
is what answers. A route added without an auth dependency fails here until someone decides, in
the allowlist below, that it is meant to be public.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from support.openapi import committed_documents, operations

# (method, path) → why it answers without a token.
PUBLIC: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "exchanges a password for tokens",
    ("POST", "/api/v1/auth/token"): "OAuth2 password grant behind Swagger UI's Authorize dialog",
    ("POST", "/api/v1/auth/refresh"): "the refresh token in the body is the credential",
    ("POST", "/api/v1/auth/logout"): "the refresh token in the body is the credential",
    ("GET", "/api/v1/auth/providers"): "the login page lists how to log in before anyone has",
    ("GET", "/api/v1/auth/oidc/{provider}/login"): "starts a browser login at the provider",
    ("GET", "/api/v1/auth/oidc/{provider}/callback"): "the provider sends the browser back here",
    ("GET", "/.well-known/jwks.json"): "public keys other services verify access tokens with",
    ("GET", "/healthz"): "liveness probe of the orchestrator",
    ("GET", "/readyz"): "readiness probe of the orchestrator",
    ("GET", "/blobs/{key}"): "signed-URL download: the HMAC signature in the URL is the credential",
    ("PUT", "/blobs/{key}"): "signed-URL upload: the HMAC signature in the URL is the credential",
    ("POST", "/api/v1/runs/{run_id}/events"): "Nextflow's weblog: the per-run secret in the URL is "
    "the credential (Nextflow cannot send a token header)",
}

PROBLEM_JSON = "application/problem+json"


DOCUMENTS = committed_documents()


def test_there_are_openapi_documents() -> None:
    assert "admin.json" in DOCUMENTS, "openapi/admin.json is missing: run `make openapi`"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_operation_requires_a_token_unless_public(name: str) -> None:
    document = DOCUMENTS[name]
    schemes = set(document.get("components", {}).get("securitySchemes", {}))
    problems = []
    for method, path, operation in operations(document):
        requirements = operation.get("security") or document.get("security") or []
        if (method, path) in PUBLIC:
            if requirements:
                problems.append(f"{method} {path} is on the public allowlist but needs a token")
            continue
        if not requirements or any(not requirement for requirement in requirements):
            problems.append(
                f"{method} {path} has no security requirement: add an auth dependency or, if it "
                "is meant to be public, put it on PUBLIC with the reason"
            )
            continue
        unknown = {scheme for requirement in requirements for scheme in requirement} - schemes
        if unknown:
            problems.append(f"{method} {path} names undeclared security schemes {unknown}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_allowlist_names_only_existing_operations() -> None:
    existing = {(m, p) for document in DOCUMENTS.values() for m, p, _ in operations(document)}
    stale = sorted(set(PUBLIC) - existing)
    assert not stale, f"PUBLIC lists operations no service has (remove them): {stale}"


def _fill_path(path: str) -> str:
    """The path with every ``{param}`` replaced by a fresh UUID."""
    while "{" in path:
        start = path.index("{")
        end = path.index("}", start)
        path = f"{path[:start]}{uuid.uuid4()}{path[end + 1 :]}"
    return path


class TestProtectedOperationsLive:
    async def test_every_protected_operation_answers_401_without_a_token(
        self, admin_app: Any, admin_client: httpx.AsyncClient
    ) -> None:
        protected = [
            (method, path, operation)
            for method, path, operation in operations(admin_app.openapi())
            if (method, path) not in PUBLIC
        ]
        assert protected
        problems = []
        for method, path, operation in protected:
            for label, headers in (
                ("no token", {}),
                ("a malformed token", {"Authorization": "Bearer not-a-token"}),
                ("an unknown PAT", {"Authorization": "Bearer nfh_pat_unknown"}),
            ):
                response = await admin_client.request(
                    method,
                    _fill_path(path),
                    headers=headers,
                    json={} if "requestBody" in operation else None,
                )
                if response.status_code != 401:
                    problems.append(f"{method} {path} with {label}: {response.status_code}")
                elif not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
                    problems.append(f"{method} {path} with {label}: 401 is not problem+json")
                elif not response.headers.get("www-authenticate", "").startswith("Bearer"):
                    problems.append(f"{method} {path} with {label}: 401 without WWW-Authenticate")
                elif response.json()["status"] != 401 or not response.json()["detail"]:
                    problems.append(f"{method} {path} with {label}: problem body {response.text}")
        assert not problems, "protected operations that did not refuse:\n" + "\n".join(problems)


class TestPublicOperationsLive:
    async def test_every_public_admin_operation_answers_without_a_token(
        self, admin_app: Any, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        await factory.user("alice", password="correct horse battery")
        credentials = {"username": "alice", "password": "correct horse battery"}
        login = await admin_client.post("/api/v1/auth/login", json=credentials)
        refresh_token = login.json()["refresh_token"]
        logout_token = (await admin_client.post("/api/v1/auth/login", json=credentials)).json()[
            "refresh_token"
        ]
        # What each public operation answers to an anonymous caller; providers are not
        # configured here, so the OpenID routes answer "unknown provider" (not "log in").
        probes: dict[tuple[str, str], tuple[dict[str, Any], int]] = {
            ("POST", "/api/v1/auth/login"): ({"json": credentials}, 200),
            ("POST", "/api/v1/auth/token"): ({"data": credentials}, 200),
            ("POST", "/api/v1/auth/refresh"): ({"json": {"refresh_token": refresh_token}}, 200),
            ("POST", "/api/v1/auth/logout"): ({"json": {"refresh_token": logout_token}}, 204),
            ("GET", "/api/v1/auth/providers"): ({}, 200),
            ("GET", "/api/v1/auth/oidc/{provider}/login"): ({}, 404),
            ("GET", "/api/v1/auth/oidc/{provider}/callback"): ({"params": {"state": "x"}}, 404),
            ("GET", "/.well-known/jwks.json"): ({}, 200),
            ("GET", "/healthz"): ({}, 200),
            ("GET", "/readyz"): ({}, 200),
        }
        public_here = [
            (method, path)
            for method, path, _ in operations(admin_app.openapi())
            if (method, path) in PUBLIC
        ]
        assert public_here
        assert login.status_code == 200, login.text
        problems = []
        for method, path in public_here:
            if (method, path) not in probes:
                problems.append(f"{method} {path}: add a probe for this public operation")
                continue
            arguments, expected = probes[(method, path)]
            url = path.replace("{provider}", "no-such-provider")
            response = await admin_client.request(method, url, **arguments)
            if response.status_code != expected:
                problems.append(
                    f"{method} {path}: {response.status_code} (expected {expected}) "
                    f"{response.text[:200]}"
                )
            elif "www-authenticate" in response.headers:
                problems.append(f"{method} {path}: asks for credentials")
        assert not problems, "public operations that did not answer:\n" + "\n".join(problems)
