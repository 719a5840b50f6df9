"""A stand-in for the ``nextflow`` launcher, for tests only (real Nextflow cannot be installed
here: its launcher downloads itself). It follows the real command-line contract and posts the
real weblog payload shapes (../shared/fixtures/nextflow/weblog/), so the code under test cannot
tell it from Nextflow at the interface nfhub uses:

    nextflow [-log FILE] [-q] run PIPELINE [-r REV] [-name NAME] [-params-file FILE]
             [-profile A,B] [-work-dir DIR | -w DIR] [-with-weblog URL] [-c CONFIG]...
             [-with-tower [URL]]
             [-resume [SESSION_ID]] [-with-trace [FILE]] [-with-report [FILE]]
             [-with-timeline [FILE]] [-with-dag [FILE]] [-ansi-log BOOL] [--param value]...
    nextflow -version

What it "runs": the processes the pipeline's main.nf declares (FASTQC and MULTIQC when it has
none it can read): the first once per samplesheet row (params.input, a CSV with a ``sample``
column; one task when there is no input), each of the others once. Parameters that steer it:

    fail_process   a process name (FASTQC, MULTIQC…): its tasks fail with exit_code
    exit_code      the failing tasks' exit status (default 1; 137 is written as a kill,
                   140 as a scheduler's time limit, as their .command.err shows)
    stderr_lines   the failing task writes this many more lines to its stderr (default 0)
    task_seconds   how long each task runs (default 0.05)
    silent_seconds sleep this long after the first task, posting nothing

It writes what real Nextflow writes where nfhub looks: .nextflow.log (or -log), the trace file
named by -with-trace or a config's ``trace { file … raw … fields … }``, a .nextflow/cache for
-resume (a resumed run does not repeat tasks that succeeded: they are CACHED, with no weblog
event, as in Nextflow), task folders under the work dir, and outputs under params.outdir.
A task folder holds what Nextflow's task wrapper leaves there: .command.sh (the script),
.command.out and .command.err (the script's stdout and stderr), .command.log (both, as the
wrapper tees them) and .exitcode. A failed task's error report is Nextflow's: the command,
its exit status, its output and the tail of its stderr, its work dir.
The execution report, timeline and DAG (HTML) when -with-report, -with-timeline, -with-dag
[FILE] or a config's ``report``/``timeline``/``dag { enabled = true; file …; overwrite … }``
ask for them, as Nextflow names them by default (report-<stamp>.html, timeline-<stamp>.html,
dag-<stamp>.html in the launch dir): written when the run ends, failed or aborted too; a file
already there without ``overwrite = true`` stops the run before it starts, as in Nextflow.
On SIGTERM it aborts the running tasks (ABORTED events), posts ``completed`` with success
false and a trace-less ``error``, and exits 143.

Secrets as Nextflow's LocalSecretsProvider has them: the store is NXF_SECRETS_FILE (absolute,
else relative to NXF_HOME, default secrets/store.json), a JSON array of {"name", "value"},
refused unless its mode is exactly 0600. A process declaring ``secret 'NAME'`` gets the
value in its task environment through a ``.nf-<hash>.secrets`` file of exports beside the
store; a missing one fails the run ("Required secret is missing"). What the task "does"
with it: writes the value's SHA-256 to ``<name>.sha256`` in its work folder (the secretive
test pipeline's script).

With -with-tower [URL] (or a config's ``tower { enabled = true … }``) it reports as Nextflow's
Tower client does (tests/fakes/nextflow_tower.py): tower.endpoint, tower.accessToken or
TOWER_ACCESS_TOKEN, tower.workspaceId or TOWER_WORKSPACE_ID; a refused create or begin ends
the run with Nextflow's error and exit status 1.

With NFHUB_FAKE_NEXTFLOW_INVOCATIONS set, every invocation appends one JSON line there (for
tests that count launches).
"""

# ruff: noqa: T201 - what Nextflow prints is part of the contract it stands in for

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import socket
import stat
import sys
import time
import uuid
from datetime import UTC, datetime
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# nextflow_tower (its threads, queues and urllib) is imported by the runs that report to Tower.
if TYPE_CHECKING:
    from nextflow_tower import Tower

VERSION = "24.04.4"
BUILD = 5917
UNSET_EXIT = 2147483647
VALUE_OPTIONS = {
    "-r", "-revision", "-name", "-params-file", "-profile", "-work-dir", "-w", "-c", "-config",
    "-ansi-log", "-entry", "-main-script", "-hub", "-user", "-dump-channels",
}  # fmt: skip
OPTIONAL_VALUE_OPTIONS = {"-resume", "-with-weblog", "-with-trace", "-with-report",
                          "-with-timeline", "-with-dag", "-with-tower"}  # fmt: skip
