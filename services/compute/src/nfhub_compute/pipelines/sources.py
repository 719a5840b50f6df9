"""Where a pipeline version's code lives, and reading its schemas from a local source."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfhub_compute.pipelines.errors import InvalidPipelineSchema, InvalidPipelineSource
from nfhub_compute.pipelines.validation import resolve_pointer

PARAMS_SCHEMA_FILE = "nextflow_schema.json"
# nf-core's convention, used when the params schema does not name the input schema itself.
DEFAULT_INPUT_SCHEMA_FILE = "assets/schema_input.json"


@dataclass(frozen=True)
class LocalSource:
    """A pipeline folder on the compute host, inside one of the allowed roots."""

    path: Path

    @classmethod
    def inside(cls, raw: str, roots: list[Path]) -> LocalSource:
        candidate = Path(raw)
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
