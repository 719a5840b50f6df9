"""Runs one command and writes its exit code to a file, whoever is left to read it.

The local backend starts ``python -I -S launcher.py --cwd DIR --exit-file F
[--secrets-dir S] -- nextflow run …`` as the leader of a new session and process group. The
worker that started it may die or restart; this wrapper stays, waits for Nextflow and records
how it ended, so the next worker knows. Before it records the end it removes the run's
secrets folder (S): a run's secrets live no longer than its Nextflow. A SIGTERM sent to the
group reaches Nextflow directly (it shuts down cleanly); the wrapper only survives it.

With ``--pre SCRIPT`` and ``--post SCRIPT`` (a compute environment's pre- and post-run
scripts) it runs SCRIPT with bash in DIR before and after Nextflow. A failing pre-run script
ends the run with its exit code before Nextflow starts; the post-run script runs whatever
Nextflow's end (it sees ``NFHUB_EXIT_CODE``), and its own failure is reported in the console
but does not change the run's exit code.

With ``--env-file FILE`` (a JSON object of names to values, mode 0600: the Tower channel's
TOWER_ACCESS_TOKEN and TOWER_WORKFLOW_ID) it adds those to Nextflow's environment and removes
the file, so the run's token is on no command line and in no job record.

Standard library only: it runs without the virtualenv's site-packages (``-S``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time


def _record(exit_file: str, code: int) -> None:
    tmp = f"{exit_file}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"exit_code": code, "finished_at": time.time()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, exit_file)


USAGE = (
    "usage: launcher.py --cwd DIR --exit-file FILE [--secrets-dir DIR] [--pre SCRIPT] "
    "[--post SCRIPT] [--env-file FILE] -- COMMAND [ARG...]\n"
)
OPTIONS = ("--cwd", "--exit-file", "--secrets-dir", "--pre", "--post", "--env-file")


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]] | None:
    options: dict[str, str] = {}
    index = 0
    while index < len(argv) and argv[index] != "--":
        name = argv[index]
        if name not in OPTIONS or name in options or index + 1 >= len(argv):
            return None
        options[name] = argv[index + 1]
        index += 2
    command = argv[index + 1 :]
    if "--cwd" not in options or "--exit-file" not in options or not command:
        return None
    return options, command


def _script(path: str, label: str, env: dict[str, str] | None = None) -> int:
    """Run a pre/post-run script with bash (sh when there is none); its exit code."""
    shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
    sys.stderr.write(f"nfhub launcher: running the {label} script\n")
    sys.stderr.flush()
    try:
        returncode = subprocess.call([shell, path], env=env)  # noqa: S603 - the env's own script
    except OSError as exc:
        sys.stderr.write(f"nfhub launcher: cannot run the {label} script: {exc}\n")
        return 127
    code = 128 - returncode if returncode < 0 else returncode
    if code != 0:
        sys.stderr.write(f"nfhub launcher: the {label} script exited with code {code}\n")
    return code


def _read_env_file(path: str) -> dict[str, str] | None:
    """The variables in FILE (then removed); None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
        os.unlink(path)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"nfhub launcher: cannot read {path}: {exc}\n")
        return None
    if not isinstance(values, dict):
        sys.stderr.write(f"nfhub launcher: {path} is not a JSON object\n")
        return None
    return {str(name): str(value) for name, value in values.items()}


def main(argv: list[str]) -> int:
    parsed = _parse(argv)
    if parsed is None:
        sys.stderr.write(USAGE)
        return 2
    options, command = parsed
    os.chdir(options["--cwd"])
    exit_file, secrets_dir = options["--exit-file"], options.get("--secrets-dir")
    # The group's signals are for Nextflow; the wrapper outlives them to record the end.
    # Handlers (unlike SIG_IGN) are reset to the default in the child at exec.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    if "--pre" in options:
        code = _script(options["--pre"], "pre-run")
        if code != 0:
            if secrets_dir:
                shutil.rmtree(secrets_dir, ignore_errors=True)
            _record(exit_file, code)
            return code
    child_env = None
    if "--env-file" in options:
        extra = _read_env_file(options["--env-file"])
        if extra is None:
            if secrets_dir:
                shutil.rmtree(secrets_dir, ignore_errors=True)
            _record(exit_file, 2)
            return 2
        child_env = {**os.environ, **extra}
    try:
        child = subprocess.Popen(command, env=child_env)  # noqa: S603 - the backend's own nextflow command line
    except OSError as exc:
        sys.stderr.write(f"nfhub launcher: cannot start {command[0]}: {exc}\n")
        code = 127
    else:
        returncode = child.wait()
        code = 128 - returncode if returncode < 0 else returncode
    if secrets_dir:
        shutil.rmtree(secrets_dir, ignore_errors=True)
    if "--post" in options:
        _script(options["--post"], "post-run", {**os.environ, "NFHUB_EXIT_CODE": str(code)})
    _record(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