FLAG_OPTIONS = {"-latest", "-stub", "-stub-run", "-offline", "-bg", "-q", "-quiet", "-preview"}
RUN_NAME = re.compile(r"^[a-z](?:[a-z\d]|[-_](?=[a-z\d])){0,79}$")
DEFAULT_TRACE_FIELDS = (
    "task_id,hash,native_id,name,status,exit,submit,duration,realtime,%cpu,peak_rss,"
    "peak_vmem,rchar,wchar"
)

stopping = False


def die(message: str, code: int = 1) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(code)


def parse(argv: list[str]) -> tuple[dict[str, object], dict[str, str]]:
    """(options, --params) of ``nextflow [global] run PIPELINE [options]``."""
    options: dict[str, object] = {"config": []}
    params: dict[str, str] = {}
    args = list(argv)
    while args and args[0].startswith("-") and args[0] != "run":
        option = args.pop(0)
        if option in ("-version", "-v"):
            print(f"nextflow version {VERSION}.{BUILD}")
            sys.exit(0)
        if option == "-log":
            options["log"] = args.pop(0)
        elif option in ("-c", "-config", "-C"):
            options["config"].append(args.pop(0))  # type: ignore[attr-defined]
        elif option in ("-q", "-quiet", "-bg"):
            continue
        else:
            die(
                f"Unknown option: {option} -- Check the available commands and options and "
                "syntax with 'help'"
            )
    if not args or args.pop(0) != "run":
        die("This stand-in only knows the `run` command")
    if not args or args[0].startswith("-"):
        die("No project name was specified")
    options["pipeline"] = args.pop(0)
    while args:
        option = args.pop(0)
        if option.startswith("--"):
            name = option[2:]
            if "=" in name:
                name, value = name.split("=", 1)
            elif args and not args[0].startswith("-"):
                value = args.pop(0)
            else:
                value = "true"
            params[name.replace("-", "_")] = value
        elif option in VALUE_OPTIONS:
            if not args:
                die(f"Expected a parameter after option: {option}")
            value = args.pop(0)
            if option in ("-c", "-config"):
                options["config"].append(value)  # type: ignore[attr-defined]
            else:
                options[option.lstrip("-").replace("-", "_")] = value
        elif option in OPTIONAL_VALUE_OPTIONS:
            value = args.pop(0) if args and not args[0].startswith("-") else True
            options[option.lstrip("-").replace("-", "_")] = value
        elif option in FLAG_OPTIONS:
            options[option.lstrip("-")] = True
        else:
            die(
                f"Unknown option: {option} -- Check the available commands and options and "
                "syntax with 'help'"
            )
    return options, params


class Log:
    def __init__(self, path: Path) -> None:
        self.handle = path.open("a", encoding="utf-8")

    def __call__(self, level: str, logger: str, message: str) -> None:
        stamp = datetime.now().strftime("%b-%d %H:%M:%S.%f")[:-3]  # noqa: DTZ005 - as Nextflow
        self.handle.write(f"{stamp} [main] {level:<5} {logger} - {message}\n")
        self.handle.flush()


def java_time(moment: datetime) -> dict[str, object]:
    """An OffsetDateTime as Jackson serialises it in Nextflow's weblog."""
    return {
        "year": moment.year, "monthValue": moment.month, "month": moment.strftime("%B").upper(),
        "dayOfMonth": moment.day, "dayOfWeek": moment.strftime("%A").upper(),
        "dayOfYear": moment.timetuple().tm_yday, "hour": moment.hour, "minute": moment.minute,
        "second": moment.second, "nano": moment.microsecond * 1000,
        "offset": {"totalSeconds": 0, "id": "Z",
                   "rules": {"fixedOffset": True, "transitions": [], "transitionRules": []}},
    }  # fmt: skip


def iso(moment: datetime) -> str:
    """An OffsetDateTime as the Tower client's JSON has it (ISO-8601, the JVM's zone)."""
    return moment.astimezone().isoformat("T", "milliseconds")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis() -> int:
    return int(time.time() * 1000)


