"""The README's shell examples, run as written: every ```bash block, in order, in one bash
session started in a folder like the repository (examples/ and pipelines/ beside it), against
a live stack described by the same ``stack.env`` make run writes. curl fails on any HTTP error
here (a ~/.curlrc with fail-with-body), so an example that only prints a problem fails too.
Blocks in ```sh (make, docker compose) are not run."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.live import REPO, LiveStack

pytestmark = pytest.mark.timeout(420)
README = REPO / "README.md"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def stack_env_text(stack: LiveStack, seed: dict[str, str]) -> str:
    """stack.env as scripts/nfhub_devstack writes it, for this stack."""
    scripts = str(REPO / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    state = importlib.import_module("nfhub_devstack.state")
    text: str = state.stack_env_text(stack.urls, stack.tls, seed)
    return text


def demo_project(stack: LiveStack) -> str:
    """A project named demo, as make run's seed makes (its own, so the README's names are free)."""
    with stack.client("admin") as admin:
        headers = {"Authorization": f"Bearer {stack.token}"}
        made = admin.post(
            "/api/v1/projects",
            json={"org_id": stack.org_id, "slug": "demo", "name": "Demo project"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        project_id: str = made.json()["id"]
        return project_id


def test_every_readme_shell_example_runs_as_written(
    https_stack: LiveStack, stack_password: str, tmp_path: Path
) -> None:
    blocks = BASH_BLOCK.findall(README.read_text())
    assert len(blocks) >= 8, "the README's shell examples were not found"
    state = tmp_path / "state"
    state.mkdir()
    seed = {
        "user": "live",
        "password": stack_password,
        "org_id": https_stack.org_id,
        "project_id": demo_project(https_stack),
        "token": https_stack.token,
    }
    (state / "stack.env").write_text(stack_env_text(https_stack, seed))
    work = tmp_path / "repo"
    work.mkdir()
    for shipped in ("examples", "pipelines"):
        (work / shipped).symlink_to(REPO / shipped)
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\nshow-error\n")

    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks, 1):
        script += [f"echo '### README block {number}' >&2", block]
    script.append("echo '### all README blocks ran' >&2")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "NFHUB_STATE_DIR": str(state),
        "NFHUB_CONFIG_DIR": str(tmp_path / "nfhub-config"),
        "CURL_HOME": str(curl_home),
        "COLUMNS": "120",
    }
    for name in ("NFHUB_TOKEN", "NFHUB_PROJECT", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True,
        timeout=360, check=False,
    )  # fmt: skip
    failed = [line for line in result.stderr.splitlines() if line.startswith("### README block")]
    where = failed[-1] if failed else "before the first block"
    assert result.returncode == 0, (
        f"{where} failed (exit {result.returncode}):\n{blocks[len(failed) - 1] if failed else ''}"
        f"\n--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-3000:]}"
    )
    assert "### all README blocks ran" in result.stderr
    # What the examples did is there: the shared project, the colleague, the run's outputs.
    with https_stack.client("admin") as admin:
        projects = admin.get(
            "/api/v1/projects", headers={"Authorization": f"Bearer {https_stack.token}"}
        ).json()["items"]
    assert "rnaseq-2026" in [p["slug"] for p in projects]
    assert "COMPLETE" in result.stdout
    assert (work / "downloads" / "part.fastq.gz").read_bytes() == (
        REPO / "examples" / "S1_R1.fastq.gz"
    ).read_bytes()
    assert (work / "downloads" / "examples" / "S3_R2.fastq.gz").is_file()
