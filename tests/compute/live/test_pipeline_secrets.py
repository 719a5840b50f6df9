"""A pipeline secret reaches the stand-in nextflow, and appears nowhere else.

A real stack (admin, files, compute under uvicorn, a worker): the value is set over the API,
a run names the secret, the worker decrypts it into the run's Nextflow secrets store, and the
stand-in's task writes the value's SHA-256 into its work folder (as the secretive test
pipeline's script would). Then the value is looked for everywhere else: every database row
(the ciphertext aside), every process log, every API answer about the run or the secrets,
the launch folder after the run, the command lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from nfhub_shared.config import normalise_database_url
from support.live import LiveStack

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
# Every schema nfhub owns: a value must not be in any of them but as ciphertext.
SCHEMAS = ("admin", "compute", "files", "miner")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def secretive(stack: LiveStack) -> str:
    stack.register_fake("secretive", "Secretive (test)")
    return "secretive"


def put_secret(stack: LiveStack, name: str, value: str, scope: str) -> None:
    with stack.client("compute") as compute:
        response = compute.put(
            f"/api/v1/secrets/{name}",
            params={"scope": scope},
            json={"value": value},
            headers=stack.headers,
        )
    assert response.status_code in (200, 201), response.text


def launch(stack: LiveStack, names: list[str]) -> str:
    with stack.client("compute") as compute:
        response = compute.post(
            "/api/v1/runs",
            json={"pipeline": "secretive", "secrets": names},
            headers=stack.headers,
        )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def database_text(database_url: str) -> list[str]:
    """Every row of every nfhub table as JSON text, pipeline_secrets without its ciphertext."""

    async def dump() -> list[str]:
        engine = create_async_engine(normalise_database_url(database_url))
        rows: list[str] = []
        try:
            async with engine.connect() as connection:
                tables = (
                    await connection.execute(
                        text(
                            "SELECT table_schema, table_name FROM information_schema.tables "
                            "WHERE table_schema = ANY(:schemas) AND table_type = 'BASE TABLE'"
                        ),
                        {"schemas": list(SCHEMAS)},
                    )
                ).all()
                for schema, table in tables:
                    row_json = (
                        "to_jsonb(t) - 'sealed_value'"
                        if (schema, table) == ("compute", "pipeline_secrets")
                        else "to_jsonb(t)"
                    )
                    result = await connection.execute(
                        text(f'SELECT ({row_json})::text FROM "{schema}"."{table}" t')
                    )
                    rows += [f"{schema}.{table}: {row}" for (row,) in result]
        finally:
            await engine.dispose()
        return rows

    return asyncio.run(dump())


def files_holding(folder: Path, value: str) -> list[str]:
    needle = value.encode()
    return [
        str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()
    ]


def test_the_value_reaches_nextflow_and_nothing_else(stack: LiveStack, secretive: str) -> None:
    org_value = f"org-value-{secrets.token_hex(12)}"
    project_value = f"project-value-{secrets.token_hex(12)}"
    put_secret(stack, "GREETING", org_value, "org")
    put_secret(stack, "GREETING", project_value, "project")  # the project's wins
    worker = stack.start_worker()
    try:
        run_id = launch(stack, ["GREETING"])
        finished = stack.wait_state(run_id, TERMINAL, timeout=90)
    finally:
        worker.stop()
    assert finished["state"] == "COMPLETE", finished
    assert finished["secrets"] == ["GREETING"]

    # It arrived: the task of the secret's process wrote the digest of the project's value.
    launch_dir = stack.work_root / "runs" / run_id
    work_dir = stack.work_root / "work" / run_id
    digests = [p.read_text().strip() for p in work_dir.rglob("greeting.sha256")]
    assert digests == [hashlib.sha256(project_value.encode()).hexdigest()]

    # And nowhere else.
    with stack.client("compute") as compute:
        listed = compute.get("/api/v1/secrets", headers=stack.headers)
        one = compute.get("/api/v1/secrets/GREETING", headers=stack.headers)
    answers = [*stack.answers_about(run_id), listed.text, one.text]
    logs = [p.read_text(errors="replace") for p in (stack.root / "logs").glob("*.log")]
    rows = database_text(stack.database_url)
    for value in (org_value, project_value):
        assert [answer for answer in answers if value in answer] == []
        assert [log for log in logs if value in log] == []
        assert [row for row in rows if value in row] == []
        assert files_holding(launch_dir, value) == []
        assert files_holding(work_dir, value) == []
        assert value not in stack.invocations.read_text()
    assert not (launch_dir / ".secrets").exists()
    assert any(row.startswith("compute.pipeline_secrets:") for row in rows)  # the dump saw them


def test_a_secret_deleted_before_the_launch_fails_the_run_saying_so(
    stack: LiveStack, secretive: str
) -> None:
    put_secret(stack, "SHORT_LIVED", f"v-{secrets.token_hex(8)}", "project")
    run_id = launch(stack, ["SHORT_LIVED"])  # no worker yet: it stays QUEUED
    with stack.client("compute") as compute:
        deleted = compute.delete("/api/v1/secrets/SHORT_LIVED", headers=stack.headers)
    assert deleted.status_code == 204, deleted.text

    worker = stack.start_worker()
    try:
        finished = stack.wait_state(run_id, TERMINAL, timeout=60)
    finally:
        worker.stop()

    assert finished["state"] == "SYSTEM_ERROR", finished
    assert "SHORT_LIVED" in finished["state_reason"]
    assert "deleted since it was launched" in finished["state_reason"]
    assert f"nfhub-{uuid.UUID(run_id).hex}" not in stack.launches()  # never started
