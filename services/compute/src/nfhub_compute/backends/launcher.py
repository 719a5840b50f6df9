"""Runs one command and writes its exit code to a file, whoever is left to read it.

The local backend starts ``python -I -S launcher.py --cwd DIR --exit-file F -- nextflow run …``
as the leader of a new session and process group. The worker that started it may die or
restart; this wrapper stays, waits for Nextflow and records how it ended, so the next worker
knows. A SIGTERM sent to the group reaches Nextflow directly (it shuts down cleanly); the
wrapper only survives it.

Standard library only: it runs without the virtualenv's site-packages (``-S``).
"""

from __future__ import annotations

import json
import os
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


def main(argv: list[str]) -> int:
    if len(argv) < 6 or argv[0] != "--cwd" or argv[2] != "--exit-file" or argv[4] != "--":
        sys.stderr.write("usage: launcher.py --cwd DIR --exit-file FILE -- COMMAND [ARG...]\n")
        return 2
    os.chdir(argv[1])
    exit_file, command = argv[3], argv[5:]
    # The group's signals are for Nextflow; the wrapper outlives them to record the end.
    # Handlers (unlike SIG_IGN) are reset to the default in the child at exec.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    try:
        child = subprocess.Popen(command)  # noqa: S603 - the backend's own nextflow command line
    except OSError as exc:
        sys.stderr.write(f"nfhub launcher: cannot start {command[0]}: {exc}\n")
        _record(exit_file, 127)
        return 127
    returncode = child.wait()
    code = 128 - returncode if returncode < 0 else returncode
    _record(exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
