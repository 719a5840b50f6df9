"""Parameters against real nf-core schemas (../shared/fixtures/nf-core): 2020-12 with $defs
(rnaseq, sarek) and draft-07 with definitions (atacseq, chipseq, fetchngs, viralrecon)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nfhub_compute.pipelines.errors import InvalidPipelineSchema
from nfhub_compute.pipelines.sources import input_schema_file
from nfhub_compute.pipelines.validation import (
    declared_params,
    params_problems,
    params_validator,
    with_schema_defaults,
)
from nfhub_shared.errors import field_errors
from support.inprocess import FIXTURES

NF_CORE = FIXTURES / "nf-core"
PIPELINES = ["atacseq", "chipseq", "fetchngs", "rnaseq", "sarek", "viralrecon"]
# What a launch gives each (nfhub sets input and outdir; chipseq also needs a genome FASTA).
VALID = {
    "atacseq": {"input": "/data/samplesheet.csv", "outdir": "/results"},
    "chipseq": {"input": "/data/samplesheet.csv", "outdir": "/results", "fasta": "/ref/g.fa"},
    "fetchngs": {"input": "/data/ids.csv", "outdir": "/results"},
    "rnaseq": {"input": "/data/samplesheet.csv", "outdir": "/results", "aligner": "hisat2"},
    "sarek": {"input": "/data/samplesheet.csv", "outdir": "/results"},
    "viralrecon": {"input": "/data/samplesheet.csv", "outdir": "/results"},
}

needs_fixtures = pytest.mark.requires_path(NF_CORE, "the nf-core fixtures")


def schema(pipeline: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((NF_CORE / pipeline / "nextflow_schema.json").read_text())
    return document


def problems(pipeline: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The problems as the client reads them in the problem+json answer's ``errors``."""
    document = schema(pipeline)
    return field_errors(None, params_problems(document, with_schema_defaults(document, params)))


@needs_fixtures
@pytest.mark.parametrize("pipeline", PIPELINES)
class TestNfCoreSchemas:
    def test_loads_as_the_draft_it_declares(self, pipeline: str) -> None:
        document = schema(pipeline)
        validator = params_validator(document)
        draft = "2020-12" if "2020-12" in document["$schema"] else "draft-07"
        expected = "Draft202012Validator" if draft == "2020-12" else "Draft7Validator"
        assert type(validator).__name__ == expected

    def test_a_launch_with_the_required_params_is_valid(self, pipeline: str) -> None:
        assert problems(pipeline, VALID[pipeline]) == []

    def test_every_grouped_param_is_known(self, pipeline: str) -> None:
        document = schema(pipeline)
        groups = document.get("$defs") or document["definitions"]
        in_groups = {name for group in groups.values() for name in group.get("properties", {})}
        declared = declared_params(document)
        assert declared is not None and in_groups <= declared and "outdir" in declared

    def test_a_missing_required_param_names_it(self, pipeline: str) -> None:
        params = {k: v for k, v in VALID[pipeline].items() if k != "outdir"}
        found = problems(pipeline, params)
        assert {"field": "params.outdir", "type": "required"}.items() <= found[0].items()

    def test_an_unknown_param_is_refused_with_a_suggestion(self, pipeline: str) -> None:
        found = problems(pipeline, {**VALID[pipeline], "outdirr": "/x"})
        assert found[0]["field"] == "params.outdirr"
        assert found[0]["type"] == "unknown_parameter"
        assert "did you mean 'outdir'?" in found[0]["message"]

    def test_each_enum_param_refuses_a_value_outside_it(self, pipeline: str) -> None:
        document = schema(pipeline)
        groups = document.get("$defs") or document["definitions"]
        enums = {
            name: declared
            for group in groups.values()
            for name, declared in group.get("properties", {}).items()
            if "enum" in declared and declared.get("type") == "string"
        }
        if not enums:
            pytest.skip(f"{pipeline} has no string enum parameter")
        bad = dict.fromkeys(enums, "not-a-choice")
        found = problems(pipeline, {**VALID[pipeline], **bad})
        assert {problem["field"] for problem in found} >= {f"params.{name}" for name in enums}
        assert all(p["type"] in ("enum", "pattern") for p in found)

    def test_wrong_types_are_named_by_path(self, pipeline: str) -> None:
        found = problems(pipeline, {**VALID[pipeline], "outdir": 42})
        assert [(p["field"], p["type"]) for p in found] == [("params.outdir", "type")]


@needs_fixtures
class TestNfSchemaKeywords:
    def test_error_message_replaces_the_validator_message(self) -> None:
        found = problems("rnaseq", {**VALID["rnaseq"], "input": "/data/has space.csv"})
        assert found == [
            {
                "location": "body",
                "field": "params.input",
                "message": "The input must be a valid CSV file path with no spaces, ending in "
                "'.csv', and must exist.",
                "type": "pattern",
            }
        ]

    def test_a_schema_default_satisfies_required(self) -> None:
        # sarek requires `step`; its schema's default ('mapping') is what the config sets.
        assert "step" not in VALID["sarek"]
        assert problems("sarek", VALID["sarek"]) == []
        bad = problems("sarek", {**VALID["sarek"], "step": "bake"})
        assert [p["field"] for p in bad] == ["params.step"]

    @pytest.mark.parametrize(("pipeline", "expected"), [("rnaseq", "assets/schema_input.json")])
    def test_the_input_schema_is_found_through_the_input_param(
        self, pipeline: str, expected: str
    ) -> None:
        assert input_schema_file(schema(pipeline)) == expected


class TestSchemaChecks:
    def test_a_remote_ref_is_refused_without_fetching_it(self) -> None:
        document = {"type": "object", "properties": {"a": {"$ref": "https://evil.example/x"}}}
        with pytest.raises(InvalidPipelineSchema, match="only references inside the schema"):
            params_validator(document)

    def test_a_dangling_local_ref_is_refused(self) -> None:
        document = {"allOf": [{"$ref": "#/$defs/missing"}]}
        with pytest.raises(InvalidPipelineSchema, match="which is missing"):
            params_validator(document)

    def test_an_invalid_schema_names_where(self) -> None:
        with pytest.raises(InvalidPipelineSchema, match=r"at properties/a/type"):
            params_validator({"type": "object", "properties": {"a": {"type": 12}}})

    def test_a_schema_without_properties_takes_any_param(self) -> None:
        assert params_problems({"type": "object"}, {"anything": 1}) == []

    def test_additional_properties_true_takes_unknown_params(self) -> None:
        document = {"properties": {"a": {"type": "integer"}}, "additionalProperties": True}
        assert params_problems(document, {"b": "x"}) == []
        assert [p.type for p in params_problems(document, {"a": "x"})] == ["type"]
