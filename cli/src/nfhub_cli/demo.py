"""``nfhub demo`` (``make demo``): the whole path a lab takes, against the running stack, step
by step — log in, make a project, upload two FASTQ files through signed URLs, a subject and its
sample, an order for the demo pipeline, its samplesheet, the move to analyzing, the run to its
end, its outputs listed and downloaded. It keeps nothing in the user's CLI config."""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from nfhub_cli.api import Api
from nfhub_cli.config import Config, ConfigError
from nfhub_cli.transfer import download, upload
from nfhub_cli.watch import watch_run

T = TypeVar("T")
READS_PER_FILE = 250
READ_LENGTH = 76


def fastq(sample: str, mate: int, reads: int, seed: int) -> bytes:
    """A gzipped FASTQ of ``reads`` random reads (what a sequencer would hand over, smaller)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    lines = []
    for index in range(reads):
        bases = "".join(rng.choice("ACGT") for _ in range(READ_LENGTH))
        lines += [f"@{sample}:{index + 1} {mate}:N:0", bases, "+", "I" * READ_LENGTH]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


class Steps:
    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.number = 0
        self.started = time.monotonic()

    def run(self, title: str, action: Callable[[], T], done: Callable[[T], str]) -> T:
        self.number += 1
        self.console.print(f"[bold cyan][{self.number}/{self.total}][/] {title}")
        began = time.monotonic()
        result = action()
        self.console.print(f"      {done(result)}  [dim]({time.monotonic() - began:.2f} s)[/]")
        return result


def load_stack(path: Path) -> dict[str, Any]:
    try:
        stack: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: start the stack with `make run` in another shell first"
        ) from None
    if not stack.get("seed"):
        raise ConfigError(f"{path} has no demo user: the stack was started with --no-seed")
    return stack


def run_demo(stack_file: Path, *, timeout: float, console: Console) -> int:
    stack = load_stack(stack_file)
    seed = stack["seed"]
    config = Config(urls=dict(stack["services"]), ca_file=stack.get("ca_file"))
    steps = Steps(console, total=11)
    console.rule("nfhub demo")
    for name, url in config.urls.items():
        if url:
            console.print(f"  {name:<8} {url}")
    with Api(config) as api, tempfile.TemporaryDirectory(prefix="nfhub-demo-") as scratch:
        work = Path(scratch)
        stamp = time.strftime("%Y%m%d-%H%M%S")

        def log_in() -> dict[str, Any]:
            pair = api.json(
                "admin", "POST", "/auth/login", project=False, auth=False,
                json={"username": seed["user"], "password": seed["password"]},
            )  # fmt: skip
            config.token = pair["access_token"]
            me: dict[str, Any] = api.json("admin", "GET", "/users/me", project=False)
            return me

        steps.run(
            f"log in as {seed['user']} (password → 15-minute access token)",
            log_in,
            lambda me: f"logged in as {me['username']} <{me['email']}>",
        )

        def make_project() -> dict[str, Any]:
            project: dict[str, Any] = api.json(
                "admin", "POST", "/projects", project=False,
                json={"org_id": seed["org_id"], "slug": f"demo-{stamp}",
                      "name": f"Demo {stamp}"},
            )  # fmt: skip
            config.project_id = project["id"]
            return project

        project = steps.run(
            "create a project for this demo",
            make_project,
            lambda p: f"project {p['slug']} ({p['id']})",
        )

        def upload_reads() -> list[dict[str, Any]]:
            entries = []
            for mate in (1, 2):
                local = work / f"DEMO1_R{mate}.fastq.gz"
                local.write_bytes(fastq("DEMO1", mate, READS_PER_FILE, seed=mate))
                entries.append(upload(api, local, f"raw/{local.name}"))
            return entries

        reads = steps.run(
            "upload two FASTQ files (ask files for a signed URL, PUT the bytes to it)",
            upload_reads,
            lambda entries: ", ".join(f"{e['path']} ({e['size']} bytes)" for e in entries),
        )
        subject = steps.run(
            "register a subject",
            lambda: api.json(
                "miner",
                "POST",
                "/subjects",
                json={"display_id": "DEMO-P1", "sex": "female", "diagnosis": "demo"},
            ),
            lambda s: f"subject {s['display_id']} ({s['id']})",
        )
        sample = steps.run(
            "register its sample, pointing at the uploaded reads",
            lambda: api.json(
                "miner",
                "POST",
                "/samples",
                json={
                    "display_id": "DEMO1",
                    "subject_id": subject["id"],
                    "sample_type": "germline",
                    "files": [
                        {
                            "lane": "L001",
                            "paths": {"fastq_1": reads[0]["path"], "fastq_2": reads[1]["path"]},
                        }
                    ],
                },
            ),
            lambda s: f"sample {s['display_id']} ({s['id']})",
        )
        order = steps.run(
            "place an order for the demo pipeline on that sample",
            lambda: api.json(
                "miner",
                "POST",
                "/orders",
                json={
                    "display_id": f"ORD-{stamp}",
                    "pipeline": "demo",
                    "samples": [{"sample_id": sample["id"], "role": "proband"}],
                },
            ),
            lambda o: f"order {o['display_id']} ({o['status']})",
        )
        sheet = steps.run(
            "download the order's samplesheet (nf-core CSV)",
            lambda: api.request("miner", "GET", f"/orders/{order['id']}/samplesheet").text,
            lambda text: f"{len(text.splitlines()) - 1} row(s)",
        )
        for line in sheet.splitlines():
            console.print(f"        {line}", markup=False)
        moved = steps.run(
            "move the order to analyzing (the samplesheet is stored, the run launched)",
            lambda: api.json(
                "miner", "POST", f"/orders/{order['id']}/transition", json={"to": "analyzing"}
            ),
            lambda o: f"order {o['status']}, run {o['run']['id']} launched",
        )
        run_id = moved["run"]["id"]
        steps.number += 1
        console.print(f"[bold cyan][{steps.number}/{steps.total}][/] watch the run")
        began = time.monotonic()
        if watch_run(api, run_id, 0.5, console=console, timeout=timeout) != 0:
            console.print(f"[red]the run did not complete; see `nfhub runs watch {run_id}`[/]")
            return 1
        console.print(f"      complete  [dim]({time.monotonic() - began:.2f} s)[/]")
        outputs = steps.run(
            "list the run's outputs",
            lambda: list(_output_files(api, run_id)),
            lambda files: f"{len(files)} file(s)",
        )
        for entry in outputs:
            console.print(f"        {entry['path']}  ({entry['size']} bytes)", markup=False)
        # Beside stack.json: the stack's state folder (git-ignored), not wherever we stand.
        target = stack_file.resolve().parent / "demo-outputs" / project["slug"]

        def fetch() -> list[Path]:
            target.mkdir(parents=True, exist_ok=True)
            saved = []
            for entry in outputs:
                local = target / entry["path"]
                local.parent.mkdir(parents=True, exist_ok=True)
                saved.append(download(api, entry["project_path"], local))
            return saved

        saved = steps.run(
            "download them (signed URLs from the files service)",
            fetch,
            lambda paths: f"saved under {target}",
        )
        if not saved:
            console.print("[red]the run wrote no outputs[/]")
            return 1
    console.rule(f"demo done in {time.monotonic() - steps.started:.1f} s")
    return 0


def _output_files(api: Api, run_id: str, folder: str = "") -> Iterator[dict[str, Any]]:
    """Every file under the run's output folder, depth first."""
    for entry in api.pages("compute", f"/runs/{run_id}/outputs", params={"path": folder}):
        if entry["kind"] == "folder":
            yield from _output_files(api, run_id, entry["path"])
        else:
            yield entry
