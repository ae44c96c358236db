"""The API reference at /docs works offline: Swagger UI from local assets, the spec at /openapi.json."""

from __future__ import annotations

import httpx

from jifen.api.app import STATIC_DIR

SWAGGER_UI = "/static/vendor/swagger-ui"


async def test_docs_page_loads_swagger_ui_from_local_assets(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f"{SWAGGER_UI}/swagger-ui-bundle.js" in html
    assert f"{SWAGGER_UI}/swagger-ui.css" in html
    assert "/openapi.json" in html
    assert "cdn." not in html


async def test_swagger_ui_assets_are_served_from_static(client: httpx.AsyncClient) -> None:
    bundle = STATIC_DIR / "vendor" / "swagger-ui" / "swagger-ui-bundle.js"
    assert bundle.is_file(), "web assets missing: `make assets` builds them (`make test` does)"
    r = await client.get(f"{SWAGGER_UI}/swagger-ui-bundle.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    r = await client.get(f"{SWAGGER_UI}/swagger-ui.css")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/css")


async def test_openapi_spec_lists_the_ledger_endpoints(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert "/v1/credits" in spec["paths"]
    assert "post" in spec["paths"]["/v1/credits"]


async def test_unknown_static_file_is_a_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/no-such-file.js")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
