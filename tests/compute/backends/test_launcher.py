"""The launcher wrapper on its own: the exit.json contract, with and without pre/post scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nfhub_compute.backends.launchdir import LAUNCHER


def launch(tmp_path: Path, *options: str, command: str = "exit 0") -> tuple[int, dict[str, int]]:
    exit_file = tmp_path / "exit.json"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCHER), "--cwd", str(tmp_path),
         "--exit-file", str(exit_file), *options, "--", "/bin/sh", "-c", command],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return done.returncode, json.loads(exit_file.read_text())


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


class TestLauncher:
    def test_the_commands_exit_code_is_recorded(self, tmp_path: Path) -> None:
        code, ended = launch(tmp_path, command="exit 3")

        assert code == ended["exit_code"] == 3

    def test_pre_and_post_scripts_run_around_the_command_in_the_launch_dir(
        self, tmp_path: Path
    ) -> None:
        pre = script(tmp_path, "pre.sh", "echo pre >> order.txt\n")
        post = script(tmp_path, "post.sh", 'echo "post $NFHUB_EXIT_CODE" >> order.txt\n')

        code, ended = launch(
            tmp_path, "--pre", pre, "--post", post, command="echo run >> order.txt; exit 4"
        )

        assert code == ended["exit_code"] == 4
        assert (tmp_path / "order.txt").read_text() == "pre\nrun\npost 4\n"

    def test_a_failing_pre_run_script_ends_the_run_before_the_command(self, tmp_path: Path) -> None:
        pre = script(tmp_path, "pre.sh", "exit 7\n")

        code, ended = launch(tmp_path, "--pre", pre, command="touch ran")

        assert code == ended["exit_code"] == 7
        assert not (tmp_path / "ran").exists()

    def test_a_failing_post_run_script_keeps_the_commands_exit_code(self, tmp_path: Path) -> None:
        post = script(tmp_path, "post.sh", "exit 9\n")

        code, ended = launch(tmp_path, "--post", post)

        assert code == ended["exit_code"] == 0

    @pytest.mark.parametrize(
        "argv",
        [
            ["--cwd", "/tmp", "--", "true"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "--nope", "y", "--", "true"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "--"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "true"],
        ],
    )
    def test_a_bad_command_line_is_a_usage_error(self, argv: list[str]) -> None:
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(LAUNCHER), *argv],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip

        assert done.returncode == 2 and b"usage:" in done.stderr


class TestEnvFile:
    """--env-file: the Tower channel's TOWER_ACCESS_TOKEN and TOWER_WORKFLOW_ID reach the
    command's environment and nothing else; the file is gone once read."""

    def test_the_variables_reach_the_command_and_the_file_is_removed(self, tmp_path: Path) -> None:
        env_file = tmp_path / "nfhub.env"
        env_file.write_text(
            json.dumps({"TOWER_ACCESS_TOKEN": "nfrun_x", "TOWER_WORKFLOW_ID": "w1"})
        )

        code, ended = launch(
            tmp_path, "--env-file", str(env_file),
            command='printf "%s %s" "$TOWER_ACCESS_TOKEN" "$TOWER_WORKFLOW_ID" > seen.txt',
        )  # fmt: skip

        assert code == ended["exit_code"] == 0
        assert (tmp_path / "seen.txt").read_text() == "nfrun_x w1"
        assert not env_file.exists()

    @pytest.mark.parametrize("content", [None, "not json", "[1, 2]"])
    def test_an_unreadable_env_file_ends_the_run_before_the_command(
        self, tmp_path: Path, content: str | None
    ) -> None:
        env_file = tmp_path / "nfhub.env"
        if content is not None:
            env_file.write_text(content)

        code, ended = launch(tmp_path, "--env-file", str(env_file), command="touch ran")

        assert code == ended["exit_code"] == 2
        assert not (tmp_path / "ran").exists()