class Weblog:
    def __init__(self, url: str | None, run_name: str, session_id: str, log: Log) -> None:
        self.url, self.run_name, self.session_id, self.log = url, run_name, session_id, log

    def post(self, event: str, **body: object) -> None:
        if not self.url:
            return
        payload = {"runName": self.run_name, "runId": self.session_id, "event": event,
                   "utcTime": utc_now(), **body}  # fmt: skip
        # One connection per message, as urllib.request would send it, through http.client
        # alone: urllib.request's imports made every run's start slower.
        url = urlsplit(self.url)
        connection = (HTTPSConnection if url.scheme == "https" else HTTPConnection)(
            url.hostname or "", url.port, timeout=10
        )
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        try:
            connection.request("POST", target, body=json.dumps(payload).encode(),
                               headers={"Content-Type": "application/json",
                                        "Connection": "close"})  # fmt: skip
            response = connection.getresponse()
            response.read()
            if response.status >= 400:
                raise OSError(f"HTTP Error {response.status}: {response.reason}")
        except (OSError, HTTPException) as exc:
            # Like nf-weblog: best effort, no retry.
            self.log("WARN", "nextflow.webmonitor.WebLogObserver",
                     f"Failed to send message to {self.url}: {exc}")  # fmt: skip
        finally:
            connection.close()


def read_config_scope(paths: list[str], scope: str) -> dict[str, str]:
    """The ``<scope> { … }`` settings of the given config files (``trace``, ``weblog``: the
    few keys nfhub writes), later blocks and files winning, as Nextflow merges them."""
    found: dict[str, str] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            die(f"Config file does not exist: {path}")
        for block in re.finditer(r"\b" + scope + r"\s*\{(.*?)\}", text, re.S):
            for key, value in re.findall(r"(\w+)\s*=\s*'?([^'\n]*)'?", block.group(1)):
                found[key] = value.strip()
    return found


# Nextflow's reports: config scope, command-line option, what its "already exists" error
# calls it (TraceHelper.newFileWriter).
REPORTS = (("report", "with_report", "Report"), ("timeline", "with_timeline", "Timeline"),
           ("dag", "with_dag", "DAG"))  # fmt: skip


def launch_stamp(moment: datetime) -> str:
    """TraceHelper.launchTimestampFmt: yyyyMMdd-A (milliseconds of the day), local time."""
    local = moment.astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return f"{local:%Y%m%d}-{int((local - midnight).total_seconds() * 1000)}"


def report_targets(options: dict[str, object], launch_dir: Path, stamp: str) -> dict[str, Path]:
    """Where each report asked for goes (ConfigBuilder: the option turns it on, its FILE wins
    over the config's, else the default name); a remote path (s3://…) is not written by the
    stand-in, as its outputs are not. An existing file without overwrite aborts the run."""
    targets = {}
    for scope, option, title in REPORTS:
        settings = read_config_scope(list(options["config"]), scope)  # type: ignore[arg-type]
        given = options.get(option)
        if given is None and settings.get("enabled") != "true":
            continue
        name = given if isinstance(given, str) else settings.get("file") or f"{scope}-{stamp}.html"
        if "://" in name:
            continue
        path = Path(name) if Path(name).is_absolute() else launch_dir / name
        if path.exists() and settings.get("overwrite") != "true":
            die(
                f"ERROR ~ {title} file already exists: {path} -- enable the "
                f"'{scope}.overwrite' option in your config file to overwrite existing files"
            )
        targets[scope] = path
    return targets


def html_page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n")  # fmt: skip


def write_reports(targets: dict[str, Path], run_name: str, processes: list[str],
                  rows: list[dict[str, object]], log: Log) -> None:  # fmt: skip
    """The report (a row per task with its resources), the timeline (each task's submit,
    start and end) and the DAG (Mermaid, as Nextflow's HTML renderer embeds it)."""

    def cells(row: dict[str, object], keys: tuple[str, ...]) -> str:
        return "".join(f"<td>{row.get(key, '-')}</td>" for key in keys)

    report_keys = ("task_id", "name", "status", "exit", "realtime", "%cpu", "peak_rss",
                   "read_bytes", "write_bytes", "cpus", "memory", "time")  # fmt: skip
    timeline_keys = ("task_id", "name", "submit", "start", "complete")
    pages = {
        "report": html_page(
            f"Nextflow workflow report: [{run_name}]",
            "<table>\n<tr>"
            + "".join(f"<th>{key}</th>" for key in report_keys)
            + "</tr>\n"
            + "".join(f"<tr>{cells(row, report_keys)}</tr>\n" for row in rows)
            + "</table>\n",
        ),
        "timeline": html_page(
            f"Processes execution timeline: [{run_name}]",
            "<table>\n"
            + "".join(f"<tr>{cells(row, timeline_keys)}</tr>\n" for row in rows)
            + "</table>\n",
        ),
        "dag": html_page(
            f"Workflow DAG: [{run_name}]",
            '<pre class="mermaid">\nflowchart TB\n'
            + "".join(f'    p{i}["{name}"]\n' for i, name in enumerate(processes))
            + "".join(f"    p{i} --> p{i + 1}\n" for i in range(len(processes) - 1))
            + "</pre>\n",
        ),
    }
    for scope, path in targets.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pages[scope], encoding="utf-8")
        except OSError as exc:  # Session.notifyFlowComplete: an observer's failure is logged
            log("WARN", "nextflow.Session", f"Cannot write {scope} file {path}: {exc}")


