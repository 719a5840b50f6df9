"""What ``make run`` prints once the stack is ready: where everything is, how to log in."""

from __future__ import annotations

import shutil
from typing import Any

from rich.rule import Rule
from rich.text import Text

from nfhub_devstack.database import Database
from nfhub_devstack.errors import console
from nfhub_devstack.services import SERVICES
from nfhub_devstack.supervisor import Child, Stack


def print_banner(
    stack: Stack, started: list[Child], db: Database, seed: dict[str, Any] | None, elapsed: float
) -> None:
    """Plain lines, never wrapped or boxed, so URLs, the token and the curl line copy cleanly."""
    width = max(len(c.service.name) for c in started)
    lines: list[Text] = []
    for child in started:
        name = Text(f"{child.service.name:<{width}}  ", style="bold")
        url = child.service.url(stack.scheme)
        if url is None:
            lines.append(name + Text("(background worker)", style="dim"))
        elif not child.service.docs:
            lines.append(name + Text(f"{url}   (the browser app: log in as the demo user)"))
        else:
            lines.append(name + Text(f"{url}   docs {url}/docs   redoc {url}/redoc"))
    where = f"embedded, data in {db.state.pgdata}" if db.embedded else "external, DATABASE_URL"
    lines += [
        Text(""),
        Text.assemble(("database    ", "bold"), f"{db.url}  ({where})"),
        Text.assemble(("logs        ", "bold"), str(db.state.logs)),
    ]
    curl = "curl"
    if stack.tls is not None:
        curl = f"curl --cacert {stack.tls.ca_cert}"
        lines.append(
            Text.assemble(
                ("dev CA      ", "bold"),
                f"{stack.tls.ca_cert}  (trust it in your browser, or make run HTTP=1 for http)",
            )
        )
    if any(c.service.name == "worker" for c in started) and shutil.which("nextflow") is None:
        lines.append(
            Text(
                "nextflow is not on PATH: runs are accepted, and end in SYSTEM_ERROR saying so "
                "until it is installed (https://www.nextflow.io/docs/latest/install.html)",
                style="yellow",
            )
        )
    if seed is not None:
        token = str(seed.get("token", ""))
        admin_url = next(s.url(stack.scheme) for s in SERVICES if s.name == "admin")
        lines += [
            Text(""),
            Text.assemble(("demo user   ", "bold"), str(seed.get("user"))),
            Text.assemble(("password    ", "bold"), str(seed.get("password"))),
            Text.assemble(("org id      ", "bold"), str(seed.get("org_id"))),
            Text.assemble(("project id  ", "bold"), str(seed.get("project_id"))),
            Text(""),
            Text(f"Authorization: Bearer {token}"),
            Text(
                f"(the same token at every start while it works: kept in {db.state.demo_seed})",
                style="dim",
            ),
            Text(""),
            Text(f"export TOKEN={token}"),
            Text(f'{curl} -H "Authorization: Bearer $TOKEN" {admin_url}/api/v1/users/me'),
            Text(""),
            Text(
                f"source {db.state.stack_env}   (ADMIN COMPUTE FILES MINER TOKEN P…: "
                "the README's examples)"
            ),
            Text("in another shell: make demo   (the whole path, from upload to run outputs)"),
        ]
    console.print()
    console.print(Rule("nfhub dev stack", style="green"))
    for line in lines:
        console.print(line, soft_wrap=True)
    console.print(Rule(f"ready in {elapsed:.1f} s, Ctrl-C stops everything", style="green"))
    console.print()
