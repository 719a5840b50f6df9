"""The checks of an environment's Nextflow config text."""

from __future__ import annotations

import pytest

from nfhub_compute.compute_envs.config_text import config_problems


@pytest.mark.parametrize(
    "text",
    [
        "",
        "process.executor = 'slurm'\nprocess.queue = 'short'\n",
        "process {\n  withName: 'FASTQC' { cpus = 4; memory = '8 GB' }\n}\n",
        "params { list = [1, 2, [3]] }\n",
        '// a comment with { and \'\nenv.X = "}"\n',
        "/* block { comment\n spanning */ docker.enabled = true\n",
        "process.ext.args = '''\n  --opt {a}\n'''\n",
        "params.s = 'it\\'s { fine'\n",
        "// weblog { in a comment is harmless\n",
        "params.note = 'weblog { in a string is harmless'\n",
    ],
)
def test_configs_nextflow_reads_pass(text: str) -> None:
    assert config_problems(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("process {\n  cpus = 2\n", "line 1: '{' is never closed"),
        ("process {\n  cpus = 2\n}}\n", "line 3: '}' closes nothing that is open"),
        ("params { x = [1, 2 }\n", "line 1: '}' closes nothing"),
        ("params.x = 'open\n", "line 1: a string opened with ' is never closed"),
        ('params.x = """\nnever', 'a string opened with """ is never closed'),
        ("/* never\nclosed", "line 1: a /* comment is never closed"),
        ("weblog {\n  enabled = false\n}\n", "line 1: the weblog settings are nfhub's"),
        ("x = 1\nweblog.url = 'http://elsewhere'\n", "line 2: the weblog settings"),
        ("params.args = '-with-weblog http://x'", "-with-weblog is nfhub's"),
        ("x" * (64 * 1024 + 1), "over 64 KiB"),
    ],
)
def test_configs_nextflow_or_nfhub_would_refuse_are_named(text: str, problem: str) -> None:
    problems = config_problems(text)

    assert any(problem in found for found in problems), problems
