"""Runs one command and writes its exit code to a file, whoever is left to read it.

The local backend starts ``python -I -S launcher.py --cwd DIR --exit-file F
[--secrets-dir S] -- nextflow run …`` as the leader of a new session and process group. The
worker that started it may die or restart; this wrapper stays, waits for Nextflow and records
how it ended, so the next worker knows. Before it records the end it removes the run's
secrets folder (S): a run's secrets live no longer than its Nextflow. A SIGTERM sent to the
group reaches Nextflow directly (it shuts down cleanly); the wrapper only survives it.

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


USAGE = "usage: launcher.py --cwd DIR --exit-file FILE [--secrets-dir DIR] -- COMMAND [ARG...]\n"
OPTIONS = ("--cwd", "--exit-file", "--secrets-dir")


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]] | None:
    options: dict[str, str] = {}
    rest = list(argv)
    while len(rest) >= 2 and rest[0] in OPTIONS:
        options[rest[0]] = rest[1]
        rest = rest[2:]
    if not rest or rest[0] != "--" or len(rest) < 2 or not {"--cwd", "--exit-file"} <= set(options):
        return None
    return options, rest[1:]


def main(argv: list[str]) -> int:
    parsed = _options(argv)
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
    try:
        child = subprocess.Popen(command)  # noqa: S603 - the backend's own nextflow command line
    except OSError as exc:
        sys.stderr.write(f"nfhub launcher: cannot start {command[0]}: {exc}\n")
        code = 127
    else:
        returncode = child.wait()
        code = 128 - returncode if returncode < 0 else returncode
    if secrets_dir:
        shutil.rmtree(secrets_dir, ignore_errors=True)
    _record(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
