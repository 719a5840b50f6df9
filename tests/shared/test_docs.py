"""Swagger UI and ReDoc are served by the service itself: no CDN, works offline."""

from __future__ import annotations

import re

EXTERNAL_URL = re.compile(r"""(?:src|href)=["'](https?:)?//""")


class TestOfflineDocs:
    async def test_swagger_ui_loads_only_local_assets(self, admin_client) -> None:
        response = await admin_client.get("/docs")
        assert response.status_code == 200
        html = response.text
        assert EXTERNAL_URL.search(html) is None, html
        for asset in re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html):
            assert (await admin_client.get(asset)).status_code == 200, asset

    async def test_redoc_loads_only_local_assets_and_blocks_its_logo(self, admin_client) -> None:
        response = await admin_client.get("/redoc")
        assert response.status_code == 200
        assert EXTERNAL_URL.search(response.text) is None
        assert "fonts.googleapis" not in response.text
        assert response.headers["content-security-policy"] == "img-src 'self' data:"
        for asset in re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", response.text):
            assert (await admin_client.get(asset)).status_code == 200, asset

    async def test_openapi_declares_bearer_and_scoped_oauth2(self, admin_client) -> None:
        schema = (await admin_client.get("/openapi.json")).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["BearerToken"]["scheme"] == "bearer"
        assert "runs:read" in schemes["OAuth2Password"]["flows"]["password"]["scopes"]
        me = schema["paths"]["/api/v1/users/me"]["get"]["security"]
        assert {"OAuth2Password": ["users:read"]} in me