def tower_client(options: dict[str, object], log: Log) -> Tower | None:
    """As Nextflow: -with-tower [URL], else tower.enabled of the config files; the endpoint,
    token and workspace from the config, else the environment."""
    settings = read_config_scope(list(options["config"]), "tower")  # type: ignore[arg-type]
    with_tower = options.get("with_tower")
    if with_tower is None and settings.get("enabled") != "true":
        return None
    endpoint = with_tower if isinstance(with_tower, str) else settings.get("endpoint")
    from nextflow_tower import (
        ALIVE_INTERVAL,
        DEFAULT_ENDPOINT,
        REQUEST_INTERVAL,
        Tower,
        TowerAbort,
        seconds,
    )

    try:
        return Tower(
            endpoint or os.environ.get("TOWER_API_ENDPOINT") or DEFAULT_ENDPOINT,
            # TowerClient.getAccessToken: with TOWER_WORKFLOW_ID (a platform's launch) the
            # token comes from the environment alone, else the config first.
            os.environ.get("TOWER_ACCESS_TOKEN")
            if os.environ.get("TOWER_WORKFLOW_ID")
            else settings.get("accessToken") or os.environ.get("TOWER_ACCESS_TOKEN"),
            settings.get("workspaceId") or os.environ.get("TOWER_WORKSPACE_ID"),
            log,
            request_interval=seconds(settings.get("requestInterval"), REQUEST_INTERVAL),
            alive_interval=seconds(settings.get("aliveInterval"), ALIVE_INTERVAL),
        )
    except TowerAbort as exc:
        die(f"ERROR ~ {exc}")
    return None


