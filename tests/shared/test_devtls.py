"""The development CA: made once and kept, server certificate re-issued only when needed, and
a real TLS handshake against it verifies (and fails against another CA)."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import certifi
import pytest
from cryptography import x509

from nfhub_shared.devtls import DevTls


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_private_and_the_ca_is_kept(tmp_path: Path) -> None:
    tls = DevTls(tmp_path / "tls").ensure()
    assert _mode(tls.ca_key) == 0o600
    assert _mode(tls.server_key) == 0o600
    assert _mode(tls.folder) == 0o700
    ca_before, server_before = tls.ca_cert.read_bytes(), tls.server_cert.read_bytes()

    DevTls(tmp_path / "tls").ensure()

    assert tls.ca_cert.read_bytes() == ca_before
    assert tls.server_cert.read_bytes() == server_before


def test_new_names_reissue_the_server_certificate_under_the_same_ca(tmp_path: Path) -> None:
    tls = DevTls(tmp_path / "tls").ensure()
    ca_before = tls.ca_cert.read_bytes()

    tls.ensure(["localhost", "127.0.0.1", "::1", "nfhub.lab.internal"])

    assert tls.ca_cert.read_bytes() == ca_before
    cert = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "nfhub.lab.internal" in san.get_values_for_type(x509.DNSName)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 398


def test_bundle_holds_the_public_cas_and_the_dev_ca(tmp_path: Path) -> None:
    tls = DevTls(tmp_path / "tls").ensure()
    bundle = tls.bundle.read_text()
    assert Path(certifi.where()).read_text().strip() in bundle
    assert tls.ca_cert.read_text().strip() in bundle


def _serve_once(tls: DevTls) -> tuple[int, threading.Thread]:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls.server_cert, tls.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            try:
                with server_context.wrap_socket(connection, server_side=True) as wrapped:
                    wrapped.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # the client refused us: that is the other test's point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_handshake_verifies_with_the_dev_ca(tmp_path: Path, host: str) -> None:
    tls = DevTls(tmp_path / "tls").ensure()
    port, thread = _serve_once(tls)
    client = ssl.create_default_context(cafile=str(tls.ca_cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname=host) as wrapped,
    ):
        assert wrapped.recv(2) == b"ok"
    thread.join(5)


def test_handshake_fails_against_another_ca(tmp_path: Path) -> None:
    tls = DevTls(tmp_path / "tls").ensure()
    stranger = DevTls(tmp_path / "other").ensure()
    port, thread = _serve_once(tls)
    client = ssl.create_default_context(cafile=str(stranger.ca_cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.wrap_socket(raw, server_hostname="127.0.0.1")
    thread.join(5)
