"""A real single-node Slurm, for the Slurm backend's tests and bench/compute.py (RECIPES: "A
real single-node Slurm").

munged (started when none runs), slurmctld and slurmd with a slurm.conf of our own in a given
folder, on two given ports; the daemons run as root, as the recipe has it.

Partitions: ``debug`` (the default) runs jobs; ``tiny`` has ``MaxTime=1`` so that a job asking
for more stays PENDING with the reason ``PartitionTimeLimit``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "sacct")
START_SECONDS = 30.0
CPUS = 8
SLURM_CONF = """\
ClusterName=nfhub-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=3600
KillWait={kill_wait}
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=tiny Nodes=ALL MaxTime=1 State=UP
"""


@dataclass
class SlurmCluster:
    root: Path
    conf: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the caller's own Slurm command
            argv, env=self.env(), capture_output=True, text=True, check=check, timeout=30
        )


def _node_line() -> str:
    """This machine as a node of CPUS CPUs (config_overrides: slurmd believes the config), so
    that the stand-in's light head jobs run side by side on a small machine."""
    described = subprocess.run(
        ["slurmd", "-C"],  # noqa: S607 - Slurm's commands are found on PATH
        capture_output=True, text=True, check=True, timeout=30,
        env={**os.environ, "PATH": _sbin_path()},
    ).stdout  # fmt: skip
    fields = dict(part.split("=", 1) for part in described.split() if "=" in part)
    # The node is called by this machine's name; slurmd finds itself by it.
    return (
        f"NodeName={fields['NodeName']} CPUs={max(CPUS, int(fields['CPUs']))} "
        f"RealMemory={fields['RealMemory']}"
    )


def _ensure_munge() -> None:
    probe = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)  # noqa: S607
    if probe.returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, timeout=30)  # noqa: S607


class SlurmUnavailable(Exception):
    """Slurm cannot be started here; the message says why."""


def write_conf(root: Path, ports: tuple[int, int], *, kill_wait: int = 5) -> Path:
    """A slurm.conf in ``root`` for slurmctld and slurmd on ``ports``."""
    ctld_port, d_port = ports
    for name in ("state", "spool"):
        (root / name).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            root=root, host=socket.gethostname().split(".")[0], ctld_port=ctld_port,
            d_port=d_port, kill_wait=kill_wait, node=_node_line(),
        )
    )  # fmt: skip
    return conf


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def unavailable() -> str | None:
    """Why a Slurm cannot be started here, or None."""
    missing = [name for name in BINARIES if shutil.which(name, path=_sbin_path()) is None]
    if missing:
        return (
            f"Slurm is not installed ({', '.join(missing)} missing): "
            f"apt-get install munge slurmctld slurmd slurm-client"
        )
    if os.geteuid() != 0:
        return "a test Slurm's daemons run as root (RECIPES), and this is not root"
    return None


@contextlib.contextmanager
def running_cluster(root: Path, ports: tuple[int, int]) -> Iterator[SlurmCluster]:
    """A started single-node Slurm, stopped (its jobs canceled) on leaving."""
    reason = unavailable()
    if reason is not None:
        raise SlurmUnavailable(reason)
    _ensure_munge()
    cluster = SlurmCluster(root, write_conf(root, ports))
    env = {**cluster.env(), "PATH": _sbin_path()}
    daemons: list[subprocess.Popen[bytes]] = []
    log = (root / "daemons.out").open("ab")
    try:
        for argv in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
            daemons.append(
                subprocess.Popen(  # noqa: S603 - the fixed daemon command lines above
                    argv, env=env, stdout=log, stderr=log, start_new_session=True
                )
            )
        deadline = time.monotonic() + START_SECONDS
        state = ""
        while time.monotonic() < deadline:
            state = cluster.run("sinfo", "-h", "-p", "debug", "-o", "%t", check=False).stdout
            if state.strip() == "idle":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(
                f"the test Slurm did not become idle in {START_SECONDS:g} s (sinfo: {state!r}); "
                f"see {root}/slurmctld.log and slurmd.log"
            )
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.run("scancel", "--full", "--signal=KILL", "-u", "root", check=False)
            cluster.run("scancel", "-u", "root", check=False)
        for process in reversed(daemons):
            _stop(process)
        log.close()


def _sbin_path() -> str:
    path = os.environ.get("PATH", "")
    return ":".join([path, "/usr/sbin", "/sbin"])
