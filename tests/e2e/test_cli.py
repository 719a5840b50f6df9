"""The nfhub CLI against the running stack (HTTPS, real services, the worker and the nextflow
stand-in): the installed ``nfhub`` executable in a subprocess, as a user or a CI job runs it.

Interruptions are real too: an upload stopped after some parts (Ctrl-C in the middle) and a
download left half-written, then the same command again. Retries are shown against a small
real HTTP server that answers 429/503 first, since the stack only does that under load."""

from __future__ import annotations

import hashlib
import http.server
import json
import math
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest

from nfhub_cli.api import Api, ApiError
from nfhub_cli.config import Config, derive_urls
from nfhub_cli.transfer import (
    FILE_WORKERS,
    MIN_PART_SIZE,
    PART_SUFFIX,
    PART_WORKERS,
    ResumeStore,
    download,
    download_folder,
    upload,
    upload_folder,
)
from nfhub_cli.transfer.folders import _local_path
from support.live import LiveStack

pytestmark = pytest.mark.timeout(300)
NFHUB = Path(sys.executable).with_name("nfhub")


def nfhub(
    config_dir: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NFHUB_CONFIG_DIR": str(config_dir), "COLUMNS": "200"}
    env.pop("NFHUB_TOKEN", None)
    env.pop("NFHUB_PROJECT", None)
    result = subprocess.run(
        [str(NFHUB), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"nfhub {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def stack(https_stack: LiveStack) -> LiveStack:
    https_stack.register_hello()
    return https_stack


@pytest.fixture(scope="module")
def logged_in(
    stack: LiveStack, stack_password: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A config folder after `nfhub login` with a password and `projects use`."""
    config_dir = tmp_path_factory.mktemp("cli-config")
    password_login(stack, config_dir, stack_password)
    nfhub(config_dir, "projects", "use", stack.project_id)
    return config_dir


def password_login(stack: LiveStack, config_dir: Path, password: str, **kwargs: Any) -> Any:
    """`nfhub login` as a user types it against this stack (password on stdin)."""
    assert stack.tls is not None
    return nfhub(
        config_dir, "login", "--url", stack.urls["admin"], "-u", "live", "--password-stdin",
        "--ca-file", str(stack.tls.ca_cert), "--compute-url", stack.urls["compute"],
        "--files-url", stack.urls["files"], "--miner-url", stack.urls["miner"],
        stdin=password + "\n", **kwargs,
    )  # fmt: skip


def api_for(config_dir: Path) -> Api:
    os.environ["NFHUB_CONFIG_DIR"] = str(config_dir)
    try:
        return Api(Config.load())
    finally:
        del os.environ["NFHUB_CONFIG_DIR"]


# --------------------------------------------------------------------------------------------
# login


def test_login_stores_a_personal_access_token_readable_by_the_owner_only(
    stack: LiveStack, logged_in: Path
) -> None:
    config_file = logged_in / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(logged_in.stat().st_mode) == 0o700
    saved = json.loads(config_file.read_text())
    assert saved["token"].startswith("nfh_pat_")
    assert saved["project_id"] == stack.project_id
    with stack.client("admin") as admin:
        me = admin.get("/api/v1/users/me", headers={"Authorization": f"Bearer {saved['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "live"
    shown = nfhub(logged_in, "whoami")
    assert "live at https://127.0.0.1:" in shown.stdout


def test_a_piped_password_logs_in_without_a_getpass_warning(
    stack: LiveStack, stack_password: str, tmp_path: Path
) -> None:
    """`echo pw | nfhub login -u NAME` (no --password-stdin): stdin is not a terminal, so the
    password is read from it, as --password-stdin would, with no GetPassWarning."""
    assert stack.tls is not None
    result = nfhub(
        tmp_path, "login", "--url", stack.urls["admin"], "-u", "live",
        "--ca-file", str(stack.tls.ca_cert), "--compute-url", stack.urls["compute"],
        "--files-url", stack.urls["files"], "--miner-url", stack.urls["miner"],
        stdin=stack_password + "\n",
    )  # fmt: skip
    assert "Warning" not in result.stderr, result.stderr
    assert "logged in to" in result.stderr
    assert json.loads((tmp_path / "config.json").read_text())["token"].startswith("nfh_pat_")


def test_an_empty_stdin_names_the_missing_password(stack: LiveStack, tmp_path: Path) -> None:
    result = nfhub(
        tmp_path, "login", "--url", stack.urls["admin"], "-u", "live", "--password-stdin",
        stdin="", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no password on stdin" in result.stderr


HELP_SCRIPT = """
import sys
import typer
from nfhub_cli.main import app, readable_help

def walk(command, words):
    yield words, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, [*words, name])

root = typer.main.get_command(app)
readable_help(root)
for words, command in walk(root, []):
    print("=== " + " ".join(words), flush=True)
    root.main([*words, "--help"], prog_name="nfhub", standalone_mode=False)
    print("--- options: " + " ".join(
        opt for param in command.params for opt in param.opts if opt.startswith("--")
    ), flush=True)
"""


def test_help_reads_well_in_80_columns(tmp_path: Path) -> None:
    """Every command's --help as nfhub prints it (one process for all, the machine is busy):
    no type tags (<str>, <bool>), no --no- twins of flags, every option's name whole."""
    env = {**os.environ, "NFHUB_CONFIG_DIR": str(tmp_path), "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-c", HELP_SCRIPT], capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sections = result.stdout.split("=== ")[1:]
    assert len(sections) > 15
    for section in sections:
        title, _, body = section.partition("\n")
        text, _, options = body.partition("--- options: ")
        where = f"nfhub {title} --help:\n{text}"
        assert "Usage: nfhub" in text, where
        for tag in ("<str>", "<bool>", "<int", "<float", "<path>", "<file>", "<list", "--no-"):
            assert tag not in text, f"{tag} in {where}"
        assert "…" not in text, where  # nothing cut
        for option in options.split():
            assert f"{option} " in text, f"{option} not shown whole in {where}"


def test_wrong_password_is_one_clear_line_and_stores_no_token(
    stack: LiveStack, tmp_path: Path
) -> None:
    result = password_login(stack, tmp_path, "not-the-password", check=False)
    assert result.returncode == 1
    assert "error:" in result.stderr and "HTTP 401" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "config.json").exists()


def test_without_the_dev_ca_the_certificate_is_refused(stack: LiveStack, tmp_path: Path) -> None:
    result = nfhub(
        tmp_path, "login", "--url", stack.urls["admin"], "--token", stack.token,
        "--compute-url", stack.urls["compute"], "--files-url", stack.urls["files"],
        "--miner-url", stack.urls["miner"], check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr or "certificate" in result.stderr.lower()


def test_an_untrusted_certificate_is_said_at_once_not_retried(stack: LiveStack) -> None:
    """A retry meets the same certificate: no backoff (seconds of it) before the error."""
    waits: list[float] = []
    config = Config(urls={"admin": stack.urls["admin"]}, token=stack.token)
    with (
        Api(config, sleep=waits.append) as api,
        pytest.raises(ApiError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        api.request("admin", "GET", "/users/me", project=False)
    assert waits == []


def test_logout_revokes_the_token(stack: LiveStack, stack_password: str, tmp_path: Path) -> None:
    password_login(stack, tmp_path, stack_password)
    token = json.loads((tmp_path / "config.json").read_text())["token"]
    nfhub(tmp_path, "logout")
    with stack.client("admin") as admin:
        me = admin.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert json.loads((tmp_path / "config.json").read_text())["token"] is None
    again = nfhub(tmp_path, "whoami", check=False)
    assert again.returncode == 1 and "not logged in" in again.stderr


def test_projects_use_refuses_a_project_you_cannot_see(logged_in: Path) -> None:
    result = nfhub(logged_in, "projects", "use", "no-such-project", check=False)
    assert result.returncode == 1 and "no project 'no-such-project'" in result.stderr
    listed = json.loads(nfhub(logged_in, "projects", "list", "--json").stdout)
    assert "live" in [project["slug"] for project in listed]


# --------------------------------------------------------------------------------------------
# files


def test_upload_ls_download_round_trip(logged_in: Path, tmp_path: Path) -> None:
    local = tmp_path / "notes.txt"
    local.write_bytes(b"reads are in raw/\n" * 100)
    nfhub(logged_in, "files", "upload", str(local), "cli/small/")
    listed = json.loads(nfhub(logged_in, "files", "ls", "cli/small", "--json").stdout)
    assert [(e["path"], e["size"]) for e in listed] == [("cli/small/notes.txt", 1800)]
    target = tmp_path / "back"
    target.mkdir()
    nfhub(logged_in, "files", "download", "cli/small/notes.txt", str(target))
    assert (target / "notes.txt").read_bytes() == local.read_bytes()


def test_big_file_goes_in_parts_and_comes_back_identical(logged_in: Path, tmp_path: Path) -> None:
    local = tmp_path / "reads.bin"
    local.write_bytes(os.urandom(2 * MIN_PART_SIZE + 12345))
    result = nfhub(
        logged_in, "files", "upload", str(local), "cli/big/reads.bin",
        "--multipart-threshold", "1", "--part-size", str(MIN_PART_SIZE),
    )  # fmt: skip
    assert "uploaded" in result.stderr
    back = tmp_path / "reads.back"
    nfhub(logged_in, "files", "download", "cli/big/reads.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
    assert (
        not (logged_in / "uploads.json").exists()
        or json.loads((logged_in / "uploads.json").read_text()) == {}
    )


class CountingTransport(httpx.BaseTransport):
    """The real transport, counting the requests it sends; optionally stopping (as Ctrl-C does)
    once ``stop_after`` part uploads have gone through."""

    def __init__(self, verify: Any, stop_after: int | None = None) -> None:
        self.inner = httpx.HTTPTransport(verify=verify)
        self.stop_after = stop_after
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self.stop_after is not None and len(self.requests) >= self.stop_after:
                raise KeyboardInterrupt
            self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


TransportT = TypeVar("TransportT", bound=httpx.BaseTransport)


def blobs_through(api: Api, transport: TransportT) -> TransportT:
    """``api``'s requests to signed URLs (the bytes of uploads and downloads) sent through
    ``transport``."""
    api.blobs.close()
    api.blobs = httpx.Client(transport=transport, timeout=30)
    return transport


def test_an_interrupted_multipart_upload_resumes_with_only_the_missing_parts(
    logged_in: Path, tmp_path: Path
) -> None:
    local = tmp_path / "lane1.bin"
    local.write_bytes(os.urandom(5 * MIN_PART_SIZE + 99))  # 6 parts
    remote = f"cli/resume/{uuid.uuid4().hex}.bin"
    store = ResumeStore(tmp_path / "uploads.json")

    first = api_for(logged_in)
    blobs_through(first, CountingTransport(first.verify, stop_after=2))
    with first, pytest.raises(KeyboardInterrupt):
        upload(first, local, remote, multipart_threshold=1, part_size=MIN_PART_SIZE, store=store)
    upload_id = store.get(ResumeStore.key(first.config.require_project(), remote, local))
    assert upload_id is not None, "the upload's id was not kept for the resume"

    second = api_for(logged_in)
    held = second.json("files", "GET", f"/files/multipart/{upload_id}")
    assert held["status"] == "uploading"
    already = len(held["uploaded_parts"])
    assert already == 2
    counting = blobs_through(second, CountingTransport(second.verify))
    with second:
        entry = upload(
            second, local, remote, multipart_threshold=1, part_size=MIN_PART_SIZE, store=store
        )
    assert entry["size"] == local.stat().st_size
    assert len(counting.requests) == held["part_count"] - already == 4
    assert store.get(ResumeStore.key(second.config.require_project(), remote, local)) is None
    back = tmp_path / "lane1.back"
    nfhub(logged_in, "files", "download", remote, str(back))
    assert back.read_bytes() == local.read_bytes()


def test_a_file_past_10000_parts_of_16_mib_gets_parts_that_fit(
    logged_in: Path, tmp_path: Path
) -> None:
    # A long-read BAM can pass 156 GiB, 10,000 parts of 16 MiB; sparse, it takes no disk.
    # Stopped at the first part: what is checked is the plan the upload starts with.
    local = tmp_path / "promethion.bam"
    size = 200 * 1024**3 + 1
    with local.open("wb") as handle:
        handle.truncate(size)
    remote = f"cli/huge/{uuid.uuid4().hex}.bam"
    store = ResumeStore(tmp_path / "uploads.json")
    api = api_for(logged_in)
    blobs_through(api, CountingTransport(api.verify, stop_after=0))

    with api:
        with pytest.raises(KeyboardInterrupt):
            upload(api, local, remote, store=store)
        upload_id = store.get(ResumeStore.key(api.config.require_project(), remote, local))
        assert upload_id is not None
        held = api.json("files", "GET", f"/files/multipart/{upload_id}")
        api.request("files", "DELETE", f"/files/multipart/{upload_id}")

    assert held["size"] == size
    assert held["part_count"] == math.ceil(size / held["part_size"]) <= 10_000


def test_a_folder_downloads_with_all_below_it_and_again_only_what_changed(
    logged_in: Path, tmp_path: Path
) -> None:
    tree = {
        "a.txt": b"alpha\n",
        "sub/b.fastq": os.urandom(70_000),
        "sub/deeper/c.bin": os.urandom(3 * 1024 * 1024 + 1),
        "sub/deeper/empty.txt": b"",
    }
    remote = f"cli/tree-{uuid.uuid4().hex[:8]}"
    api = api_for(logged_in)
    with api:
        for relative, data in tree.items():
            local = tmp_path / "src" / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            upload(api, local, f"{remote}/{relative}")
        api.request("files", "POST", "/files/folders", json={"path": f"{remote}/nothing-yet"})
    out = tmp_path / "out"

    result = nfhub(logged_in, "files", "download", remote, str(out))

    root = out / remote.rsplit("/", 1)[-1]
    assert {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    } == tree
    assert (root / "nothing-yet").is_dir()
    assert "4 files written" in result.stderr
    # Each file keeps the server's time, so that a later run compares one clock with itself.
    with api_for(logged_in) as api:
        held = api.json("files", "GET", "/files/stat", params={"path": f"{remote}/sub/b.fastq"})
    server_time = datetime.fromisoformat(held["modified"]).timestamp()
    assert abs((root / "sub" / "b.fastq").stat().st_mtime - server_time) < 1e-5

    # Again: nothing to fetch. Then one file changes on the server: only it comes again.
    api = api_for(logged_in)
    counting = blobs_through(api, CountingTransport(api.verify))
    with api:
        assert download_folder(api, remote, out) == []
        assert counting.requests == []
        changed = tmp_path / "b2.fastq"
        changed.write_bytes(os.urandom(70_000))  # the same size: newer is what tells
        upload(api, changed, f"{remote}/sub/b.fastq")
        assert download_folder(api, remote, out) == [root / "sub" / "b.fastq"]
    assert len(counting.requests) == 2  # the changed file's upload and its download
    assert (root / "sub" / "b.fastq").read_bytes() == changed.read_bytes()


def test_a_folder_uploads_with_all_below_it_and_again_only_what_changed(
    logged_in: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run-7"
    tree = {
        "samplesheet.csv": b"sample,fastq_1\nS1,S1_R1.fastq.gz\n",
        "fastq/S1_R1.fastq.gz": os.urandom(200_000),
        "fastq/qc/report.html": b"<html></html>",
    }
    for relative, data in tree.items():
        (run / relative).parent.mkdir(parents=True, exist_ok=True)
        (run / relative).write_bytes(data)
    (run / "logs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big.bin").write_bytes(b"not part of the run")
    (run / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    destination = f"cli/uploads-{uuid.uuid4().hex[:8]}/"

    result = nfhub(logged_in, "files", "upload", str(run), destination)

    assert "3 files sent" in result.stderr
    back = tmp_path / "back"
    api = api_for(logged_in)
    with api:
        download_folder(api, destination + "run-7", back)
        assert (
            api.json("files", "GET", "/files/stat", params={"path": destination + "run-7/logs"})[
                "kind"
            ]
            == "folder"
        )
        with pytest.raises(ApiError) as not_there:
            api.json("files", "GET", "/files/stat", params={"path": destination + "run-7/linked"})
        assert not_there.value.status == 404
    assert {
        path.relative_to(back / "run-7").as_posix(): path.read_bytes()
        for path in (back / "run-7").rglob("*")
        if path.is_file()
    } == tree

    # Again: nothing is sent. Then one file changes (same size, newer): only it goes again.
    api = api_for(logged_in)
    counting = blobs_through(api, CountingTransport(api.verify))
    with api:
        assert upload_folder(api, run, destination + "run-7") == []
        assert counting.requests == []
        (run / "fastq" / "S1_R1.fastq.gz").write_bytes(os.urandom(200_000))
        sent = upload_folder(api, run, destination + "run-7")
    assert sent == [destination + "run-7/fastq/S1_R1.fastq.gz"]
    assert len(counting.requests) == 1


class RefusingTransport(CountingTransport):
    """The real transport, counting requests, but a URL holding ``refuse`` gets a 404, as
    a file deleted between the listing and its download does."""

    def __init__(self, verify: Any, refuse: str) -> None:
        super().__init__(verify)
        self.refuse = refuse

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.refuse in request.url.path:
            return httpx.Response(404, json={"detail": "No such file."}, request=request)
        return super().handle_request(request)


class GatheringTransport(CountingTransport):
    """The real transport, counting requests, but the first ``together`` wait until that
    many are in flight at once (a client sending one at a time breaks the barrier)."""

    def __init__(self, verify: Any, together: int) -> None:
        super().__init__(verify)
        self.barrier = threading.Barrier(together, timeout=10)
        self.waiting = together

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            wait, self.waiting = self.waiting > 0, self.waiting - 1
        if wait:
            self.barrier.wait()
        return super().handle_request(request)


def test_a_folder_moves_several_files_at_once(logged_in: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(8):
        (folder / f"qc-{index}.html").write_bytes(b"<html>%d</html>" % index)
    remote = f"cli/many-{uuid.uuid4().hex[:8]}"
    assert FILE_WORKERS > 1

    for move in ("up", "down"):
        api = api_for(logged_in)
        gathering = blobs_through(api, GatheringTransport(api.verify, together=FILE_WORKERS))
        with api:
            if move == "up":
                assert len(upload_folder(api, folder, remote)) == 8
            else:
                assert len(download_folder(api, remote, tmp_path / "back")) == 8
        assert len(gathering.requests) == 8
        assert not gathering.barrier.broken, f"{move}: the files went one at a time"


class OverlapTransport(CountingTransport):
    """The real transport, counting requests and the most distinct URL paths (files) in
    flight at once."""

    def __init__(self, verify: Any) -> None:
        super().__init__(verify)
        self.in_flight: list[str] = []
        self.most_files = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight.append(request.url.path)
            self.most_files = max(self.most_files, len(set(self.in_flight)))
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.in_flight.remove(request.url.path)


def test_a_folder_upload_sends_big_files_one_after_the_other(
    logged_in: Path, tmp_path: Path
) -> None:
    # Each big file goes in parts, four at once: two big files at once would be eight.
    folder = tmp_path / "lanes"
    folder.mkdir()
    for lane in ("L001", "L002", "L003"):
        (folder / f"{lane}.fastq.gz").write_bytes(os.urandom(3 * MIN_PART_SIZE + 1))
    api = api_for(logged_in)
    overlap = blobs_through(api, OverlapTransport(api.verify))
    with api:
        sent = upload_folder(
            api, folder, f"cli/lanes-{uuid.uuid4().hex[:8]}",
            multipart_threshold=1, part_size=MIN_PART_SIZE, store=ResumeStore(tmp_path / "u.json"),
        )  # fmt: skip

    assert len(sent) == 3
    assert len(overlap.requests) == 3 * 4  # four parts each
    assert overlap.most_files == 1


def test_a_folder_download_goes_on_past_a_file_that_fails_and_names_it(
    logged_in: Path, tmp_path: Path
) -> None:
    remote = f"cli/partly-{uuid.uuid4().hex[:8]}"
    names = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"]
    with api_for(logged_in) as api:
        for name in names:
            (tmp_path / name).write_bytes(name.encode() * 1000)
            upload(api, tmp_path / name, f"{remote}/{name}")
    root = tmp_path / "out" / remote.rsplit("/", 1)[-1]

    api = api_for(logged_in)
    blobs_through(api, RefusingTransport(api.verify, refuse="/b.txt"))
    with api, pytest.raises(ApiError) as failed:
        download_folder(api, remote, tmp_path / "out")

    message = str(failed.value)
    assert message.startswith("1 of 6 files failed")
    assert f"{remote}/b.txt:" in message
    assert sorted(path.name for path in root.glob("*.txt")) == [n for n in names if n != "b.txt"]
    assert all((root / n).read_bytes() == n.encode() * 1000 for n in names if n != "b.txt")
    with api_for(logged_in) as api:
        assert download_folder(api, remote, tmp_path / "out") == [root / "b.txt"]
    assert (root / "b.txt").read_bytes() == b"b.txt" * 1000


@pytest.mark.parametrize("relative", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a\\b"])
def test_a_folder_download_refuses_a_name_outside_its_folder(tmp_path: Path, relative: str) -> None:
    # The names come from the server; a broken or hostile one must not steer the writes.
    with pytest.raises(ApiError, match="outside the folder"):
        _local_path(tmp_path / "out", relative)


def upload_in_process(config_dir: Path, local: Path, remote: str) -> None:
    """What `nfhub files upload LOCAL REMOTE` does, without starting the executable: for the
    tests about downloads, which need a file there (the upload tests above run `nfhub`)."""
    with api_for(config_dir) as api:
        upload(api, local, remote)


def uploaded(config_dir: Path, tmp_path: Path, folder: str) -> tuple[bytes, str]:
    """3 MiB and 7 bytes of random data, uploaded to a new path in ``folder``: the bytes and
    the path."""
    data = os.urandom(3 * 1024 * 1024 + 7)
    local = tmp_path / "source.bin"
    local.write_bytes(data)
    remote = f"{folder}/{uuid.uuid4().hex}.bin"
    upload_in_process(config_dir, local, remote)
    return data, remote


def test_a_half_written_download_continues_with_a_range_request(
    logged_in: Path, tmp_path: Path
) -> None:
    data, remote = uploaded(logged_in, tmp_path, "cli/partial")
    target = tmp_path / "copy.bin"

    api = api_for(logged_in)
    entry = api.json("files", "GET", "/files/stat", params={"path": remote})
    partial = target.with_name(target.name + PART_SUFFIX)
    partial.write_bytes(data[:1_000_000])
    target.with_name(target.name + PART_SUFFIX + ".etag").write_text(
        str(entry.get("etag") or entry.get("modified"))
    )
    counting = blobs_through(api, CountingTransport(api.verify))
    with api:
        download(api, remote, target)
    assert target.read_bytes() == data
    assert not partial.exists()
    assert [r.headers.get("Range") for r in counting.requests] == ["bytes=1000000-"]


class IfRangeDroppingTransport(CountingTransport):
    """The real transport, counting requests, but without If-Range, as from a store that
    ignores it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.pop("If-Range", None)
        return super().handle_request(request)


@pytest.mark.parametrize("store_ignores_if_range", [False, True])
def test_a_file_replaced_before_the_rest_is_asked_for_comes_whole_in_its_new_version(
    logged_in: Path, tmp_path: Path, store_ignores_if_range: bool
) -> None:
    """The resume names the version its first bytes came from (If-Range, and the ETag of the
    answer): a file replaced by one of the same size since then is sent whole, never its tail
    after the old one's head."""
    old, remote = uploaded(logged_in, tmp_path, "cli/replaced")
    api = api_for(logged_in)
    entry = api.json("files", "GET", "/files/stat", params={"path": remote})
    target = tmp_path / "copy.bin"
    target.with_name(target.name + PART_SUFFIX).write_bytes(old[:1_000_000])
    target.with_name(target.name + PART_SUFFIX + ".etag").write_text(
        str(entry.get("etag") or entry.get("modified"))
    )
    new = os.urandom(len(old))
    (tmp_path / "source.bin").write_bytes(new)
    upload_in_process(logged_in, tmp_path / "source.bin", remote)

    transport = IfRangeDroppingTransport if store_ignores_if_range else CountingTransport
    counting = blobs_through(api, transport(api.verify))
    with api:
        download(api, remote, target, entry=entry)  # the entry listed before the replacement

    assert target.read_bytes() == new
    asked = [(r.headers.get("Range"), r.headers.get("If-Range")) for r in counting.requests]
    if store_ignores_if_range:  # the rest of the new version came, and was not taken
        assert asked == [("bytes=1000000-", None), (None, None)]
    else:
        assert asked == [("bytes=1000000-", f'"{entry["etag"]}"')]


class CutOnceTransport(CountingTransport):
    """The real transport, counting requests, but the first response's body (or the first
    for the range ``only_range``) breaks off after ``cut_after`` bytes, as a dropped
    connection does."""

    def __init__(self, verify: Any, cut_after: int, only_range: str | None = None) -> None:
        super().__init__(verify)
        self.cut_after = cut_after
        self.only_range = only_range
        self.cut = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        with self._lock:
            if self.cut or self.only_range not in (None, request.headers.get("Range")):
                return response
            self.cut = True
        body, limit = response.stream, self.cut_after

        class Cut(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                sent = 0
                for chunk in cast(Iterable[bytes], body):
                    if sent + len(chunk) >= limit:
                        yield chunk[: limit - sent]
                        raise httpx.ReadError("connection reset by peer")
                    sent += len(chunk)
                    yield chunk

            def close(self) -> None:
                cast(httpx.SyncByteStream, body).close()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Cut(), request=request
        )


def test_a_download_cut_off_midway_goes_on_from_the_last_byte_written(
    logged_in: Path, tmp_path: Path
) -> None:
    """The bytes received before the break are all in the file (the write buffer is flushed),
    and the retry asks for exactly the rest."""
    # 3 MiB: less than the write buffer, so all of it is buffered when the break comes.
    data, remote = uploaded(logged_in, tmp_path, "cli/cut")
    target = tmp_path / "copy.bin"

    api = api_for(logged_in)
    cutting = blobs_through(api, CutOnceTransport(api.verify, cut_after=1_500_000))
    api.sleep = lambda seconds: None
    with api:
        download(api, remote, target)

    assert target.read_bytes() == data
    assert [r.headers.get("Range") for r in cutting.requests] == [None, "bytes=1500000-"]


# Ranged downloads, in ranges of a MiB: uploaded's 3 MiB and 7 bytes are 4 ranges.
RANGE = 1024 * 1024
RANGES = [
    f"bytes={start}-{min(start + RANGE, 3 * RANGE + 7) - 1}" for start in range(0, 4 * RANGE, RANGE)
]


def ranged_download(api: Api, remote: str, target: Path, **kwargs: Any) -> Path:
    return download(api, remote, target, ranged_threshold=RANGE, range_size=RANGE, **kwargs)


def test_a_big_file_comes_in_ranges_at_once_each_naming_its_version(
    logged_in: Path, tmp_path: Path
) -> None:
    data, remote = uploaded(logged_in, tmp_path, "cli/ranged")
    api = api_for(logged_in)
    etag = api.json("files", "GET", "/files/stat", params={"path": remote})["etag"]
    gathering = blobs_through(api, GatheringTransport(api.verify, together=PART_WORKERS))
    target = tmp_path / "copy.bin"
    with api:
        ranged_download(api, remote, target)

    assert target.read_bytes() == data
    assert sorted(r.headers["Range"] for r in gathering.requests) == RANGES
    assert {r.headers["If-Range"] for r in gathering.requests} == {f'"{etag}"'}
    assert not gathering.barrier.broken, "the ranges went one at a time"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.bin", "source.bin"]


class RefuseRangeTransport(GatheringTransport):
    """The real transport, counting requests, but a request for the range ``refuse`` gets a
    404 (not retried: the download stops there, as an interruption does), once the first
    ``together`` requests are all in flight."""

    def __init__(self, verify: Any, together: int, refuse: str) -> None:
        super().__init__(verify, together)
        self.refuse = refuse

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.headers.get("Range") == self.refuse:
            response.close()
            return httpx.Response(404, json={"detail": "gone for now"}, request=request)
        return response


def test_an_interrupted_ranged_download_fetches_only_the_missing_ranges_again(
    logged_in: Path, tmp_path: Path
) -> None:
    assert len(RANGES) <= PART_WORKERS  # all in flight when one is refused
    data, remote = uploaded(logged_in, tmp_path, "cli/ranged")
    target = tmp_path / "copy.bin"
    api = api_for(logged_in)
    blobs_through(api, RefuseRangeTransport(api.verify, together=4, refuse=RANGES[2]))
    with api, pytest.raises(ApiError):
        ranged_download(api, remote, target)
    noted = json.loads(target.with_name(target.name + PART_SUFFIX + ".ranges").read_text())
    assert noted["done"] == [0, 1, 3]  # the ranges in flight beside it went on to their end

    api = api_for(logged_in)
    counting = blobs_through(api, CountingTransport(api.verify))
    with api:
        ranged_download(api, remote, target)

    assert target.read_bytes() == data
    assert [r.headers["Range"] for r in counting.requests] == [RANGES[2]]


def test_a_range_cut_off_midway_goes_on_from_its_last_byte_written(
    logged_in: Path, tmp_path: Path
) -> None:
    data, remote = uploaded(logged_in, tmp_path, "cli/ranged")
    target = tmp_path / "copy.bin"
    api = api_for(logged_in)
    cutting = blobs_through(
        api, CutOnceTransport(api.verify, cut_after=300_000, only_range=RANGES[1])
    )
    api.sleep = lambda seconds: None
    with api:
        ranged_download(api, remote, target)

    assert target.read_bytes() == data
    asked = sorted(r.headers["Range"] for r in cutting.requests)
    assert asked == sorted([*RANGES, f"bytes={RANGE + 300_000}-{2 * RANGE - 1}"])


@pytest.mark.parametrize("store_ignores_if_range", [False, True])
def test_a_file_replaced_since_some_ranges_came_comes_whole_in_its_new_version(
    logged_in: Path, tmp_path: Path, store_ignores_if_range: bool
) -> None:
    """Ranges of the old version are on the disk, the rest is asked for (with the entry listed
    before the replacement): the new version is fetched whole, never glued onto the old."""
    old, remote = uploaded(logged_in, tmp_path, "cli/ranged")
    target = tmp_path / "copy.bin"
    api = api_for(logged_in)
    entry = api.json("files", "GET", "/files/stat", params={"path": remote})
    blobs_through(api, RefuseRangeTransport(api.verify, together=4, refuse=RANGES[2]))
    with api, pytest.raises(ApiError):
        ranged_download(api, remote, target)
    new = os.urandom(len(old))  # the same size: only its version tells it apart
    (tmp_path / "new.bin").write_bytes(new)
    upload_in_process(logged_in, tmp_path / "new.bin", remote)

    api = api_for(logged_in)
    transport = IfRangeDroppingTransport if store_ignores_if_range else CountingTransport
    counting = blobs_through(api, transport(api.verify))
    with api:
        ranged_download(api, remote, target, entry=entry)

    assert target.read_bytes() == new
    assert sorted(r.headers["Range"] for r in counting.requests[1:]) == RANGES  # all again


def test_a_partial_download_of_another_version_starts_over(logged_in: Path, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    local = tmp_path / "v2.bin"
    local.write_bytes(data)
    remote = f"cli/partial/{uuid.uuid4().hex}.bin"
    nfhub(logged_in, "files", "upload", str(local), remote)
    target = tmp_path / "out.bin"
    target.with_name(target.name + PART_SUFFIX).write_bytes(b"stale bytes of version 1")
    target.with_name(target.name + PART_SUFFIX + ".etag").write_text("an-older-etag")
    nfhub(logged_in, "files", "download", remote, str(target))
    assert target.read_bytes() == data


def test_download_of_a_missing_file_is_a_clear_error(logged_in: Path, tmp_path: Path) -> None:
    result = nfhub(
        logged_in, "files", "download", "cli/nothing-here.bin", str(tmp_path), check=False
    )
    assert result.returncode == 1 and "HTTP 404" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# retries (a real HTTP server that is busy first)


class BusyFirst(http.server.BaseHTTPRequestHandler):
    """Answers the first ``busy`` requests with ``status`` (and Retry-After), then 200."""

    busy = 2
    status = 503
    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        type(self).seen.append(self.command)
        if len(type(self).seen) <= type(self).busy:
            self.send_response(type(self).status)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/problem+json")
            body = json.dumps({"title": "busy", "status": type(self).status}).encode()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            body = b'{"items": [], "count": 0}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server's names

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def busy_server() -> Iterator[tuple[str, type[BusyFirst]]]:
    handler = type("Handler", (BusyFirst,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "method"), [(429, "POST"), (503, "GET"), (503, "PUT")])
def test_busy_answers_are_retried_after_retry_after(
    busy_server: tuple[str, type[BusyFirst]], status: int, method: str
) -> None:
    url, handler = busy_server
    handler.status = status
    waits: list[float] = []
    config = Config(urls=dict.fromkeys(("admin", "compute", "files", "miner"), url), token="t")
    with Api(config, sleep=waits.append) as api:
        response = api.request("files", method, "/files", project=False, json={})
    assert response.status_code == 200
    assert handler.seen == [method] * 3
    assert waits == [1.0, 1.0]


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_a_post_is_not_sent_again(
    busy_server: tuple[str, type[BusyFirst]], status: int
) -> None:
    """A gateway's 502/504 may come after the service created something (a run, a token)."""
    url, handler = busy_server
    handler.status = status
    waits: list[float] = []
    config = Config(urls={"files": url}, token="t")
    with Api(config, sleep=waits.append) as api, pytest.raises(ApiError) as caught:
        api.request("files", "POST", "/files", project=False, json={})
    assert caught.value.status == status
    assert handler.seen == ["POST"] and waits == []
    with Api(config, sleep=waits.append) as api:  # the same answer to a GET is retried
        assert api.request("files", "GET", "/files", project=False).status_code == 200
    assert handler.seen == ["POST", "GET", "GET"]


def test_the_environments_token_is_used_but_never_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NFHUB_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("NFHUB_TOKEN", "nfh_pat_from_ci")
    monkeypatch.setenv("NFHUB_PROJECT", "00000000-0000-0000-0000-00000000000c")
    Config(urls={"admin": "https://admin.example"}, token="stored").save()
    config = Config.load()
    assert config.require_token() == "nfh_pat_from_ci"
    assert config.require_project() == "00000000-0000-0000-0000-00000000000c"
    config.save()  # as `projects use` or `logout` do
    saved = (tmp_path / "config.json").read_text()
    assert "from_ci" not in saved and "00000000000c" not in saved
    assert json.loads(saved)["token"] == "stored"


def test_a_server_that_stays_busy_gives_up_with_its_answer(
    busy_server: tuple[str, type[BusyFirst]],
) -> None:
    url, handler = busy_server
    handler.busy = 100
    waits: list[float] = []
    config = Config(urls={"files": url}, token="t")
    with Api(config, sleep=waits.append) as api, pytest.raises(ApiError) as caught:
        api.request("files", "GET", "/files", project=False)
    assert caught.value.status == 503
    assert len(handler.seen) == 6 and len(waits) == 5


def test_a_dropped_post_is_not_sent_twice(tmp_path: Path) -> None:
    """A connection that fails mid-POST may have created something: no blind retry."""
    listener = __import__("socket").create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def drop() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            connection.recv(65536)
            connection.close()

    threading.Thread(target=drop, daemon=True).start()
    waits: list[float] = []
    config = Config(urls={"miner": f"http://127.0.0.1:{port}"}, token="t")
    try:
        with Api(config, sleep=waits.append) as api, pytest.raises(ApiError):
            api.request("miner", "POST", "/orders", project=False, json={})
    finally:
        listener.close()
    assert len(accepted) == 1 and waits == []


# --------------------------------------------------------------------------------------------
# samples, orders, runs


def test_samples_import_then_order_samplesheet_to_stdout(
    stack: LiveStack, logged_in: Path, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    for read in (1, 2):
        stack.upload(f"cli/raw/{tag}_R{read}.fastq.gz", b"@r\nACGT\n+\nIIII\n")
    sheet = tmp_path / "import.csv"
    sheet.write_text(
        "sample,patient,sex,fastq_1,fastq_2\n"
        f"S-{tag},P-{tag},female,cli/raw/{tag}_R1.fastq.gz,cli/raw/{tag}_R2.fastq.gz\n"
    )
    imported = nfhub(logged_in, "samples", "import", str(sheet), "--json")
    result = json.loads(imported.stdout)
    assert result["samples_created"] == 1
    sample_id = result["samples"][0]["id"]

    with stack.client("miner") as miner:
        order = miner.post(
            "/api/v1/orders",
            json={"display_id": f"ORD-{tag}", "pipeline": "hello",
                  "samples": [{"sample_id": sample_id, "role": "proband"}]},
            headers=stack.headers,
        )  # fmt: skip
        assert order.status_code == 201, order.text
        expected = miner.get(
            f"/api/v1/orders/{order.json()['id']}/samplesheet", headers=stack.headers
        )
    printed = nfhub(logged_in, "orders", "samplesheet", order.json()["id"])
    assert printed.stdout == expected.text
    assert printed.stdout.splitlines()[1].startswith(f"S-{tag},")


def test_a_bad_samplesheet_names_the_row_and_imports_nothing(
    logged_in: Path, tmp_path: Path
) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text("sample,fastq_1\nGOOD-1,cli/raw/none_R1.fastq.gz\n,\n")
    result = nfhub(logged_in, "samples", "import", str(sheet), check=False)
    assert result.returncode == 1
    assert "row" in result.stderr and "HTTP 422" in result.stderr


def test_orders_samplesheet_wants_an_order_id(logged_in: Path) -> None:
    result = nfhub(logged_in, "orders", "samplesheet", "ORD-1", check=False)
    assert result.returncode == 1 and "is not a valid order id" in result.stderr


@pytest.fixture(scope="module")
def sheet_path(stack: LiveStack) -> str:
    stack.upload("cli/sheets/one.csv", b"sample,fastq_1,fastq_2\nS1,a_R1.fastq.gz,a_R2.fastq.gz\n")
    return "cli/sheets/one.csv"


def test_launch_wait_exits_0_when_the_run_completes(logged_in: Path, sheet_path: str) -> None:
    result = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path, "-p", "greeting=hi",
        "--label", "cli-ok", "--wait",
    )  # fmt: skip
    run_id = result.stdout.strip().splitlines()[0]
    assert "COMPLETE" in result.stderr
    listed = json.loads(nfhub(logged_in, "runs", "list", "--label", "cli-ok", "--json").stdout)
    assert [(run["id"], run["state"]) for run in listed] == [(run_id, "COMPLETE")]


def test_watch_exits_1_when_the_run_fails(logged_in: Path, sheet_path: str) -> None:
    launched = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path,
        "-p", "fail_process=MULTIQC", "-p", "exit_code=3",
    )  # fmt: skip
    run_id = launched.stdout.strip()
    watched = nfhub(logged_in, "runs", "watch", run_id, "--interval", "0.3", check=False)
    assert watched.returncode == 1
    assert "EXECUTOR_ERROR" in watched.stderr
    assert "no event stream" not in watched.stderr  # it followed GET /runs/{id}/stream


def test_cancel_stops_a_running_run_and_watch_reports_it(
    stack: LiveStack, logged_in: Path, sheet_path: str
) -> None:
    launched = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path, "-p", "task_seconds=30"
    )
    run_id = launched.stdout.strip()
    stack.wait_state(run_id, {"RUNNING"})
    canceled = nfhub(logged_in, "runs", "cancel", run_id)
    assert "CANCELING" in canceled.stderr or "CANCELED" in canceled.stderr
    watched = nfhub(logged_in, "runs", "watch", run_id, "--interval", "0.3", check=False)
    assert watched.returncode == 1 and "CANCELED" in watched.stderr


def test_launch_with_an_unknown_parameter_is_refused_with_its_name(
    logged_in: Path, sheet_path: str
) -> None:
    result = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path, "-p", "greting=hi",
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "greting" in result.stderr and "HTTP 422" in result.stderr


def test_other_urls_follow_a_moved_base_port() -> None:
    """make run with NFHUB_BASE_PORT=9001 puts compute, files and miner on 9002-9004."""
    urls = derive_urls("https://127.0.0.1:9001/", {"files": "https://files.example/"})
    assert urls == {
        "admin": "https://127.0.0.1:9001",
        "compute": "https://127.0.0.1:9002",
        "files": "https://files.example",
        "miner": "https://127.0.0.1:9004",
    }


def test_secrets_set_from_stdin_list_and_delete_never_show_the_value(logged_in: Path) -> None:
    value = f"cli-secret-{uuid.uuid4().hex}"
    created = nfhub(logged_in, "secrets", "set", "CLI_TOKEN", stdin=value + "\n")
    org = nfhub(logged_in, "secrets", "set", "CLI_TOKEN", "--org", stdin="org " + value)
    updated = nfhub(logged_in, "secrets", "set", "CLI_TOKEN", stdin=value + "-2\n")
    listed = nfhub(logged_in, "secrets", "list", "--json")
    table = nfhub(logged_in, "secrets", "list")
    deleted = nfhub(logged_in, "secrets", "delete", "CLI_TOKEN", "--org")
    after = json.loads(nfhub(logged_in, "secrets", "list", "--json").stdout)

    assert "created the project secret CLI_TOKEN" in created.stderr
    assert "created the org secret CLI_TOKEN" in org.stderr
    assert "updated the project secret CLI_TOKEN" in updated.stderr
    items = [(i["name"], i["scope"], i["overridden"]) for i in json.loads(listed.stdout)]
    assert ("CLI_TOKEN", "project", False) in items and ("CLI_TOKEN", "org", True) in items
    assert "org (overridden)" in table.stdout
    assert "deleted the org secret CLI_TOKEN" in deleted.stderr
    assert [(i["name"], i["scope"]) for i in after if i["name"] == "CLI_TOKEN"] == [
        ("CLI_TOKEN", "project")
    ]
    for result in (created, org, updated, listed, table, deleted):
        assert value not in result.stdout + result.stderr


def test_secrets_set_refuses_an_empty_value_and_a_bad_name(logged_in: Path) -> None:
    empty = nfhub(logged_in, "secrets", "set", "EMPTY_ONE", stdin="", check=False)
    bad = nfhub(logged_in, "secrets", "set", "1BAD", stdin="v", check=False)

    assert empty.returncode == 1 and "no value for EMPTY_ONE" in empty.stderr
    assert bad.returncode == 1 and "HTTP 422" in bad.stderr


def test_launch_names_secrets_and_an_unknown_one_is_refused(
    logged_in: Path, sheet_path: str
) -> None:
    nfhub(logged_in, "secrets", "set", "RUN_TOKEN", stdin="run-token-value")
    launched = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path, "--secret", "RUN_TOKEN",
        "--label", "cli-secret", "--wait",
    )  # fmt: skip
    refused = nfhub(
        logged_in, "runs", "launch", "hello", "--input", sheet_path, "--secret", "RUN_TOKEN",
        "--secret", "NOT_SET", check=False,
    )  # fmt: skip

    assert "COMPLETE" in launched.stderr
    listed = json.loads(nfhub(logged_in, "runs", "list", "--label", "cli-secret", "--json").stdout)
    assert [run["secrets"] for run in listed] == [["RUN_TOKEN"]]
    assert refused.returncode == 1
    assert "NOT_SET" in refused.stderr and "HTTP 422" in refused.stderr


# --------------------------------------------------------------------------------------------
# compute environments


def test_compute_envs_add_validate_primary_and_a_launch_in_one(
    stack: LiveStack, logged_in: Path, sheet_path: str, tmp_path: Path
) -> None:
    root = tmp_path / "cli-env"
    for folder in (root / "work", root / "launch"):
        folder.mkdir(parents=True)
    config = tmp_path / "env.config"
    config.write_text("process.cpus = 1\n")
    pre_run = tmp_path / "pre.sh"
    pre_run.write_text('echo "$CLI_MARK" > pre.txt\n')
    created = [
        nfhub(
            logged_in, "compute-envs", "add", "cli-local", "--work-dir", str(root / "work"),
            "--launch-dir", str(root / "launch"), "--config-file", str(config),
            "--pre-run", str(pre_run), "--env", "CLI_MARK=from-the-cli", "--max-active-runs", "2",
        ).stdout.strip(),
        nfhub(
            logged_in, "compute-envs", "add", "cli-broken", "--work-dir", str(root / "missing"),
            "--launch-dir", str(root / "launch"),
        ).stdout.strip(),
    ]  # fmt: skip
    try:
        nfhub(logged_in, "compute-envs", "validate", "cli-local")
        broken = nfhub(logged_in, "compute-envs", "validate", created[1], check=False)
        nfhub(logged_in, "compute-envs", "primary", "cli-local")
        listed = json.loads(nfhub(logged_in, "compute-envs", "list", "--json").stdout)
        table = nfhub(logged_in, "compute-envs", "list").stdout
        launched = nfhub(
            logged_in, "runs", "launch", "hello", "--input", sheet_path,
            "--compute-env", "cli-local", "--wait",
        )  # fmt: skip
        run = stack.run(launched.stdout.strip().splitlines()[0])
        unknown = nfhub(
            logged_in, "runs", "launch", "hello", "--input", sheet_path,
            "--compute-env", "nowhere", check=False,
        )  # fmt: skip
    finally:
        with stack.client("compute") as compute:
            for env_id in created:
                compute.delete(f"/api/v1/compute-envs/{env_id}", headers=stack.headers)

    assert broken.returncode == 1
    assert f"work folder {root / 'missing'} does not exist" in broken.stderr
    assert {
        (env["name"], env["status"], env["is_primary"])
        for env in listed
        if env["name"].startswith("cli-")
    } == {
        ("cli-local", "AVAILABLE", True), ("cli-broken", "INVALID", False),
    }  # fmt: skip
    assert any(line.split()[:2] == ["*", "cli-local"] for line in table.splitlines())
    run_id = launched.stdout.strip().splitlines()[0]
    assert "COMPLETE" in launched.stderr
    assert (root / "launch" / run_id / "pre.txt").read_text() == "from-the-cli\n"
    assert (run["id"], run["compute_env_id"]) == (run_id, created[0])
    assert unknown.returncode != 0
    assert "no compute environment 'nowhere' in this org" in unknown.stderr
