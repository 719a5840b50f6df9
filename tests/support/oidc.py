"""The OpenID provider of the e2e HTTPS stack: oidc-provider-mock in a thread of the test
process (no process to start), offered by admin as "Lab SSO", with one user to log in as."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer

with warnings.catch_warnings():
    # As in tests/admin/auth/test_oidc.py: oidc-provider-mock imports deprecated authlib parts.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings(
        "ignore", "authlib.jose module is deprecated", AuthlibDeprecationWarning
    )
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    import oidc_provider_mock

PROVIDER_TITLE = "Lab SSO"
USER = oidc_provider_mock.User(
    sub="ada-at-lab-sso",
    claims={
        "email": "ada@lab.example.org",
        "email_verified": True,
        "name": "Ada Lovelace",
        "preferred_username": "ada",
    },
)
# What the provider's request handlers warn about while a test logs in (a mark for those tests:
# the suite turns warnings into errors, in the provider's thread too).
PROVIDER_WARNINGS = r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning"


@contextmanager
def running_provider() -> Iterator[BaseWSGIServer]:
    with oidc_provider_mock.run_server_in_thread(
        port=0, require_nonce=True, user_claims=[USER]
    ) as server:
        yield server


def admin_provider_setting(server: BaseWSGIServer) -> dict[str, Any]:
    """The provider as one item of ADMIN_OIDC_PROVIDERS."""
    return {
        "name": "lab-sso",
        "display_name": PROVIDER_TITLE,
        "issuer": f"http://localhost:{server.server_port}",
        "client_id": "nfhub-live",
        "client_secret": "nfhub-live-secret",
    }