def read_samples(path: object) -> list[str]:
    if not path:
        return ["sample1"]
    try:
        with open(str(path), newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise FileNotFoundError(f"Input file does not exist: {path} ({exc})") from exc
    names = [row.get("sample") or next(iter(row.values()), "") for row in rows]
    return [name for name in names if name] or ["sample1"]


def declared_processes(pipeline: str) -> list[str]:
    """The ``process NAME {`` of a local pipeline's main.nf, in order."""
    main_nf = Path(pipeline) / "main.nf"
    try:
        names = re.findall(r"^process\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{", main_nf.read_text(), re.M)
    except OSError:
        names = []
    return names or ["FASTQC", "MULTIQC"]


def secrets_store() -> Path:
    """Where LocalSecretsProvider.makeStoreFile looks; it creates the folder, which the
    stand-in does only for NXF_SECRETS_FILE (tests keep out of the user's ~/.nextflow)."""
    name = os.environ.get("NXF_SECRETS_FILE") or "secrets/store.json"
    home = Path(os.environ.get("NXF_HOME") or Path.home() / ".nextflow")
    path = Path(name) if name.startswith("/") else home / name
    if os.environ.get("NXF_SECRETS_FILE"):
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def load_secrets(store: Path) -> dict[str, str]:
    """LocalSecretsProvider.loadSecrets: nothing if absent, refused unless rw-------."""
    if not store.exists():
        return {}
    if stat.S_IMODE(store.stat().st_mode) != 0o600:
        die(f"Invalid permissions for secret store file: {store} - It is required that your "
            "secret store file is NOT accessible by others.")  # fmt: skip
    return {item["name"]: item["value"] for item in json.loads(store.read_text("utf-8"))}


def declared_secrets(pipeline: str) -> dict[str, list[str]]:
    """The ``secret 'NAME'`` directives of each process of a local pipeline's main.nf."""
    try:
        text = (Path(pipeline) / "main.nf").read_text()
    except OSError:
        return {}
    found = {}
    for block in re.split(r"^(?=process\s|workflow\b)", text, flags=re.M):
        process = re.match(r"process\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{", block)
        if process:
            found[process.group(1)] = re.findall(r"^\s*secret\s+['\"]([^'\"]+)['\"]", block, re.M)
    return found


def task_secrets(store: Path, secrets: dict[str, str], names: list[str]) -> dict[str, str]:
    """getSecretsEnv: the task's values, from the exports file written once beside the store
    (mode 0600); ProcessUnrecoverableException when one is missing."""
    if not names:
        return {}
    missing = [name for name in names if name not in secrets]
    if missing:
        quoted = ", ".join(f"'{name}'" for name in missing)
        noun = "secret is" if len(missing) == 1 else "secrets are"
        raise LookupError(f"Required {noun} missing: {quoted}")
    digest = hashlib.sha256(json.dumps(sorted(secrets.items())).encode()).hexdigest()[:32]
    exports = store.parent / f".nf-{digest}.secrets"
    if not exports.exists():
        descriptor = os.open(exports, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            for name, value in secrets.items():
                escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
                handle.write(f'export {name}="{escaped}"\n')
    return {name: secrets[name] for name in names}


def task_output(
    process: str, tag: str | None, failed_with: int | None, extra_lines: int
) -> tuple[str, str]:
    """(stdout, stderr) of a task's script; a failed one says why on its stderr, as a killed
    (137) or timed-out (140) command's shell does."""
    command = f"{process.lower()} {tag or ''}".strip()
    stdout = f"{command}: started\n" + ("" if failed_with else f"{command}: done\n")
    if failed_with is None:
        return stdout, ""
    stderr = f"{command}: reading input\n"
    stderr += "".join(f"{command}: stderr line {n + 1} of {extra_lines}\n"
                      for n in range(extra_lines))  # fmt: skip
    if failed_with == 137:
        stderr += f".command.sh: line 2:  4242 Killed                  {command}\n"
    elif failed_with == 140:
        stderr += "slurmstepd: error: *** JOB 4242 ON node1 CANCELLED DUE TO TIME LIMIT ***\n"
    else:
        stderr += f"{command}: error: cannot process the input (exit {failed_with})\n"
    return stdout, stderr


def write_task_files(task_dir: Path, stdout: str, stderr: str) -> None:
    """The task wrapper's files: the script's stdout, stderr, and both in .command.log."""
    (task_dir / ".command.out").write_text(stdout)
    (task_dir / ".command.err").write_text(stderr)
    (task_dir / ".command.log").write_text(stdout + stderr)


def task_error_report(
    name: str, message: str, task: dict[str, object], code: int, stdout: str, stderr: str
) -> str:
    """Nextflow's error report for a failed task (TaskProcessor.formatTaskError): its
    output and the last lines of its stderr, indented."""

    def indented(text: str, last: int) -> str:
        lines = text.rstrip("\n").split("\n")[-last:] if text.strip() else ["(empty)"]
        return "\n".join(f"  {line}" for line in lines)

    return (f"Error executing process > '{name}'\n\nCaused by:\n  {message}\n\n\n"
            f"Command executed:\n\n{indented(str(task['script']).strip(), 100)}\n\n"
            f"Command exit status:\n  {code}\n\nCommand output:\n{indented(stdout, 100)}\n\n"
            f"Command error:\n{indented(stderr, 100)}\n\nWork dir:\n  {task['workdir']}\n\n"
            "Tip: you can try to figure out what's wrong by changing to the process work dir "
            "and showing the script file named `.command.sh`")  # fmt: skip


def record_invocation(argv: list[str]) -> None:
    target = os.environ.get("NFHUB_FAKE_NEXTFLOW_INVOCATIONS")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "argv": argv}) + "\n")


def on_term(_signum: int, _frame: object) -> None:
    global stopping
    stopping = True


