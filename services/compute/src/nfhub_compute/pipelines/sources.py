"""Where a pipeline version's code lives, and reading its schemas from a local source."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfhub_compute.pipelines.errors import (
    InvalidPipelineSchema,
    InvalidPipelineSource,
    SourceCheckUnavailable,
)
from nfhub_compute.pipelines.validation import resolve_pointer
from nfhub_shared.errors import FieldProblem

PARAMS_SCHEMA_FILE = "nextflow_schema.json"
# nf-core's convention, used when the params schema does not name the input schema itself.
DEFAULT_INPUT_SCHEMA_FILE = "assets/schema_input.json"

# What git may see of the service's environment: where its config and CAs are, proxies, and
# its own GIT_* settings; never the service's secrets.
GIT_ENV = (
    "PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
)  # fmt: skip
# A commit id: ls-remote lists refs, not commits, so one is taken on trust (Nextflow checks).
COMMIT_PATTERN = re.compile(r"[0-9a-fA-F]{7,40}")
CREDENTIALS_IN_URL = re.compile(r"(?<=://)[^/@\s]+@")
MAX_GIT_MESSAGE = 300


@dataclass(frozen=True)
class LocalSource:
    """A pipeline folder on the compute host, inside one of the allowed roots."""

    path: Path

    @classmethod
    def inside(cls, raw: str, roots: list[Path]) -> LocalSource:
        candidate = Path(raw)
        if "\x00" in raw:  # Path.resolve() raises ValueError on it: a 500
            raise InvalidPipelineSource("source.path cannot contain the NUL character.")
        if not candidate.is_absolute():
            raise InvalidPipelineSource(
                f"source.path {raw!r} must be an absolute path on the compute host."
            )
        resolved = candidate.resolve()
        if not any(resolved == root or root in resolved.parents for root in roots):
            allowed = ", ".join(str(root) for root in roots) or "none configured"
            raise InvalidPipelineSource(
                f"source.path {raw!r} is outside the folders pipelines may come from "
                f"(COMPUTE_PIPELINE_ROOTS: {allowed}); use a git URL or ask an administrator."
            )
        if not resolved.is_dir():
            raise InvalidPipelineSource(f"source.path {raw!r} is not a folder on the compute host.")
        return cls(resolved)

    def read_json(self, relative: str, *, max_bytes: int) -> dict[str, Any] | None:
        """A JSON file of the pipeline (None when absent); it must stay inside the folder."""
        target = (self.path / relative).resolve()
        if self.path not in target.parents:
            raise InvalidPipelineSource(f"{relative!r} points outside the pipeline folder.")
        if not target.is_file():
            return None
        if target.stat().st_size > max_bytes:
            raise InvalidPipelineSchema(f"{relative} is larger than {max_bytes} bytes.")
        try:
            document = json.loads(target.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidPipelineSchema(
                f"{relative} in the pipeline is not valid JSON: {exc}"
            ) from exc
        if not isinstance(document, dict):
            raise InvalidPipelineSchema(f"{relative} in the pipeline is not a JSON object.")
        return document

    def schemas(self, *, max_bytes: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(params schema, input samplesheet schema) as the pipeline ships them."""
        params_schema = self.read_json(PARAMS_SCHEMA_FILE, max_bytes=max_bytes)
        input_file = input_schema_file(params_schema) or DEFAULT_INPUT_SCHEMA_FILE
        return params_schema, self.read_json(input_file, max_bytes=max_bytes)


def input_schema_file(params_schema: dict[str, Any] | None) -> str | None:
    """The samplesheet schema nf-schema reads for the ``input`` parameter (its ``schema`` key)."""
    if not params_schema:
        return None
    groups: list[Any] = [params_schema]
    for branch in params_schema.get("allOf") or []:
        ref = branch.get("$ref") if isinstance(branch, dict) else None
        groups.append(resolve_pointer(params_schema, ref) if isinstance(ref, str) else branch)
    for group in groups:
        properties = group.get("properties") if isinstance(group, dict) else None
        if isinstance(properties, dict):
            declared = properties.get("input")
            if isinstance(declared, dict) and isinstance(declared.get("schema"), str):
                return str(declared["schema"])
    return None


async def check_git_source(
    url: str,
    revision: str,
    *,
    field: str,
    seconds: float,
    extra_env: Mapping[str, str],
) -> None:
    """Refuse a git source that does not answer ``git ls-remote`` or lacks the revision.

    git runs as a subprocess of the event loop (never blocking it), with no way to prompt for
    credentials, and is killed with its helpers when it takes longer than ``seconds``.
    """
    env = {name: value for name, value in os.environ.items()
           if name in GIT_ENV or name.startswith(("GIT_", "LC_"))}  # fmt: skip
    env.update(extra_env)
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", GIT_ASKPASS="")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    try:
        process = await asyncio.create_subprocess_exec(
            "git", "ls-remote", "--", url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise SourceCheckUnavailable(
            "git is not installed on the compute host, so the source cannot be checked: "
            "install git there, or set COMPUTE_PIPELINE_SOURCE_CHECK=false."
        ) from exc
    try:
        async with asyncio.timeout(seconds):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        _refuse(field, f"{_shown(url)} did not answer git ls-remote within {seconds:g} s.")
    if process.returncode != 0:
        said = _last_line(stderr.decode("utf-8", "replace"))
        _refuse(field, f"{_shown(url)} does not answer as a git repository: {said}")
    refs = _ref_names(stdout.decode("utf-8", "replace"))
    if revision not in refs and not COMMIT_PATTERN.fullmatch(revision):
        known = ", ".join(sorted(refs)[:10]) or "none"
        _refuse(
            field.removesuffix("url") + "revision",
            f"{_shown(url)} has no branch or tag {revision!r} (it has: {known}).",
        )


def _ref_names(listing: str) -> set[str]:
    """Branch and tag names, short and full, from ``git ls-remote``'s "<sha>\\t<ref>" lines."""
    names: set[str] = set()
    for line in listing.splitlines():
        _, _, ref = line.partition("\t")
        ref = ref.removesuffix("^{}")
        for prefix in ("refs/heads/", "refs/tags/"):
            if ref.startswith(prefix):
                names.update((ref, ref.removeprefix(prefix)))
    return names


def _shown(url: str) -> str:
    return CREDENTIALS_IN_URL.sub("", url)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = _shown(lines[-1]) if lines else "git gave no reason"
    return last if len(last) <= MAX_GIT_MESSAGE else last[:MAX_GIT_MESSAGE] + "…"


def _refuse(field: str, message: str) -> None:
    raise InvalidPipelineSource(message, errors=[FieldProblem(field=field, message=message)])
