"""Launching from a form generated from the pipeline's nextflow_schema.json."""

from __future__ import annotations

import re
from typing import Any

import httpx
from markupsafe import escape

from nfhub_web.launch.schemas import form_from_schema, input_required, params_from_form
from nfhub_web.launch.service import FILES_PER_PAGE
from support.inprocess import Team
from support.web import csrf_of

# nf-core's shape (draft-07 "definitions", nf-schema's help_text and hidden).
NF_CORE_LIKE = {
    "definitions": {
        "input_output_options": {
            "title": "Input/output options",
            "required": ["input", "outdir"],
            "properties": {"input": {"type": "string"}, "outdir": {"type": "string"}},
        },
        "reference_genome_options": {
            "title": "Reference genome options",
            "description": "Which genome to align to.",
            "required": ["genome"],
            "properties": {
                "genome": {
                    "type": "string",
                    "enum": ["GRCh38", "GRCm39"],
                    "description": "Reference genome.",
                    "help_text": "Use <b>GRCh38</b> for human samples.",
                },
                "save_reference": {"type": "boolean", "default": False},
                "igenomes_base": {"type": "string", "default": "s3://x", "hidden": True},
            },
        },
        "max_job_request_options": {
            "title": "Max job request options",
            "properties": {"max_cpus": {"type": "integer", "default": 16, "hidden": True}},
        },
    },
    "allOf": [
        {"$ref": "#/definitions/input_output_options"},
        {"$ref": "#/definitions/reference_genome_options"},
        {"$ref": "#/definitions/max_job_request_options"},
    ],
}


class TestFormFromSchema:
    def test_groups_fields_and_what_nfhub_sets_itself(self) -> None:
        groups = form_from_schema(NF_CORE_LIKE)

        # input/outdir are nfhub's (compute refuses them): their group has nothing left.
        assert [g.title for g in groups] == ["Reference genome options", "Max job request options"]
        genome, save, base = groups[0].fields
        assert genome.required and genome.choices == ("GRCh38", "GRCm39")
        assert genome.help_text == "Use <b>GRCh38</b> for human samples."
        assert save.kind == "boolean" and save.default_text == "false"
        assert base.hidden and groups[0].shown == [genome, save]
        assert groups[1].hidden[0].default_text == "16"

    def test_answers_become_typed_params_and_empty_ones_stay_out(self) -> None:
        groups = form_from_schema(NF_CORE_LIKE)

        params = params_from_form(
            groups,
            {"genome": "GRCh38", "save_reference": "true", "max_cpus": "8", "igenomes_base": ""},
        )
        wrong = params_from_form(groups, {"max_cpus": "eight"})

        assert params == {"genome": "GRCh38", "save_reference": True, "max_cpus": 8}
        assert wrong == {"max_cpus": "eight"}  # compute says what is wrong, beside the field

    def test_a_required_input_is_found_in_a_group_or_at_the_top(self) -> None:
        top = {"required": ["input"], "properties": {"input": {"type": "string"}}}
        nowhere = {"$defs": {"io": {"required": ["outdir"]}}, "required": "input"}

        assert input_required(NF_CORE_LIKE)
        assert input_required(top)
        assert not input_required(nowhere)
        assert not input_required({"properties": {"greeting": {"type": "string"}}})

    def test_numbers_json_cannot_carry_stay_text(self) -> None:
        """More digits than int() reads, a float past the largest: text for compute to refuse
        (as numbers they raised, or could not be sent as JSON: a 500 page)."""
        groups = form_from_schema(
            {"properties": {"count": {"type": "integer"}, "ratio": {"type": "number"}}}
        )
        digits = "9" * 5000

        params = params_from_form(groups, {"count": digits, "ratio": "1e999"})
        usual = params_from_form(groups, {"count": "-3", "ratio": "2.5e3"})

        assert params == {"count": digits, "ratio": "1e999"}
        assert usual == {"count": -3, "ratio": 2500.0}