def pause(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        time.sleep(min(0.02, max(deadline - time.monotonic(), 0)))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    record_invocation(argv)
    options, cli_params = parse(argv)
    launch_dir = Path.cwd()
    log = Log(Path(str(options.get("log") or launch_dir / ".nextflow.log")))
    log("DEBUG", "nextflow.cli.Launcher", "$> nextflow " + " ".join(argv))

    run_name = str(options.get("name") or "agitated_curie")
    if not RUN_NAME.match(run_name):
        die(f"Not a valid run name: `{run_name}` -- It must match the pattern "
            "[a-z](?:[a-z\\d]|[-_](?=[a-z\\d])){0,79}")  # fmt: skip
    params: dict[str, object] = {}
    if options.get("params_file"):
        try:
            params.update(json.loads(Path(str(options["params_file"])).read_text()))
        except (OSError, ValueError) as exc:
            die(f"Cannot read params file: {options['params_file']} -- {exc}")
    params.update(cli_params)

    resume = options.get("resume")
    cache_root = launch_dir / ".nextflow" / "cache"
    if isinstance(resume, str):
        session_id = resume
    elif resume is True:
        history = launch_dir / ".nextflow" / "history"
        lines = history.read_text().split("\n") if history.exists() else []
        session_id = lines[-2].split("\t")[-1] if len(lines) > 1 else str(uuid.uuid4())
    else:
        session_id = str(uuid.uuid4())
    cache_file = cache_root / session_id / "db" / "tasks.json"
    cached_hashes: set[str] = set()
    if resume:
        if cache_file.exists():
            cached_hashes = set(json.loads(cache_file.read_text()))
        else:
            log("WARN", "nextflow.cli.CmdRun",
                f"Cannot find any cache for session id {session_id} -- running from "
                "scratch")  # fmt: skip

    work_dir = Path(str(options.get("work_dir") or options.get("w") or launch_dir / "work"))
    work_dir.mkdir(parents=True, exist_ok=True)
    pipeline = str(options["pipeline"])
    project = Path(pipeline).name if Path(pipeline).exists() else pipeline.rstrip("/")
    prefix = re.sub(r"[^A-Z0-9]+", "_", project.split("/")[-1].upper()).strip("_") or "MAIN"
    trace_settings = read_config_scope(list(options["config"]), "trace")  # type: ignore[arg-type]
    trace_target = options.get("with_trace") or (
        trace_settings.get("file") if trace_settings.get("enabled") == "true" else None
    )
    trace_fields = (trace_settings.get("fields") or DEFAULT_TRACE_FIELDS).split(",")
    reports = report_targets(options, launch_dir, launch_stamp(datetime.now(UTC)))

    print(f"N E X T F L O W  ~  version {VERSION}", flush=True)
    print(f"Launching `{pipeline}` [{run_name}] DSL2 - revision: {options.get('r') or 'local'}",
          flush=True)  # fmt: skip
    # As Nextflow: -with-weblog URL on the command line, else weblog.enabled and weblog.url
    # of the config files.
    weblog_url = options.get("with_weblog")
    if not isinstance(weblog_url, str):
        weblog_settings = read_config_scope(list(options["config"]), "weblog")  # type: ignore[arg-type]
        if weblog_settings.get("enabled") == "true" and weblog_settings.get("url"):
            weblog_url = weblog_settings["url"]
    weblog = Weblog(weblog_url if isinstance(weblog_url, str) else None, run_name, session_id, log)
    tower = tower_client(options, log)
    started = datetime.now(UTC)
    workflow = {
        "runName": run_name, "sessionId": session_id, "projectName": project,
        "repository": pipeline if "://" in pipeline else None,
        "revision": options.get("r"), "commitId": hashlib.sha1(pipeline.encode()).hexdigest(),  # noqa: S324
        "scriptId": hashlib.md5(pipeline.encode()).hexdigest(), "scriptName": "main.nf",  # noqa: S324
        "scriptFile": f"{pipeline}/main.nf", "projectDir": pipeline,
        "launchDir": str(launch_dir), "workDir": str(work_dir), "homeDir": str(Path.home()),
        "userName": os.environ.get("USER", "nfhub"),
        "profile": options.get("profile") or "standard",
        "commandLine": "nextflow " + " ".join(argv), "configFiles": list(options["config"]),  # type: ignore[arg-type]
        "container": {}, "containerEngine": None, "resume": bool(resume), "stubRun": False,
        "preview": False, "success": False, "exitStatus": None, "errorMessage": None,
        "errorReport": None, "complete": None, "duration": None, "start": java_time(started),
        "nextflow": {"version": VERSION, "build": BUILD, "timestamp": "2024-07-30T15:32:15Z",
                     "enable": {"dsl": 2}},
        "manifest": {"name": project, "version": options.get("r"), "mainScript": "main.nf",
                     "defaultBranch": "main", "nextflowVersion": "!>=23.04.0",
                     "homePage": f"https://example.org/{project}", "description": project,
                     "author": "nfhub tests", "doi": "-", "gitmodules": None,
                     "recurseSubmodules": False},
        "stats": {"succeedCount": 0, "cachedCount": 0, "failedCount": 0, "ignoredCount": 0,
                  "pendingCount": 0, "submittedCount": 0, "runningCount": 0,
                  "retriesCount": 0, "abortedCount": 0, "succeedDuration": 0,
                  "cachedDuration": 0, "failedDuration": 0, "computeTimeFmt": "(a few seconds)",
                  "succeedPct": 0.0, "cachedPct": 0.0, "ignoredPct": 0.0, "loadCpus": 0,
                  "loadMemory": 0, "peakRunning": 0, "peakCpus": 0, "peakMemory": 0},
    }  # fmt: skip
    store = secrets_store()
    secrets = load_secrets(store)
    process_secrets = declared_secrets(pipeline)
    if tower is not None:
        from nextflow_tower import TowerAbort, progress_of

        try:
            tower.create(session_id, run_name, project, workflow["repository"])
            tower_workflow = {**workflow, "start": iso(started)}
            names = [f"{prefix}:{name}" for name in declared_processes(pipeline)]
            tower.begin(tower_workflow, params, names)
        except TowerAbort as exc:
            die(f"ERROR ~ {exc}")
    weblog.post("started", metadata={"parameters": params, "workflow": workflow})
    log("INFO", "nextflow.Session", f"Session UUID: {session_id}")

    fail_process = str(params.get("fail_process") or "").upper()
    exit_code = int(params.get("exit_code") or 1)
    stderr_lines = int(params.get("stderr_lines") or 0)
    task_seconds = float(params.get("task_seconds") or 0.05)
    silent_seconds = float(params.get("silent_seconds") or 0)
    outdir = str(params.get("outdir") or "")
    local_outdir = Path(outdir) if outdir and "://" not in outdir else None

    trace_rows: list[dict[str, object]] = []
    counts = {"succeedCount": 0, "cachedCount": 0, "failedCount": 0, "abortedCount": 0}
    error_message = error_report = None
    task_id = 0

    def tell_tower(trace: dict[str, object], running: int = 0, submitted: int = 0) -> None:
        if tower is not None:
            tower.task(trace, progress_of(counts, running, submitted))

    def finish(success: bool, code: int) -> int:
        end = datetime.now(UTC)
        duration = int((end - started).total_seconds() * 1000)
        done = {**workflow, "complete": java_time(end), "duration": duration,
                "success": success, "exitStatus": code, "errorMessage": error_message,
                "errorReport": error_report,
                "stats": {**workflow["stats"], **counts,  # type: ignore[dict-item]
                          "computeTimeFmt": "(a few seconds)"}}  # fmt: skip
        if tower is not None:
            tower.complete({**done, "start": iso(started), "complete": iso(end)}, params)
        if stopping:
            weblog.post("completed", metadata={"parameters": params, "workflow": done})
            weblog.post("error")
        else:
            weblog.post("completed", metadata={"parameters": params, "workflow": done})
        if trace_target:
            target = Path(str(trace_target))
            target = target if target.is_absolute() else launch_dir / target
            with target.open("w", encoding="utf-8") as handle:
                handle.write("\t".join(trace_fields) + "\n")
                for row in trace_rows:
                    values = (row.get(f) for f in trace_fields)
                    handle.write("\t".join("-" if v is None else str(v) for v in values) + "\n")
        process_names = [f"{prefix}:{name}" for name in declared_processes(pipeline)]
        write_reports(reports, run_name, process_names, trace_rows, log)
        finished = {h for h, s in ((r["hash_full"], r["status"]) for r in trace_rows)
                    if s in ("COMPLETED", "CACHED")}  # fmt: skip
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(sorted(finished | cached_hashes)))
        history = launch_dir / ".nextflow" / "history"
        with history.open("a", encoding="utf-8") as handle:
            handle.write(f"{started:%Y-%m-%d %H:%M:%S}\t{duration}ms\t{run_name}\t"
                         f"{'OK' if success else 'ERR'}\t-\t{session_id}\n")  # fmt: skip
        log("DEBUG", "nextflow.Session", f"Session await > all processes finished ({code})")
        print(f"Completed at: {datetime.now():%d-%b-%Y %H:%M:%S}" if success  # noqa: DTZ005
              else "ERROR ~ " + (error_message or "workflow failed"), flush=True)  # fmt: skip
        return code

    try:
        samples = read_samples(params.get("input"))
    except FileNotFoundError as exc:
        error_message = str(exc)
        error_report = f"Validation of pipeline parameters failed!\n* --input: {exc}"
        weblog.post("error")
        return finish(False, 1)

    first, *rest = declared_processes(pipeline)
    plan = [(first, sample) for sample in samples] + [(name, None) for name in rest]
    for index, (process, tag) in enumerate(plan):
        if stopping:
            break
        task_id += 1
        digest = hashlib.md5(f"{process}|{tag}|{fail_process == process}".encode()).hexdigest()  # noqa: S324
        short = f"{digest[:2]}/{digest[2:8]}"
        name = f"{prefix}:{process}" + (f" ({tag})" if tag else "")
        task_dir = work_dir / digest[:2] / digest[2:]
        base = {
            "task_id": task_id, "hash": short, "name": name, "process": f"{prefix}:{process}",
            "tag": tag, "module": [], "container": None, "attempt": 1,
            "script": f"\n    {process.lower()} {tag or ''}\n    ", "scratch": None,
            "workdir": str(task_dir), "queue": None, "cpus": 2, "memory": 2147483648,
            "disk": None, "time": 3600000, "env": None,
        }  # fmt: skip
        if digest in cached_hashes:
            # Nextflow posts nothing for a cached task; only the trace shows it.
            counts["cachedCount"] += 1
            trace_rows.append({**base, "status": "CACHED", "exit": 0, "hash_full": digest,
                               "native_id": "-", "submit": millis(), "start": "-",
                               "complete": "-", "duration": 0, "realtime": 0})  # fmt: skip
            # The Tower client does report a cached task (TowerClient.onProcessCached).
            tell_tower({**base, "status": "CACHED", "exit": 0, "submit": millis(), "start": 0,
                    "complete": 0, "duration": 0, "realtime": 0})  # fmt: skip
            continue
        try:
            task_env = task_secrets(store, secrets, process_secrets.get(process, []))
        except LookupError as exc:
            error_message = str(exc)
            error_report = f"Error executing process > '{name}'\n\nCaused by:\n  {exc}"
            weblog.post("error")
            return finish(False, 1)
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / ".command.sh").write_text(base["script"])  # type: ignore[arg-type]
        for secret_name, value in task_env.items():
            digest_file = task_dir / f"{secret_name.lower()}.sha256"
            digest_file.write_text(hashlib.sha256(value.encode()).hexdigest() + "\n")
        submit = millis()
        native_id = str(os.getpid() * 100 + task_id)
        submitted = {**base, "status": "SUBMITTED", "exit": UNSET_EXIT, "submit": submit,
                     "start": 0, "native_id": native_id}  # fmt: skip
        weblog.post("process_submitted", trace=submitted)
        tell_tower(submitted, submitted=1)
        start = millis()
        running = {**submitted, "status": "RUNNING", "start": start}
        weblog.post("process_started", trace=running)
        tell_tower(running, running=1)
        if index == 0 and silent_seconds:
            pause(silent_seconds)
        pause(task_seconds)
        complete = millis()
        metrics = {"submit": submit, "start": start, "complete": complete,
                   "duration": complete - submit, "realtime": complete - start, "%cpu": 98.5,
                   "%mem": 0.4, "rss": 52428800, "vmem": 209715200, "peak_rss": 62914560,
                   "peak_vmem": 230686720, "rchar": 4096, "wchar": 2048, "syscr": 12,
                   "syscw": 6, "read_bytes": 4096, "write_bytes": 2048, "vol_ctxt": 3,
                   "inv_ctxt": 1, "hostname": socket.gethostname(),
                   "cpu_model": "stand-in", "native_id": native_id}  # fmt: skip
        if stopping:
            aborted = {**base, **metrics, "status": "ABORTED", "exit": UNSET_EXIT,
                       "error_action": None}  # fmt: skip
            weblog.post("process_completed", trace=aborted)
            tell_tower(aborted)
            counts["abortedCount"] += 1
            trace_rows.append({**aborted, "hash_full": digest, "exit": "-"})
            break
        failed = process == fail_process
        status = "FAILED" if failed else "COMPLETED"
        code = exit_code if failed else 0
        stdout, stderr = task_output(process, tag, code if failed else None, stderr_lines)
        write_task_files(task_dir, stdout, stderr)
        (task_dir / ".exitcode").write_text(str(code))
        done = {**base, **metrics, "status": status, "exit": code,
                "error_action": "TERMINATE" if failed else None}  # fmt: skip
        weblog.post("process_completed", trace=done)
        counts["failedCount" if failed else "succeedCount"] += 1
        tell_tower(done)
        trace_rows.append({**done, "hash_full": digest})
        if failed:
            error_message = f"Process `{name}` terminated with an error exit status ({code})"
            error_report = task_error_report(name, error_message, base, code, stdout, stderr)
            weblog.post("error", trace={key: done[key] for key in (
                "task_id", "status", "hash", "name", "exit", "submit", "start", "complete",
                "duration", "realtime", "process", "tag", "attempt", "error_action", "workdir",
                "cpus", "memory", "time", "native_id")})  # fmt: skip
            return finish(False, 1)
        if local_outdir is not None:
            folder = local_outdir / process.lower()
            folder.mkdir(parents=True, exist_ok=True)
            report = f"{tag}_{process.lower()}.html" if tag else f"{process.lower()}_report.html"
            (folder / report).write_text(f"<html><body>{name} of run {run_name}</body></html>\n")

    if stopping:
        error_message = "Execution aborted (SIGTERM)"
        log("INFO", "nextflow.Session", "Session aborted -- Cause: SIGTERM")
        return finish(False, 143)
    if local_outdir is not None:
        info = local_outdir / "pipeline_info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "params.json").write_text(json.dumps(params, indent=2))
    return finish(True, 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
