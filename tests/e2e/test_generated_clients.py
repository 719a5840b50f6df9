"""Clients generated from our OpenAPI documents, as a user of a Tower-style API makes them.

openapi-python-client (the generator Seqera's API docs point to) turns each committed
``openapi/<service>.json`` into a typed package; the test checks that every operation was
generated under its route function's name, then calls read endpoints of all four services
against the live HTTPS stack through the generated code.

The generator runs with ``uv tool run`` at a pinned version rather than as a dev dependency:
it pins typer below 0.28 and our CLI needs typer 0.29, so both cannot share one environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.live import REPO, LiveStack

GENERATOR = "openapi-python-client==0.29.1"
SERVICES = ("admin", "compute", "files", "miner")

pytestmark = pytest.mark.timeout(600)


def _uv() -> list[str]:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if Path(found).exists():
        return [found]
    return [sys.executable, "-m", "uv"]


def _generate(service: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *_uv(),
            "tool",
            "run",
            "--from",
            GENERATOR,
            "openapi-python-client",
            "generate",
            "--path",
            str(REPO / "openapi" / f"{service}.json"),
            "--output-path",
            str(root / f"nfhub_{service}_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four client packages, generated into one folder (``nfhub_<service>_client``) by
    four generator processes side by side, not one after the other."""
    root = tmp_path_factory.mktemp("clients")
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        results = list(pool.map(lambda service: _generate(service, root), SERVICES))
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        # The generator prints a warning for every operation it had to leave out.
        assert "Endpoint will not be generated" not in result.stdout + result.stderr, (
            result.stdout + result.stderr
        )
    return root


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_generated_under_its_name(generated: Path, service: str) -> None:
    document = json.loads((REPO / "openapi" / f"{service}.json").read_text())
    operation_ids = {
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    modules = {path.stem for path in (generated / f"nfhub_{service}_client" / "api").rglob("*.py")}

    assert operation_ids, service
    assert operation_ids <= modules, sorted(operation_ids - modules)
    assert not [name for name in operation_ids if "_api_v1_" in name]


def test_generated_clients_read_from_the_live_stack(
    generated: Path, https_stack: LiveStack
) -> None:
    assert https_stack.tls is not None
    script = textwrap.dedent(
        """
        import json, ssl, sys, uuid
        from nfhub_admin_client import AuthenticatedClient as Admin
        from nfhub_admin_client.api.users import get_me
        from nfhub_admin_client.models import UserRead
        from nfhub_compute_client import AuthenticatedClient as Compute
        from nfhub_compute_client.api.pipelines import list_pipelines
        from nfhub_compute_client.models import PagePipelineRead
        from nfhub_files_client import AuthenticatedClient as Files
        from nfhub_files_client.api.files import list_files
        from nfhub_files_client.models import PageFileEntry, Problem as FilesProblem
        from nfhub_miner_client import AuthenticatedClient as Miner
        from nfhub_miner_client.api.samples import list_samples
        from nfhub_miner_client.models import PageSampleRead

        urls, token, project, ca = json.loads(sys.argv[1])
        def client(cls, name):
            return cls(
                base_url=urls[name], token=token, verify_ssl=ssl.create_default_context(cafile=ca)
            )

        me = get_me.sync(client=client(Admin, "admin"))
        assert isinstance(me, UserRead), me
        pipelines = list_pipelines.sync(client=client(Compute, "compute"), x_project_id=project)
        assert isinstance(pipelines, PagePipelineRead), pipelines
        files = list_files.sync(client=client(Files, "files"), x_project_id=project)
        assert isinstance(files, PageFileEntry), files
        samples = list_samples.sync(client=client(Miner, "miner"), x_project_id=project)
        assert isinstance(samples, PageSampleRead), samples
        # A refusal is the typed problem+json, not an exception or None.
        unknown = list_files.sync(client=client(Files, "files"), x_project_id=str(uuid.uuid4()))
        assert isinstance(unknown, FilesProblem), unknown
        print(json.dumps({
            "user": me.username,
            "pipelines": [p.slug for p in pipelines.items],
            "files": files.count,
            "samples": samples.count,
            "refusal": unknown.status,
        }))
        """
    )
    arguments = json.dumps(
        [https_stack.urls, https_stack.token, https_stack.project_id, str(https_stack.tls.ca_cert)]
    )
    result = subprocess.run(
        [sys.executable, "-c", script, arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(generated)},
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["user"] == "live"
    assert "demo" in answer["pipelines"]
    assert answer["files"] >= 0 and answer["samples"] >= 0
    assert answer["refusal"] == 404
