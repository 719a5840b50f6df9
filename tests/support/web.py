"""web's test helpers: its settings for in-process tests, and a browser's login as a form."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from nfhub_web.config import Settings
from support.inprocess import COMPUTE_BASE_URL
from support.settings import settings_of

WEB_BASE_URL = "https://web.test"
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_settings_for(database_url: str, *, secure: bool = True) -> Settings:
    return settings_of(
        Settings,
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        ADMIN_URL="http://admin.test",
        COMPUTE_URL=COMPUTE_BASE_URL,
        FILES_URL="http://files.test",
        MINER_URL="http://miner.test",
        COOKIE_SECURE=secure,
    )


async def log_in(
    client: httpx.AsyncClient, username: str, password: str, next_path: str = "/runs"
) -> httpx.Response:
    """The login form as a browser fills it: its page first (the login token), then POST."""
    page = await client.get("/login", params={"next": next_path})
    match = LOGIN_TOKEN.search(page.text)
    assert match is not None, page.text
    return await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "login_token": match.group(1),
            "next": next_path,
        },
    )


def csrf_of(html: str) -> str:
    match = CSRF_TOKEN.search(html)
    assert match is not None, html
    return match.group(1)


def admin_only(admin_transport: httpx.AsyncBaseTransport) -> dict[str, httpx.AsyncBaseTransport]:
    """web's routes for tests whose pages call admin alone (see tests/web/conftest.py)."""
    return {"admin.test": admin_transport}


async def logged_in(client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID) -> None:
    """Log ``actor`` in through the form and pick ``project_id``."""
    response = await log_in(client, actor.username, actor.password)
    assert response.status_code == 303, response.text
    context = await client.get("/context")
    picked = await client.post(
        "/context", data={"project_id": str(project_id), "csrf_token": csrf_of(context.text)}
    )
    assert picked.status_code == 303, picked.text
