"""GET /runs/{id}/metrics (each process's resource summaries) and GET /runs/{id}/reports
(Nextflow's execution report, timeline and DAG among the run's outputs).

Quartiles are asserted exactly: the values are chosen so that every interpolation is exact
in binary floating point, and the expected ones are worked out by hand beside the
statistics module's "inclusive" quantiles, the definition percentile_cont and Nextflow's
report share (linear between the two nearest ranks).
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, update

from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import task_values
from nfhub_compute.models import StoredRunMetrics
from nfhub_compute.runs.weblog import weblog_token
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.tasks.service import TaskService
from nfhub_compute.worker.reconciler import Reconciler
from support.tower import payload

PROBLEM_JSON = "application/problem+json"
GIB = 2**30


def summary(values: list[float]) -> dict[str, Any]:
    """What the API answers for a series of these values."""
    # One value is every quartile (the statistics module wants two).
    q1, median, q3 = (
        statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    )
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "min": min(values),
        "q1": q1,
        "median": median,
        "q3": q3,
        "max": max(values),
    }


def trace(task_id: int, process: str, status: str = "COMPLETED", **values: Any) -> dict[str, Any]:
    """A task row as a weblog trace gives it (field names as Nextflow's)."""
    return task_values({"task_id": task_id, "process": process, "status": status, **values})


async def add_tasks(session_factory: Any, run_id: str, rows: list[dict[str, Any]]) -> None:
    async with session_factory() as session, session.begin():
        await TaskRepository(session).upsert(uuid.UUID(run_id), rows)


async def metrics_of(client: httpx.AsyncClient, team: Any, run_id: str) -> httpx.Response:
    return await client.get(f"/api/v1/runs/{run_id}/metrics", headers=team.headers("viewer"))


class Statements:
    """The SQL statements the app sends while recording."""

    def __init__(self, session_factory: Any) -> None:
        self.engine = session_factory.kw["bind"].sync_engine
        self.sent: list[str] = []

    def _record(self, *args: Any) -> None:
        self.sent.append(args[2])

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def over_tasks(self) -> list[str]:
        return [statement for statement in self.sent if "FROM compute.tasks" in statement]


# ALIGN: six tasks that ended, each with every value. Quartile ranks for n=6: 1.25, 2.5, 3.75.
ALIGN = [
    # %cpu, cpus, peak_rss, memory, realtime, time, read_bytes, write_bytes
    (100.0, 1, 1 * GIB, 4 * GIB, 36_000, 3_600_000, 1000, 10),
    (150.0, 2, 2 * GIB, 4 * GIB, 90_000, 3_600_000, 2000, 20),
    (400.0, 4, 3 * GIB, 4 * GIB, 180_000, 3_600_000, 4000, 40),
    (50.0, 1, 1 * GIB, 2 * GIB, 30_000, 600_000, 3000, 30),
    (300.0, 4, 4 * GIB, 8 * GIB, 900_000, 3_600_000, 8000, 80),
    (200.0, 2, 2 * GIB, 8 * GIB, 1_800_000, 3_600_000, 6000, 60),
]


def measured(row: tuple[float, int, int, int, int, int | None, int, int]) -> dict[str, Any]:
    """One row of ALIGN as the trace fields Nextflow names them."""
    names = ("%cpu", "cpus", "peak_rss", "memory", "realtime", "time", "read_bytes", "write_bytes")
    return dict(zip(names, row, strict=True))


def align_rows() -> list[dict[str, Any]]:
    statuses = ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED", "CACHED", "COMPLETED"]
    return [
        trace(n + 1, "ALIGN", status, **measured(row))
        for n, (row, status) in enumerate(zip(ALIGN, statuses, strict=True))
    ]


class TestMetrics:
    async def test_each_process_is_summarised_from_the_tasks_that_ended(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        busy = measured((9999.0, 1, 99 * GIB, GIB, 99_999_999, 1000, 1, 1))
        await add_tasks(
            session_factory,
            run["id"],
            [
                *align_rows(),
                # Not ended (or killed part way): none of them counts.
                trace(7, "ALIGN", "RUNNING", **busy),
                trace(8, "ALIGN", "SUBMITTED"),
                trace(9, "ALIGN", "ABORTED", **busy),
                trace(10, "MULTIQC", **measured((80.0, 1, GIB, 2 * GIB, 1000, 4000, 5, 7))),
            ],
        )

        response = await metrics_of(compute_client, team, run["id"])

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["run_id"] == run["id"] and body["source"] == "tasks"
        assert body["statuses"] == ["COMPLETED", "FAILED", "CACHED"]
        align, multiqc = body["processes"]
        assert (align["process"], align["tasks"]) == ("ALIGN", 6)
        # By hand: %cpu sorted 50 100 150 200 300 400; ranks 1.25, 2.5, 3.75.
        assert align["cpu_percent"] == {
            "count": 6, "mean": 200.0, "min": 50.0, "q1": 112.5, "median": 175.0, "q3": 275.0,
            "max": 400.0,
        }  # fmt: skip
        assert align["cpu_percent"] == summary([row[0] for row in ALIGN])
        assert align["peak_rss"] == summary([row[2] for row in ALIGN])
        assert align["peak_rss"]["median"] == 2 * GIB
        assert align["realtime_ms"] == summary([row[4] for row in ALIGN])
        assert align["read_bytes"] == summary([row[6] for row in ALIGN])
        assert align["write_bytes"] == summary([row[7] for row in ALIGN])
        # Usage against the request: %cpu per CPU asked for, memory and time in percent.
        assert align["cpu_usage"] == summary([row[0] / row[1] for row in ALIGN])
        assert align["cpu_usage"]["min"] == 50.0 and align["cpu_usage"]["max"] == 100.0
        assert align["memory_usage"] == summary([row[2] * 100 / row[3] for row in ALIGN])
        assert align["memory_usage"]["max"] == 75.0
        assert align["time_usage"] == summary([row[4] * 100 / row[5] for row in ALIGN])
        assert align["time_usage"]["max"] == 50.0
        # One task: every quartile is its value.
        assert multiqc["tasks"] == 1
        assert multiqc["cpu_percent"] == {
            "count": 1, "mean": 80.0, "min": 80.0, "q1": 80.0, "median": 80.0, "q3": 80.0,
            "max": 80.0,
        }  # fmt: skip
        assert multiqc["cpu_percent"] == summary([80.0])
        assert multiqc["memory_usage"]["median"] == 50.0
        assert multiqc["time_usage"]["median"] == 25.0

    async def test_missing_values_leave_a_task_out_of_that_series_only(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(
            session_factory,
            run["id"],
            [
                # No cpus asked: one CPU (as Nextflow's report); no memory or time asked: no
                # usage of them.
                trace(1, "SORT", **{"%cpu": 150.0, "peak_rss": GIB, "realtime": 4000}),
                trace(2, "SORT", **{"%cpu": 50.0, "cpus": 2, "realtime": 2000, "time": 8000}),
                # Nothing measured (a cached task from a run without a trace, "-" values).
                trace(3, "SORT", "CACHED", **{"%cpu": "-", "peak_rss": "-", "cpus": 2}),
                # 0 %cpu or 0 peak_rss: no usage (Nextflow's report leaves them out too).
                trace(4, "SORT", **{"%cpu": 0.0, "cpus": 1, "peak_rss": 0, "memory": GIB}),
                trace(5, "EMPTY"),
            ],
        )

        response = await metrics_of(compute_client, team, run["id"])

        assert response.status_code == 200, response.text
        empty, sort = response.json()["processes"]
        assert sort["tasks"] == 4
        assert sort["cpu_percent"] == summary([150.0, 50.0, 0.0])
        assert sort["peak_rss"] == summary([GIB, 0])
        assert sort["realtime_ms"] == summary([4000, 2000])
        assert sort["cpu_usage"] == summary([150.0, 25.0])
        assert sort["memory_usage"] is None
        assert sort["time_usage"] == summary([25.0])
        assert sort["read_bytes"] is None and sort["write_bytes"] is None
        assert empty["process"] == "EMPTY" and empty["tasks"] == 1
        assert all(empty[series] is None for series in (
            "cpu_percent", "peak_rss", "realtime_ms", "read_bytes", "write_bytes", "cpu_usage",
            "memory_usage", "time_usage"))  # fmt: skip

    async def test_a_run_without_tasks_has_no_processes(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()

        response = await metrics_of(compute_client, team, run["id"])

        assert response.status_code == 200
        assert response.json()["processes"] == []
        assert response.json()["source"] == "tasks"

    async def test_only_running_tasks_make_no_process_yet(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], [trace(1, "ALIGN", "RUNNING")])

        response = await metrics_of(compute_client, team, run["id"])

        assert response.json()["processes"] == []

    async def test_the_metrics_are_one_query_that_an_index_serves(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], align_rows())
        with Statements(session_factory) as statements:
            response = await metrics_of(compute_client, team, run["id"])
        (query,) = statements.over_tasks
        async with session_factory() as session, session.begin():
            # Whatever the table's size (a few rows here): (run_id, process, status) can give
            # the run's ended tasks in process order, so that grouping them sorts nothing; in
            # the generic plan of the prepared statement too.
            connection = await session.connection()
            for setting in ("enable_seqscan", "enable_bitmapscan"):
                await connection.exec_driver_sql(f"SET LOCAL {setting} = off")
            await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            await connection.exec_driver_sql(f"PREPARE run_metrics(uuid) AS {query}")
            plan = await connection.exec_driver_sql(f"EXPLAIN EXECUTE run_metrics('{run['id']}')")
            lines = [row[0] for row in plan]
            await connection.exec_driver_sql("DEALLOCATE run_metrics")

        assert response.status_code == 200
        assert "percentile_cont" in query
        # The run's tasks come from an index on run_id, never a scan of every run's tasks.
        # Which index (and whether a sort follows) the planner picks from the table's
        # statistics, which the other tests' rows move: (run_id, process, status) gives
        # them in process order, (run_id, status) and a sort is as good for a small run.
        assert any("Index Cond: ((run_id = $1)" in line for line in lines), lines
        assert not any("Seq Scan" in line for line in lines), lines
        assert "GroupAggregate" in lines[0] or "HashAggregate" in lines[0], lines

    async def test_a_tower_run_answers_with_the_summary_nextflow_sent(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        sent = payload("complete")["metrics"]
        sent.append({"process": "BROKEN", "cpu": {"mean": "lots"}, "mem": None})
        sent.append(["not", "an", "entry"])
        await set_run(run["id"], channel="tower", process_metrics=sent)
        await add_tasks(session_factory, run["id"], align_rows())

        response = await metrics_of(compute_client, team, run["id"])

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "tower"
        broken, fastqc = body["processes"]
        assert fastqc["process"] == "FASTQC" and fastqc["tasks"] is None
        assert fastqc["realtime_ms"] == {
            "count": None, "mean": 64012.0, "min": 61000.0, "q1": 62000.0, "median": 64012.0,
            "q3": 65000.0, "max": 67000.0,
        }  # fmt: skip
        assert fastqc["cpu_percent"]["median"] == 6.0
        assert fastqc["peak_rss"] is None  # not in what the client sent
        assert broken["process"] == "BROKEN" and broken["cpu_percent"] is None

    async def test_a_tower_run_before_its_complete_call_is_summarised_from_its_tasks(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], channel="tower")
        await add_tasks(session_factory, run["id"], align_rows())

        response = await metrics_of(compute_client, team, run["id"])

        assert response.json()["source"] == "tasks"
        assert response.json()["processes"][0]["tasks"] == 6


async def stored(session_factory: Any, run_id: str) -> StoredRunMetrics | None:
    async with session_factory() as session:
        return await session.scalar(
            select(StoredRunMetrics).where(StoredRunMetrics.run_id == uuid.UUID(run_id))
        )


def computed_at(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["computed_at"])


async def age(session_factory: Any, run_id: str, seconds: float) -> None:
    """The run's stored summaries as if computed just over ``seconds`` earlier."""
    async with session_factory() as session, session.begin():
        row = await session.get(StoredRunMetrics, uuid.UUID(run_id))
        assert row is not None
        await session.execute(
            update(StoredRunMetrics)
            .where(StoredRunMetrics.run_id == row.run_id)
            .values(computed_at=row.computed_at - timedelta(seconds=seconds + 1))
        )


@pytest.fixture
def post_event(compute_client: httpx.AsyncClient, compute_settings: Settings) -> Any:
    """A weblog event of the run, as Nextflow posts it (the events writer, its batch upsert)."""

    async def post(run_id: str, trace: dict[str, Any]) -> None:
        body = {"event": "process_completed", "runName": "late", "runId": "late",
                "utcTime": "2024-05-14T09:00:00Z", "trace": trace}  # fmt: skip
        response = await compute_client.post(
            f"/api/v1/runs/{run_id}/events",
            params={"token": weblog_token(compute_settings, uuid.UUID(run_id))},
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 204, response.text

    return post


# A seventh ALIGN task: %cpu 250 moves the quartiles (ranks 1.5, 3, 4.5 of 7 values).
LATE = (250.0, 2, 1 * GIB, 4 * GIB, 60_000, 3_600_000, 500, 5)


@dataclass
class RunningRun:
    """A running run whose six ALIGN tasks' summaries were read (so stored: ``first``),
    then a seventh task (LATE) written."""

    id: str
    first: dict[str, Any]
    metrics: Callable[[], Awaitable[dict[str, Any]]]


@pytest.fixture
async def running(
    compute_client: httpx.AsyncClient,
    hello: Any,
    launch: Any,
    team: Any,
    set_run: Any,
    session_factory: Any,
) -> RunningRun:
    run_id = (await launch()).json()["id"]

    async def metrics() -> dict[str, Any]:
        body: dict[str, Any] = (await metrics_of(compute_client, team, run_id)).json()
        return body

    await set_run(run_id, state="RUNNING")
    await add_tasks(session_factory, run_id, align_rows())
    first = await metrics()
    await add_tasks(session_factory, run_id, [trace(7, "ALIGN", **measured(LATE))])
    return RunningRun(run_id, first, metrics)


class TestStoredMetrics:
    """An ended run's summaries are computed once and kept (compute.run_metrics) until a task
    of the run is written again; a running run's are kept for at most
    COMPUTE_RUNNING_METRICS_MAX_AGE_SECONDS."""

    async def test_an_ended_runs_metrics_are_computed_once_then_read_as_stored(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], align_rows())
        await set_run(run["id"], state="COMPLETE")

        first = await metrics_of(compute_client, team, run["id"])
        with Statements(session_factory) as statements:
            second = await metrics_of(compute_client, team, run["id"])

        assert first.status_code == 200, first.text
        body = first.json()
        align = body["processes"][0]
        assert align["cpu_percent"] == {
            "count": 6, "mean": 200.0, "min": 50.0, "q1": 112.5, "median": 175.0, "q3": 275.0,
            "max": 400.0,
        }  # fmt: skip
        assert align["memory_usage"] == summary([row[2] * 100 / row[3] for row in ALIGN])
        assert computed_at(body) <= datetime.now(UTC)
        # The second answer is the stored one, to the last digit, without reading a task,
        # and what the live query computes now.
        assert second.json() == body
        assert statements.over_tasks == []
        row = await stored(session_factory, run["id"])
        assert row is not None and row.final
        assert row.processes == body["processes"]
        async with session_factory() as session:
            live = await TaskService(session).live_metrics(uuid.UUID(run["id"]))
        assert [process.model_dump(mode="json") for process in live] == body["processes"]

    @pytest.mark.parametrize("path", ["weblog", "trace"])
    async def test_a_task_reported_after_the_end_has_them_computed_again(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
        post_event: Any,
        path: str,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], align_rows())
        await set_run(run["id"], state="EXECUTOR_ERROR")
        before = (await metrics_of(compute_client, team, run["id"])).json()

        # A late weblog event (the events writer's batch upsert) or the trace file the
        # worker reads at the end (TaskRepository.upsert): either drops the stored row.
        late = {"task_id": 7, "process": "ALIGN", "status": "COMPLETED", **measured(LATE)}
        if path == "weblog":
            await post_event(run["id"], late)
        else:
            await add_tasks(session_factory, run["id"], [trace(**late)])
        assert await stored(session_factory, run["id"]) is None
        after = (await metrics_of(compute_client, team, run["id"])).json()

        align = after["processes"][0]
        assert align["tasks"] == 7
        values = [row[0] for row in ALIGN] + [LATE[0]]
        assert align["cpu_percent"] == summary(values)
        # By hand: 50 100 150 200 250 300 400; ranks 1.5, 3, 4.5.
        assert (align["cpu_percent"]["q1"], align["cpu_percent"]["median"]) == (125.0, 200.0)
        assert align["cpu_percent"]["q3"] == 275.0
        assert computed_at(after) > computed_at(before)
        row = await stored(session_factory, run["id"])
        assert row is not None and row.final and row.processes == after["processes"]

    async def test_a_late_change_to_a_known_task_has_them_computed_again(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        rows = align_rows()
        await add_tasks(session_factory, run["id"], rows)
        await set_run(run["id"], state="COMPLETE")
        await metrics_of(compute_client, team, run["id"])

        # The same task, the same status, a value filled in later (as from the trace file).
        await add_tasks(session_factory, run["id"], [{**rows[0], "read_bytes": 9000}])
        after = (await metrics_of(compute_client, team, run["id"])).json()

        reads = [9000] + [row[6] for row in ALIGN[1:]]
        assert after["processes"][0]["read_bytes"] == summary(reads)

    async def test_a_running_runs_metrics_younger_than_the_max_age_are_answered_as_stored(
        self, running: RunningRun, session_factory: Any
    ) -> None:
        young = await running.metrics()

        assert young == running.first
        assert young["processes"][0]["tasks"] == 6
        row = await stored(session_factory, running.id)
        assert row is not None and not row.final and row.refresh_requested_at is None

    async def test_older_ones_are_answered_while_the_worker_computes_them_anew(
        self,
        running: RunningRun,
        compute_settings: Settings,
        session_factory: Any,
        reconciler: Reconciler,
    ) -> None:
        first = running.first
        # Just older than the max age.
        await age(session_factory, running.id, compute_settings.RUNNING_METRICS_MAX_AGE_SECONDS)

        stale = await running.metrics()
        asked = await stored(session_factory, running.id)
        await reconciler.reconcile_once()
        refreshed = await stored(session_factory, running.id)
        fresh = await running.metrics()

        # Answered at once with what was stored, the worker asked to compute them anew.
        assert stale["processes"] == first["processes"]
        assert computed_at(stale) < computed_at(first)  # aged
        assert asked is not None and asked.refresh_requested_at is not None
        assert refreshed is not None and refreshed.refresh_requested_at is None
        assert not refreshed.final
        assert fresh["processes"][0]["tasks"] == 7
        assert fresh["processes"][0]["cpu_percent"]["median"] == 200.0
        assert computed_at(fresh) > computed_at(first)
        assert fresh["processes"] == refreshed.processes

    async def test_ones_older_than_the_stale_max_are_computed_by_the_request(
        self, running: RunningRun, compute_settings: Settings, session_factory: Any
    ) -> None:
        # No worker computed them: older than the stale max.
        await age(session_factory, running.id, compute_settings.RUNNING_METRICS_STALE_MAX_SECONDS)

        old = await running.metrics()

        assert old["processes"][0]["tasks"] == 7
        assert computed_at(old) > computed_at(running.first)
        row = await stored(session_factory, running.id)
        assert row is not None and not row.final and row.refresh_requested_at is None

    async def test_metrics_kept_while_it_ran_are_computed_anew_once_the_run_ends(
        self, running: RunningRun, set_run: Any, session_factory: Any
    ) -> None:
        await set_run(running.id, state="COMPLETE")

        ended = await running.metrics()

        assert ended["processes"][0]["tasks"] == 7
        row = await stored(session_factory, running.id)
        assert row is not None and row.final

    async def test_an_ended_tower_run_answers_with_its_summary_and_stores_nothing(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], align_rows())
        sent = payload("complete")["metrics"]
        await set_run(run["id"], channel="tower", process_metrics=sent, state="COMPLETE")

        first = (await metrics_of(compute_client, team, run["id"])).json()
        second = (await metrics_of(compute_client, team, run["id"])).json()

        assert first == second
        assert first["source"] == "tower" and first["computed_at"] is None
        assert [process["process"] for process in first["processes"]] == ["FASTQC"]
        assert await stored(session_factory, run["id"]) is None


class TestReports:
    async def test_the_reports_are_listed_with_download_links(
        self,
        compute_client: httpx.AsyncClient,
        files_app: Any,
        hello: Any,
        launch: Any,
        team: Any,
    ) -> None:
        run = (await launch()).json()
        folder = f"runs/{run['id']}/pipeline_info"
        team.put(f"{folder}/execution_report.html", b"<html>report</html>")
        team.put(f"{folder}/execution_timeline.html", b"<html>timeline</html>")
        team.put(f"{folder}/pipeline_dag.html", b"<html>dag</html>")
        # nf-core's own names are reports too; other files of the folder are not.
        team.put(f"{folder}/pipeline_dag_2024-05-14_08-20-11.html", b"<html>old dag</html>")
        team.put(f"{folder}/params.json", b"{}")
        team.put(f"{folder}/execution_trace_2024-05-14.txt", b"task_id\n")
        team.put(f"runs/{run['id']}/multiqc/multiqc_report.html", b"<html>multiqc</html>")

        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/reports", headers=team.headers("viewer")
        )

        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [(item["kind"], item["name"]) for item in items] == [
            ("report", "execution_report.html"),
            ("timeline", "execution_timeline.html"),
            ("dag", "pipeline_dag.html"),
            ("dag", "pipeline_dag_2024-05-14_08-20-11.html"),
        ]
        report = items[0]
        assert report["path"] == "pipeline_info/execution_report.html"
        assert report["project_path"] == f"{folder}/execution_report.html"
        assert report["size"] == len(b"<html>report</html>")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=files_app), base_url="http://files.test"
        ) as files:
            downloaded = [(await files.get(item["download_url"])).content for item in items[:3]]
        assert downloaded == [b"<html>report</html>", b"<html>timeline</html>", b"<html>dag</html>"]

    async def test_a_run_before_its_end_has_no_reports(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()

        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/reports", headers=team.headers("viewer")
        )

        assert response.status_code == 200
        assert response.json() == {"run_id": run["id"], "items": []}

    async def test_reports_need_the_files_read_scope_too(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, factory: Any
    ) -> None:
        run = (await launch()).json()
        _, token = await factory.personal_access_token(team.viewer, scopes=["runs:read"])
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/reports",
            headers={"Authorization": f"Bearer {token}", "X-Project-ID": str(team.project_id)},
        )

        assert response.status_code == 403
        assert "files:read" in response.json()["detail"]


