"""Swagger UI and ReDoc served from the package's own files: the docs work offline."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_PATH = "/_static"


def _docs_static_dir() -> str:
    return str(files("fastapi_offline") / "static")


def install_docs(app: FastAPI, title: str) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=_docs_static_dir()), name="docs-static")

    def static_url(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{STATIC_PATH}/{name}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} — Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=static_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=static_url(request, "swagger-ui.css"),
            swagger_favicon_url=static_url(request, "favicon.png"),
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        response = get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} — ReDoc",
            redoc_js_url=static_url(request, "redoc.standalone.js"),
            redoc_favicon_url=static_url(request, "favicon.png"),
            with_google_fonts=False,
        )
        # ReDoc 2 always draws a logo from its CDN; the policy keeps the page offline.
        response.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return response
