"""The nextflow stand-in's -with-tower keeps to nf-tower's TowerClient: its requests in order,
its auth header, the shapes of tests/fixtures/tower/, and which failures abort the run."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from support.tower import payload

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "nextflow"
HELLO = FAKE.parent / "pipelines" / "hello"


@dataclass
class Platform:
    """An HTTP server answering as Seqera Platform does; ``refuse`` maps a step to a status."""

    refuse: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                url = urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                step = url.path.rsplit("/", 1)[-1]
                platform.requests.append({
                    "method": self.command, "path": url.path, "step": step, "body": body,
                    "query": parse_qs(url.query), "authorization": self.headers["Authorization"],
                })  # fmt: skip
                status = platform.refuse.get(step, 200)
                answer: dict[str, Any] = {"workflowId": "4Bi5xBK6E2Nbhj"}
                if status != 200:
                    answer = {"message": f"refused {step}"}
                elif step == "begin":
                    answer["watchUrl"] = "http://nfhub.test/api/v1/runs/1"
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = answer  # noqa: N815 - http.server's names

            def log_message(self, *_args: Any) -> None:
                return

        return Handler

    def steps(self) -> list[str]:
        return [request["step"] for request in self.requests]


@pytest.fixture
def platform() -> Iterator[tuple[Platform, str]]:
    state = Platform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def run_fake(tmp_path: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FAKE), "run", str(HELLO), "-name", "tower-shape-test", "-work-dir",
         str(tmp_path / "work"), "-with-tower", url, *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )  # fmt: skip


class TestTowerClient:
    def test_requests_in_order_with_the_real_shapes(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform

        result = run_fake(tmp_path, url, TOWER_ACCESS_TOKEN="nfh_pat_abc", TOWER_WORKSPACE_ID="5")

        assert result.returncode == 0, result.stderr
        steps = state.steps()
        assert steps[:2] == ["create", "begin"] and steps[-1] == "complete"
        assert set(steps[2:-1]) == {"progress"}
        assert [r["method"] for r in state.requests] == ["POST"] + ["PUT"] * (len(steps) - 1)
        assert state.requests[1]["path"] == "/api/trace/4Bi5xBK6E2Nbhj/begin"
        basic = base64.b64encode(b"@token:nfh_pat_abc").decode()
        assert {r["authorization"] for r in state.requests} == {f"Basic {basic}"}
        assert {r["query"]["workspaceId"][0] for r in state.requests} == {"5"}
        for request in state.requests:
            real = payload(request["step"])
            assert set(real) <= set(request["body"]), request["step"]
        tasks = [task for r in state.requests[2:-1] for task in r["body"]["tasks"]]
        for task in tasks:
            assert set(payload("progress")["tasks"][0]) <= set(task)
        finished = [task for task in tasks if task["status"] == "COMPLETED"]
        assert finished and all("T" in task["complete"] for task in finished)
        assert "Monitor the execution with Seqera Platform using this URL: " in result.stdout

    def test_complete_carries_each_processs_summary_as_resources_aggregator(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform

        result = run_fake(tmp_path, url, TOWER_ACCESS_TOKEN="nfh_pat_abc")

        assert result.returncode == 0, result.stderr
        metrics = state.requests[-1]["body"]["metrics"]
        assert [entry["process"] for entry in metrics] == ["FASTQC", "MULTIQC"]
        real = payload("complete")["metrics"][0]
        for entry in metrics:
            for series in ("cpu", "time"):
                assert set(real[series]) == set(entry[series]), series
        fastqc = metrics[0]
        assert fastqc["cpu"]["q2"] == 98.5 and fastqc["cpu"]["minLabel"] == "HELLO:FASTQC (sample1)"
        assert fastqc["cpuUsage"]["max"] == 49.25  # %cpu per CPU asked for (2)
        assert fastqc["memUsage"]["mean"] == 2.93  # 60 MiB of 2 GiB, rounded as Nextflow
        assert fastqc["reads"]["max"] == 4096.0

    def test_a_jwt_goes_as_a_bearer_token(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform

        result = run_fake(tmp_path, url, TOWER_ACCESS_TOKEN="eyJh.eyJz.c2ln")

        assert result.returncode == 0, result.stderr
        assert state.requests[0]["authorization"] == "Bearer eyJh.eyJz.c2ln"
        assert "workspaceId" not in state.requests[0]["query"]

    @pytest.mark.parametrize(
        ("refuse", "code", "message"),
        [
            ({"create": 401}, 1, "Unauthorized Seqera Platform API access"),
            ({"create": 403}, 1, "refused create"),
            ({"begin": 404}, 1, "refused begin"),
            ({"progress": 500, "complete": 500}, 0, None),
        ],
    )
    def test_only_a_refused_create_or_begin_aborts_the_run(
        self,
        tmp_path: Path,
        platform: tuple[Platform, str],
        refuse: dict[str, int],
        code: int,
        message: str | None,
    ) -> None:
        state, url = platform
        state.refuse = refuse

        result = run_fake(tmp_path, url, TOWER_ACCESS_TOKEN="nfh_pat_abc")

        assert result.returncode == code, result.stderr
        if message is not None:
            assert f"ERROR ~ {message}" in result.stderr
            assert "complete" not in state.steps()
        else:
            assert state.steps()[-1] == "complete"
            assert "Failed to send message" in (tmp_path / ".nextflow.log").read_text()

    def test_no_token_aborts_before_any_request(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform

        result = run_fake(tmp_path, url)

        assert result.returncode == 1
        assert "Missing Seqera Platform access token" in result.stderr
        assert state.requests == []


class TestTowerSender:
    def test_a_quiet_run_sends_heartbeats_every_alive_interval(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform
        config = tmp_path / "tower.config"
        config.write_text("tower {\n  aliveInterval = '200ms'\n  requestInterval = '100ms'\n}\n")

        result = run_fake(
            tmp_path, url, "-c", str(config), "--silent_seconds", "1.5",
            TOWER_ACCESS_TOKEN="nfh_pat_abc",
        )  # fmt: skip

        assert result.returncode == 0, result.stderr
        steps = state.steps()
        assert steps.count("heartbeat") >= 3, steps
        heartbeat = next(r["body"] for r in state.requests if r["step"] == "heartbeat")
        assert set(payload("heartbeat")) <= set(heartbeat)
        assert steps[-1] == "complete"

    def test_a_busy_run_sends_no_heartbeat_and_the_latest_event_per_task(
        self, tmp_path: Path, platform: tuple[Platform, str]
    ) -> None:
        state, url = platform

        result = run_fake(tmp_path, url, TOWER_ACCESS_TOKEN="nfh_pat_abc")

        assert result.returncode == 0, result.stderr
        assert "heartbeat" not in state.steps()
        batches = [r["body"]["tasks"] for r in state.requests if r["step"] == "progress"]
        for batch in batches:
            ids = [task["taskId"] for task in batch]
            assert len(ids) == len(set(ids)) <= 100
        last = {task["taskId"]: task["status"] for batch in batches for task in batch}
        assert set(last.values()) == {"COMPLETED"}