class TestOtherRuns:
    @pytest.mark.parametrize("route", ["metrics", "reports"])
    async def test_another_projects_run_is_404(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        factory: Any,
        session_factory: Any,
        set_run: Any,
        route: str,
    ) -> None:
        run = (await launch()).json()
        await add_tasks(session_factory, run["id"], align_rows())
        team.put(f"runs/{run['id']}/pipeline_info/execution_report.html", b"<html></html>")
        await set_run(run["id"], state="COMPLETE")
        # Its summaries stored: the other project does not read them either.
        assert (await metrics_of(compute_client, team, run["id"])).status_code == 200
        # The same viewer, in another project of the same org.
        other = await factory.project(team.org_id, members={team.viewer: "viewer"})

        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/{route}", headers=dict(team.viewer.in_project(other))
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "ALIGN" not in response.text and "execution_report" not in response.text

    @pytest.mark.parametrize("route", ["metrics", "reports"])
    @pytest.mark.parametrize(
        ("run_id", "status"), [("3f1c9a52-7d0e-4c41-9b1e-2a6f0d8e5c17", 404), ("not-a-uuid", 422)]
    )
    async def test_unknown_and_malformed_ids(
        self, compute_client: httpx.AsyncClient, team: Any, route: str, run_id: str, status: int
    ) -> None:
        response = await compute_client.get(
            f"/api/v1/runs/{run_id}/{route}", headers=team.headers("viewer")
        )

        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize("route", ["metrics", "reports"])
    async def test_no_token_is_401(self, compute_client: httpx.AsyncClient, route: str) -> None:
        response = await compute_client.get(f"/api/v1/runs/{uuid.uuid4()}/{route}")

        assert response.status_code == 401
