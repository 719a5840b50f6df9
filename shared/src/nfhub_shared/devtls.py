"""A local development certificate authority: HTTPS for ``make run`` and the live tests.

The CA is made once per state folder and kept (so a browser or ``curl --cacert`` told to trust
it keeps trusting it); the server certificate it signs is re-issued when it is missing, about
to expire or does not cover the names asked for. ``bundle.pem`` is the public CAs (certifi)
plus this one: give it as ``SSL_CERT_FILE`` to a process that must reach both the stack and
the internet (httpx, Python's ssl and OpenSSL honour it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
# Browsers refuse server certificates valid for more than 398 days.
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


@dataclass(frozen=True)
class DevTls:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server-key.pem"

    @property
    def bundle(self) -> Path:
        return self.folder / "bundle.pem"

    def ensure(self, names: Sequence[str] = DEFAULT_NAMES) -> DevTls:
        """Make what is missing or stale; keep the CA once it exists."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            self._write_ca()
        ca_pem = self.ca_cert.read_bytes()
        ca = x509.load_pem_x509_certificate(ca_pem)
        if self._server_stale(ca, names):
            self._write_server(ca, names)
        bundle = Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + ca_pem
        if not self.bundle.exists() or self.bundle.read_bytes() != bundle:
            write_atomic(self.bundle, bundle, 0o644)
        return self

    def _write_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nfhub development"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"nfhub development CA ({os.uname()[1]})"),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(CA_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_atomic(self.ca_key, _private_pem(key), 0o600)
        write_atomic(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _server_stale(self, ca: x509.Certificate, names: Sequence[str]) -> bool:
        if not (self.server_cert.exists() and self.server_key.exists()):
            return True
        cert = x509.load_pem_x509_certificate(self.server_cert.read_bytes())
        if cert.issuer != ca.subject or cert.not_valid_after_utc - RENEW_BEFORE < _now():
            return True
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return True
        covered = {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        }
        return not {_canonical(name) for name in names} <= covered

    def _write_server(self, ca: x509.Certificate, names: Sequence[str]) -> None:
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        alternative_names: list[x509.GeneralName] = []
        for name in names:
            try:
                alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative_names.append(x509.DNSName(name))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_atomic(self.server_key, _private_pem(key), 0o600)
        write_atomic(self.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Atomically, with its mode from the start (a key is never world-readable, even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