class TestLaunchPages:
    async def test_the_form_follows_the_schema_and_launches(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any], team: Team
    ) -> None:
        listed = await editor_browser.get("/launch")
        form = await editor_browser.get("/launch/hello")

        assert 'href="/launch/hello"' in listed.text
        assert form.status_code == 200, form.text
        assert "<legend>What the nextflow stand-in does</legend>" in form.text
        assert '<select id="param-fail_process" name="fail_process"' in form.text
        assert '<option value="FASTQC">' in form.text
        assert 'id="param-greeting" name="greeting" value="hello"' in form.text
        assert 'name="input"' not in form.text and 'name="outdir"' not in form.text
        # hello's schema requires input: the samplesheet field says so.
        assert (
            '<label for="launch-input">Input samplesheet <span class="required">(required)</span>'
            in form.text
        )

        launched = await editor_browser.post(
            "/launch/hello",
            data={
                "csrf_token": csrf_of(form.text),
                "version": "1.0.0",
                "input_path": "sheets/hello.csv",
                "greeting": "bonjour",
                "exit_code": "",
                "run_name": "from the form",
            },
        )

        assert launched.status_code == 303, launched.text
        run_page = await editor_browser.get(launched.headers["location"])
        assert "from the form" in run_page.text
        assert '<th scope="row">greeting</th><td><code>bonjour</code>' in run_page.text

    async def test_computes_errors_are_shown_beside_their_fields(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        form = await editor_browser.get("/launch/hello")
        payload = "<img src=x onerror=alert(1)>"

        missing = await editor_browser.post(
            "/launch/hello",
            data={"csrf_token": csrf_of(form.text), "input_path": "sheets/missing.csv"},
        )
        refused = await editor_browser.post(
            "/launch/hello",
            data={
                "csrf_token": csrf_of(form.text),
                "input_path": "sheets/hello.csv",
                "exit_code": "300",
                "greeting": payload,
            },
        )

        assert missing.status_code == 422, missing.text
        assert 'id="launch-input-error"' in missing.text
        assert str(escape("is not in this project's files")) in missing.text
        assert refused.status_code == 422, refused.text
        assert 'id="param-exit_code-error"' in refused.text
        assert re.search(r'id="param-exit_code"[^>]*aria-invalid="true"', refused.text)
        # What was typed stays, escaped.
        assert f'value="{escape(payload)}"' in refused.text and payload not in refused.text

    async def test_launch_needs_the_csrf_token(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        refused = await editor_browser.post("/launch/hello", data={"greeting": "x"})

        assert refused.status_code == 403
        runs = await editor_browser.get("/runs")
        assert "No runs in this project yet" in runs.text

    async def test_an_unknown_pipeline_is_a_404_page(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/launch/no-such-pipeline")

        assert page.status_code == 404

    async def test_a_version_that_is_no_version_walks_nowhere(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        """The version goes into compute's URL path: '..', '/', '?' or '#' in it reached
        other paths of compute's API (1.0.0/../1.0.0 read 1.0.0's schema)."""
        form = await editor_browser.get("/launch/hello")
        walking = ["../../../../runs", "1.0.0/../1.0.0", "1.0.0?limit=1", "1.0.0#x"]

        shown = [await editor_browser.get("/launch/hello", params={"version": v}) for v in walking]
        launched = await editor_browser.post(
            "/launch/hello",
            data={"csrf_token": csrf_of(form.text), "version": "1.0.0/../1.0.0", "greeting": "x"},
        )

        assert [page.status_code for page in shown] == [404] * len(walking)
        assert all("hello has no version" in page.text for page in shown)
        assert launched.status_code == 404, launched.text
        assert "No runs in this project yet" in (await editor_browser.get("/runs")).text


class TestSamplesheetPicker:
    async def test_folders_open_and_a_csv_fills_the_field(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any], team: Team
    ) -> None:
        team.put("sheets/notes.txt", b"not a samplesheet")
        root = await editor_browser.get("/launch-picker/files", headers={"HX-Request": "true"})
        sheets = await editor_browser.get(
            "/launch-picker/files", params={"path": "sheets/"}, headers={"HX-Request": "true"}
        )
        picked = await editor_browser.get(
            "/launch-picker/pick", params={"path": "sheets/hello.csv"}
        )

        assert root.status_code == 200 and "<html" not in root.text
        assert 'hx-get="/launch-picker/files?path=sheets/"' in root.text
        assert 'aria-label="Use sheets/hello.csv"' in sheets.text
        assert "notes.txt" not in sheets.text
        assert 'hx-get="/launch-picker/files?path="' in sheets.text  # up, to the root
        assert picked.text.strip() == (
            '<input id="launch-input" name="input_path" value="sheets/hello.csv">'
        )

    async def test_a_long_folder_is_listed_a_page_at_a_time(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        """A folder of more entries than a page: the samplesheet past the first page is one
        Next away, not cut off."""
        for i in range(FILES_PER_PAGE):
            team.put(f"big/reads-{i:04d}.fastq", b"@r")
        team.put("big/zz-samplesheet.csv", b"sample\n")
        htmx = {"HX-Request": "true"}

        first = await editor_browser.get(
            "/launch-picker/files", params={"path": "big/"}, headers=htmx
        )
        second = await editor_browser.get(
            "/launch-picker/files",
            params={"path": "big/", "offset": FILES_PER_PAGE},
            headers=htmx,
        )

        assert first.status_code == 200, first.text
        assert "zz-samplesheet.csv" not in first.text
        assert f"Entries 1\u2013{FILES_PER_PAGE} of {FILES_PER_PAGE + 1}" in first.text
        assert f'hx-get="/launch-picker/files?path=big/&amp;offset={FILES_PER_PAGE}"' in first.text
        assert 'aria-label="Use big/zz-samplesheet.csv"' in second.text
        assert 'hx-get="/launch-picker/files?path=big/&amp;offset=0"' in second.text

    async def test_an_order_can_be_the_input(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        form = await editor_browser.get("/launch/hello")
        assert '<select id="launch-order" name="order_id"' in form.text

        unknown_order = await editor_browser.post(
            "/launch/hello",
            data={
                "csrf_token": csrf_of(form.text),
                "order_id": "00000000-0000-4000-8000-000000000000",
            },
        )

        # compute looks the order up at miner and says it is not there, beside the field.
        assert unknown_order.status_code in (404, 422), unknown_order.text
        assert 'role="alert"' in unknown_order.text
