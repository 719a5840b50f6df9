"""One-shot steps of the container stack, run with the nfhub image (deploy/entrypoint.sh).

    python tasks.py create-bucket   FILES_S3_BUCKET exists afterwards (created when missing), and
                                    lets FILES_CORS_ORIGINS' pages upload to it from the browser
    python tasks.py jwt-key         ADMIN_JWT_PRIVATE_KEY_FILE exists afterwards (Ed25519, 0600)
    python tasks.py probe URL       exit 0 when URL answers 200: the containers' healthcheck

Each reads the same variables as the service it prepares, through that service's own settings
class, so the bucket created is the one files will use. They are idempotent: a restarted stack
runs them again and they change nothing.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

S3_WAIT_SECONDS = 60.0
PROBE_TIMEOUT_SECONDS = 4.0


def say(message: str) -> None:
    sys.stderr.write(f"nfhub tasks: {message}\n")


def create_bucket(wait_seconds: float = S3_WAIT_SECONDS) -> int:
    """Create the files service's bucket unless it is there (S3 answers 404 to HeadBucket)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from nfhub_files.config import Settings
    from nfhub_files.storage.s3 import S3Storage

    settings = Settings(_env_file=None)
    try:
        # The files service's own client: same endpoint, credentials, addressing and timeouts.
        client = S3Storage.from_settings(settings).client
    except ValueError as exc:
        say(str(exc))
        return 2
    bucket = str(settings.S3_BUCKET)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client.head_bucket(Bucket=bucket)
            say(f"bucket {bucket!r} exists")
            return allow_browser_origins(client, bucket, settings.CORS_ORIGINS)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in {"404", "NoSuchBucket", "NotFound"}:
                say(f"S3 refused HeadBucket on {bucket!r}: {code or exc}")
                return 1
        except BotoCoreError as exc:
            # The store's healthcheck passed, but its S3 front may still be warming up.
            if time.monotonic() > deadline:
                say(f"S3 is not reachable: {exc}")
                return 1
            time.sleep(1.0)
            continue
        try:
            if settings.S3_REGION == "us-east-1":
                client.create_bucket(Bucket=bucket)
            else:
                client.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={"LocationConstraint": settings.S3_REGION},
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "BucketAlreadyOwnedByYou":  # a concurrent run made it first
                say(f"S3 refused CreateBucket {bucket!r}: {code or exc}")
                return 1
        say(f"bucket {bucket!r} created")
        return allow_browser_origins(client, bucket, settings.CORS_ORIGINS)


def allow_browser_origins(client: Any, bucket: str, origins: list[str]) -> int:
    """The bucket's CORS rule for FILES_CORS_ORIGINS: the web app's pages PUT and GET the
    presigned URLs straight from the browser, and read each part's ETag. Set on every run, so
    a changed list takes effect; left alone when the list is empty."""
    from botocore.exceptions import ClientError

    if not origins:
        return 0
    rule = {
        "AllowedOrigins": origins,
        "AllowedMethods": ["GET", "HEAD", "PUT"],
        "AllowedHeaders": ["content-type", "content-md5", "x-amz-checksum-sha256"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    }
    try:
        client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        say(f"S3 refused PutBucketCors on {bucket!r}: {code or exc}")
        return 1
    say(f"bucket {bucket!r} accepts browser uploads from {', '.join(origins)}")
    return 0


def jwt_key() -> int:
    """Write admin's signing key once: a fresh Ed25519 key in PKCS8 PEM, readable by us only."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    configured = os.environ.get("ADMIN_JWT_PRIVATE_KEY_FILE")
    if not configured:
        say("ADMIN_JWT_PRIVATE_KEY_FILE is not set")
        return 2
    path = Path(configured)
    if path.exists():
        say(f"{path} exists; keeping it")
        return 0
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_TRUNC, not O_EXCL: under tini the pid is the same on every start, and a temp file left
    # by a crash must not block every later run.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)  # atomic: admin never reads half a key
    say(f"wrote {path}")
    return 0


def probe(url: str) -> int:
    """GET url without proxies (a container's HTTP_PROXY must not see its own healthcheck)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        say(f"probe takes an http:// URL, not {url!r}")
        return 2
    connection = http.client.HTTPConnection(
        parsed.hostname, parsed.port or 80, timeout=PROBE_TIMEOUT_SECONDS
    )
    try:
        connection.request("GET", parsed.path or "/")
        status = connection.getresponse().status
    except OSError as exc:
        say(f"{url}: {exc}")
        return 1
    finally:
        connection.close()
    if status != 200:
        say(f"{url} answered {status}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    match argv:
        case ["create-bucket"]:
            return create_bucket()
        case ["jwt-key"]:
            return jwt_key()
        case ["probe", url]:
            return probe(url)
        case _:
            say("usage: tasks.py create-bucket | jwt-key | probe URL")
            return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
