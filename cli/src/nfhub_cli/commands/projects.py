"""``nfhub projects``: list the projects you can see, choose the one to work in."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from nfhub_cli.api import Api
from nfhub_cli.commands.common import JsonOption, err, out, print_json
from nfhub_cli.config import Config, ConfigError

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="markdown", help="Projects you can work in."
)


@app.command("list")
def projects_list(as_json: JsonOption = False) -> None:
    """The projects you can see."""
    config = Config.load()
    with Api(config) as api:
        projects = list(api.pages("admin", "/projects", project=False))
    if as_json:
        print_json(projects)
        return
    table = Table("", "slug", "name", "id", box=None)
    current = config.current_project()
    for item in projects:
        table.add_row("*" if item["id"] == current else "", item["slug"], item["name"], item["id"])
    out.print(table)


@app.command("use")
def projects_use(
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="The project's slug or id.")],
) -> None:
    """Make a project the one every other command works in."""
    config = Config.load()
    with Api(config) as api:
        chosen = resolve_project(api, project)
    config.project_id, config.project_name = chosen["id"], chosen["slug"]
    config.save()
    err.print(f"using project {chosen['slug']} ({chosen['id']})")


def only_project(api: Api) -> dict[str, Any] | None:
    projects = list(api.pages("admin", "/projects", project=False))
    return projects[0] if len(projects) == 1 else None


def resolve_project(api: Api, wanted: str) -> dict[str, Any]:
    projects = list(api.pages("admin", "/projects", project=False))
    matches = [p for p in projects if wanted in (p["id"], p["slug"])]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(p["slug"] for p in projects)) or "none"
        raise ConfigError(f"no project {wanted!r} among yours ({known})")
    ids = ", ".join(p["id"] for p in matches)
    raise ConfigError(f"several projects are called {wanted!r}; use its id ({ids})")
