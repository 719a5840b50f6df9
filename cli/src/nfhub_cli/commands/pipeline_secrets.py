"""``nfhub secrets``: the values pipelines read as ``secrets.NAME``, for the current project
or its org. Values go in (from stdin or a prompt), never come out."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.table import Table

from nfhub_cli.commands.common import JsonOption, current_api, err, out, print_json
from nfhub_cli.config import ConfigError

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Pipeline secrets of the current project and its org (names only are ever shown).",
)

SecretName = Annotated[
    str, typer.Argument(metavar="NAME", help="The secret's name, as the pipeline reads it.")
]
OrgOption = Annotated[
    bool,
    typer.Option("--org", help="The org's secret (every project of it) instead of the project's."),
]


def _scope(org: bool) -> str:
    return "org" if org else "project"


def read_value(given: str | None, name: str) -> str:
    """--value if given, else stdin when piped (all of it, one trailing newline dropped), else
    a prompt that does not echo: a value typed on the command line stays in shell history."""
    if given is not None:
        value = given
    elif not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    else:
        value = getpass.getpass(f"value of {name}: ")
    if not value:
        raise ConfigError(f"no value for {name}: pipe it in (nfhub secrets set {name} < FILE)")
    return value


@app.command("set")
def secrets_set(
    name: SecretName,
    org: OrgOption = False,
    value: Annotated[
        str | None,
        typer.Option(
            metavar="VALUE",
            help="The value itself. Avoid it: it lands in the shell's history and in ps; pipe "
            "the value in instead (reading stdin), or type it at the prompt.",
        ),
    ] = None,
) -> None:
    """Set a secret's value (creating it); the value comes from stdin or a prompt."""
    secret = read_value(value, name)
    with current_api() as api:
        response = api.request(
            "compute",
            "PUT",
            f"/secrets/{name}",
            params={"scope": _scope(org)},
            json={"value": secret},
        )
    verb = "created" if response.status_code == 201 else "updated"
    err.print(f"{verb} the {_scope(org)} secret {name}")


@app.command("list")
def secrets_list(
    scope: Annotated[
        str | None,
        typer.Option(metavar="SCOPE", help="Only the org's (org) or the project's (project)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The secrets runs of the current project can use: names, scopes, when set and by whom."""
    if scope not in (None, "org", "project"):
        raise ConfigError(f"--scope {scope!r}: give org or project")
    with current_api() as api:
        items = list(api.pages("compute", "/secrets", params={"scope": scope} if scope else {}))
    if as_json:
        print_json(items)
        return
    table = Table("name", "scope", "updated", "updated by", box=None)
    for item in items:
        shown = f"{item['scope']} (overridden)" if item.get("overridden") else item["scope"]
        table.add_row(item["name"], shown, item["updated_at"][:19], item["updated_by"])
    out.print(table)


@app.command("delete")
def secrets_delete(name: SecretName, org: OrgOption = False) -> None:
    """Delete a secret; queued runs that name it fail at launch, saying so."""
    with current_api() as api:
        api.request("compute", "DELETE", f"/secrets/{name}", params={"scope": _scope(org)})
    err.print(f"deleted the {_scope(org)} secret {name}")
