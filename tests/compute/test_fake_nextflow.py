"""The nextflow stand-in keeps to the real contract: Nextflow's command line, and the weblog
payloads of ../shared/fixtures/nextflow/weblog/ (every key the fixtures have, same types)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.inprocess import FIXTURES

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "nextflow"
HELLO = FAKE.parent / "pipelines" / "hello"
WEBLOG = FIXTURES / "nextflow" / "weblog"

needs_fixtures = pytest.mark.requires_path(WEBLOG, "the weblog fixtures")


class Receiver:
    """An HTTP server that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/runs/x/events?token=t"

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    thread = threading.Thread(target=receiving.server.serve_forever, daemon=True)
    thread.start()
    yield receiving
    receiving.server.shutdown()
    receiving.server.server_close()


def run_fake(
    tmp_path: Path, *args: str, params: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "params.json").write_text(json.dumps(params or {"outdir": str(tmp_path / "out")}))
    return subprocess.run(
        [str(FAKE), "run", str(HELLO), "-name", "nfhub-shape-test", "-params-file",
         "params.json", "-work-dir", str(tmp_path / "work"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively: what a consumer of the payload relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if value is None:
        return None
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else type(value).__name__
    )


def assert_has_shape(actual: dict[str, Any], expected: dict[str, Any], where: str = "") -> None:
    """Every key of ``expected`` is in ``actual`` with the same JSON type (None: any)."""
    for key, wanted in expected.items():
        assert key in actual, f"{where}{key} is missing"
        got = actual[key]
        if wanted is None or got is None:
            continue
        if isinstance(wanted, dict):
            assert isinstance(got, dict), f"{where}{key} is not an object"
            assert_has_shape(got, wanted, f"{where}{key}.")
        else:
            assert wanted == got, f"{where}{key}: {got} instead of {wanted}"


@needs_fixtures
class TestPayloadShapes:
    def test_each_event_has_every_field_of_the_real_one(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        params = {"outdir": str(tmp_path / "out"), "fail_process": "MULTIQC"}
        result = run_fake(tmp_path, "-with-weblog", receiver.url, params=params)

        assert result.returncode == 1, result.stderr
        pairs = [
            ("01-started.json", receiver.of("started")[0]),
            ("02-process_submitted.json", receiver.of("process_submitted")[0]),
            ("03-process_completed.json", receiver.of("process_completed")[0]),
            ("04-error.json", receiver.of("error")[0]),
            ("05-completed-failed.json", receiver.of("completed")[0]),
        ]
        for name, posted in pairs:
            real = json.loads((WEBLOG / name).read_text())
            expected = shape(real)
            # Values that depend on the run (its own containers, its own stats) may differ.
            for path in (("metadata", "workflow", "container"),):
                node = expected
                for key in path[:-1]:
                    node = node.get(key, {})
                node.pop(path[-1], None)
            if "metadata" in expected:
                expected["metadata"]["workflow"]["start"].pop("offset", None)
                expected["metadata"].pop("parameters", None)
            assert_has_shape(shape(posted), expected, f"{name}: ")

    def test_events_come_in_nextflows_order_with_epoch_milliseconds(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        result = run_fake(tmp_path, "-with-weblog", receiver.url)

        assert result.returncode == 0, result.stderr
        kinds = [event["event"] for event in receiver.events]
        assert kinds[0] == "started" and kinds[-1] == "completed"
        assert kinds.count("process_submitted") == kinds.count("process_completed") == 2
        submitted = receiver.of("process_submitted")[0]["trace"]
        assert submitted["exit"] == 2147483647 and submitted["start"] == 0
        assert submitted["submit"] > 1_600_000_000_000
        assert receiver.of("completed")[0]["metadata"]["workflow"]["success"] is True


class TestCommandLine:
    def test_an_unknown_option_is_refused_like_nextflow(self, tmp_path: Path) -> None:
        result = run_fake(tmp_path, "-with-everything")

        assert result.returncode == 1
        assert "Unknown option: -with-everything" in result.stderr

    def test_an_invalid_run_name_is_refused(self, tmp_path: Path) -> None:
        result = subprocess.run(
            [str(FAKE), "run", str(HELLO), "-name", "Not Valid"],
            cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

        assert result.returncode == 1 and "Not a valid run name" in result.stderr

    def test_version(self) -> None:
        result = subprocess.run(
            [str(FAKE), "-version"], capture_output=True, text=True, timeout=30, check=False
        )

        assert result.stdout.startswith("nextflow version 24.04.4")

    def test_a_missing_input_fails_the_run(self, tmp_path: Path, receiver: Receiver) -> None:
        params = {"outdir": str(tmp_path / "out"), "input": str(tmp_path / "nope.csv")}
        result = run_fake(tmp_path, "-with-weblog", receiver.url, params=params)

        assert result.returncode == 1
        assert receiver.of("completed")[0]["metadata"]["workflow"]["success"] is False

    def test_sigterm_aborts_tasks_then_reports_the_failure(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        (tmp_path / "params.json").write_text(
            json.dumps({"outdir": str(tmp_path / "out"), "task_seconds": 30})
        )
        process = subprocess.Popen(
            [str(FAKE), "run", str(HELLO), "-name", "nfhub-term", "-params-file", "params.json",
             "-with-weblog", receiver.url],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not receiver.of("process_started") and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=20) == 143
        aborted = [e for e in receiver.of("process_completed") if e["trace"]["status"] == "ABORTED"]
        assert len(aborted) == 1
        assert receiver.of("completed")[0]["metadata"]["workflow"]["success"] is False
        assert receiver.of("error") == [
            {key: receiver.of("error")[0][key] for key in ("runName", "runId", "event", "utcTime")}
        ]  # no trace: Nextflow's error on abort names no task


SECRETIVE = FAKE.parent / "pipelines" / "secretive"


class TestSecrets:
    """As Nextflow's LocalSecretsProvider: NXF_SECRETS_FILE, readable by its owner only."""

    def run_secretive(self, tmp_path: Path, store: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FAKE), "run", str(SECRETIVE), "-work-dir", str(tmp_path / "work")],
            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "NXF_SECRETS_FILE": str(store),
                               "HOME": str(tmp_path)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o700, 0o400])
    def test_a_store_others_may_read_is_refused(self, tmp_path: Path, mode: int) -> None:
        store = tmp_path / "store.json"
        store.write_text(json.dumps([{"name": "GREETING", "value": "v"}]))
        store.chmod(mode)

        result = self.run_secretive(tmp_path, store)

        assert result.returncode == 1
        assert "Invalid permissions for secret store file" in result.stderr

    def test_a_task_gets_the_secrets_its_process_declares(self, tmp_path: Path) -> None:
        store = tmp_path / "secrets" / "store.json"
        store.parent.mkdir()
        store.write_text(json.dumps([{"name": "GREETING", "value": "hello"}]))
        store.chmod(0o600)

        result = self.run_secretive(tmp_path, store)

        assert result.returncode == 0, result.stderr
        digests = [p.read_text().strip() for p in (tmp_path / "work").rglob("greeting.sha256")]
        assert digests == ["2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"]
        exports = list(store.parent.glob(".nf-*.secrets"))
        assert [oct(p.stat().st_mode & 0o777) for p in exports] == ["0o600"]
        assert exports[0].read_text() == 'export GREETING="hello"\n'

    def test_a_missing_secret_fails_the_run(self, tmp_path: Path) -> None:
        result = self.run_secretive(tmp_path, tmp_path / "none" / "store.json")

        assert result.returncode == 1
        assert "Required secret is missing: 'GREETING'" in result.stdout


class TestReports:
    """-with-report, -with-timeline, -with-dag [FILE] and their config scopes, as Nextflow."""

    def test_the_options_without_a_file_use_nextflows_default_names(self, tmp_path: Path) -> None:
        result = run_fake(tmp_path, "-with-report", "-with-timeline", "-with-dag")

        assert result.returncode == 0, result.stderr
        for scope in ("report", "timeline", "dag"):
            (written,) = tmp_path.glob(f"{scope}-*.html")
            # report-<yyyyMMdd>-<milliseconds of the day>.html (TraceHelper.launchTimestampFmt)
            day, millis = written.stem.split("-")[1:]
            assert len(day) == 8 and day.isdigit() and 0 <= int(millis) < 86_400_000
            assert written.read_text().startswith("<!DOCTYPE html>")
        assert "HELLO:FASTQC" in next(tmp_path.glob("dag-*.html")).read_text()

    def test_a_file_given_to_the_option_wins_over_the_config(self, tmp_path: Path) -> None:
        (tmp_path / "r.config").write_text(
            "report {\n    enabled = true\n    file = 'from-config.html'\n}\n"
        )
        result = run_fake(tmp_path, "-c", "r.config", "-with-report", "given/report.html")

        assert result.returncode == 0, result.stderr
        report = (tmp_path / "given" / "report.html").read_text()
        assert "HELLO:FASTQC" in report and "COMPLETED" in report
        assert not (tmp_path / "from-config.html").exists()

    def test_the_config_scopes_write_where_they_say_failed_runs_too(self, tmp_path: Path) -> None:
        folder = tmp_path / "out" / "pipeline_info"
        (tmp_path / "r.config").write_text(
            "".join(
                f"{scope} {{\n    enabled = true\n    file = '{folder}/{scope}.html'\n}}\n"
                for scope in ("report", "timeline", "dag")
            )
            # A later block of the same scope wins, as Nextflow merges them.
            + "dag {\n    enabled = false\n}\n"
        )
        params = {"outdir": str(tmp_path / "out"), "fail_process": "MULTIQC"}
        result = run_fake(tmp_path, "-c", "r.config", params=params)

        assert result.returncode == 1
        assert sorted(path.name for path in folder.iterdir()) == ["report.html", "timeline.html"]
        assert "FAILED" in (folder / "report.html").read_text()

    def test_an_existing_report_without_overwrite_stops_the_run(self, tmp_path: Path) -> None:
        (tmp_path / "report.html").write_text("earlier")
        (tmp_path / "o.config").write_text(
            "timeline {\n    enabled = true\n    file = 'report.html'\n    overwrite = true\n}\n"
        )

        refused = run_fake(tmp_path, "-with-report", "report.html")
        overwritten = run_fake(tmp_path, "-c", "o.config")

        assert refused.returncode == 1
        assert "Report file already exists" in refused.stderr
        assert "report.overwrite" in refused.stderr
        assert overwritten.returncode == 0, overwritten.stderr
        assert "execution timeline" in (tmp_path / "report.html").read_text()
