"""The shared parts of webhooks without a database: signatures (checked by the standardwebhooks
package, an independent implementation), the SSRF guard, the retry schedule, the key ring."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from nfhub_shared.sealing import KeyRing, Unsealable
from nfhub_shared.webhooks.schedule import JITTER, next_delay
from nfhub_shared.webhooks.signing import SECRET_PREFIX, new_secret, signed_headers
from nfhub_shared.webhooks.targets import TargetRefused, check_url, refusal


class TestSigning:
    def test_secret_has_the_standard_shape(self) -> None:
        secret = new_secret()
        assert secret.startswith(SECRET_PREFIX)
        assert 24 <= len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) <= 64
        assert new_secret() != secret

    def test_signature_verifies_with_the_reference_library(self) -> None:
        secret = new_secret()
        body = json.dumps({"type": "run.completed", "data": {"run_id": "r1"}}).encode()
        headers = signed_headers(secret, "msg_1", int(time.time()), body)
        assert Webhook(secret).verify(body, headers) == json.loads(body)

    def test_tampered_body_or_other_secret_does_not_verify(self) -> None:
        secret = new_secret()
        headers = signed_headers(secret, "msg_1", int(time.time()), b'{"a":1}')
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(b'{"a":2}', headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(b'{"a":1}', headers)


REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.0.10",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "224.0.0.251",
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:c0a8:0001::1",  # 6to4 of 192.168.0.1
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


class TestTargets:
    @pytest.mark.parametrize("address", REFUSED)
    def test_private_addresses_are_refused(self, address: str) -> None:
        assert refusal(ipaddress.ip_address(address)) is not None
        host = f"[{address}]" if ":" in address else address
        with pytest.raises(TargetRefused):
            check_url(f"https://{host}/hook", allow_private=False)
        check_url(f"https://{host}/hook", allow_private=True)

    @pytest.mark.parametrize("address", ALLOWED)
    def test_public_addresses_pass(self, address: str) -> None:
        assert refusal(ipaddress.ip_address(address)) is None
        host = f"[{address}]" if ":" in address else address
        check_url(f"https://{host}/hook", allow_private=False)

    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:8080/x",
            "https://api.localhost/x",
            "ftp://example.org/x",
            "file:///etc/passwd",
            "https:///no-host",
            "https://example.org:99999/x",
        ],
    )
    def test_bad_or_local_urls_are_refused(self, url: str) -> None:
        with pytest.raises(TargetRefused):
            check_url(url, allow_private=False)


class TestSchedule:
    def test_delays_follow_the_schedule_with_bounded_jitter(self) -> None:
        rng = random.Random(7)
        schedule = (10.0, 100.0)
        for attempts, base in ((1, 10.0), (2, 100.0)):
            delays = {next_delay(attempts, schedule, rng) for _ in range(50)}
            assert all(
                d is not None and base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays
            )
            assert len(delays) > 1  # jittered
        assert next_delay(3, schedule, rng) is None  # the schedule is spent: FAILED


class TestKeyRing:
    def test_seals_opens_and_binds_to_the_row(self) -> None:
        old = base64.urlsafe_b64encode(b"o" * 32).decode()
        new = "ab" * 32
        sealed = KeyRing(old).seal("whsec_x", b"webhook/1")
        assert "whsec_x" not in sealed
        ring = KeyRing(new, [old])
        assert ring.open(sealed, b"webhook/1") == "whsec_x"
        with pytest.raises(Unsealable):
            ring.open(sealed, b"webhook/2")
        with pytest.raises(Unsealable):
            KeyRing(new).open(sealed, b"webhook/1")
