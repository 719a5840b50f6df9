"""Token scopes, ``<resource>:<read|write>``; shown in OpenAPI through FastAPI Security."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "users:read": "Read your profile and default context",
    "users:write": "Change your profile, default context and create users in orgs you administer",
    "orgs:read": "Read organisations and their members",
    "orgs:write": "Create, change and delete organisations and memberships",
    "projects:read": "Read projects, members and storage locations",
    "projects:write": "Create, change and delete projects and memberships",
    "tokens:read": "List your personal access tokens",
    "tokens:write": "Create and revoke personal access tokens",
    "audit:read": "Read the audit log of organisations you administer",
    "files:read": "List and download project files",
    "files:write": "Upload, copy, move and delete project files",
    "pipelines:read": "Read pipelines and versions",
    "pipelines:write": "Register pipelines and versions",
    "compute-envs:read": "Read the org's compute environments",
    "compute-envs:write": "Create, change, validate and delete compute environments",
    "runs:read": "Read runs, tasks, logs and outputs",
    "runs:write": "Launch, cancel and relaunch runs",
    "secrets:read": "List the names of pipeline secrets (never their values)",
    "secrets:write": "Set and delete pipeline secrets (project admins; org secrets: org admins)",
    "samples:read": "Read subjects, samples and orders",
    "samples:write": "Change subjects, samples and orders",
    "platform:admin": "Act for the whole platform (publish public pipelines); platform admins only",
}

ALL_SCOPES: frozenset[str] = frozenset(SCOPES)

# Held only by users flagged as platform admins: what they publish reaches every org.
PLATFORM_ADMIN_SCOPE = "platform:admin"
# What any user may hold; a platform admin may hold ALL_SCOPES.
USER_SCOPES: frozenset[str] = ALL_SCOPES - {PLATFORM_ADMIN_SCOPE}


def scopes_allowed(*, is_platform_admin: bool) -> frozenset[str]:
    """The scopes a user may hold: a token never carries more, whatever it was created with."""
    return ALL_SCOPES if is_platform_admin else USER_SCOPES


def parse_scopes(value: str | list[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value.split() if isinstance(value, str) else value
    return frozenset(item for item in items if item in ALL_SCOPES)
