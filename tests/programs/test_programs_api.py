"""Programs, settings, assets and API keys through the API."""

from __future__ import annotations

import httpx

from tests.conftest import admin_headers, api_program


async def test_only_the_administrator_creates_programs(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.post("/v1/programs", json={"id": "sneaky", "name": "x"}, headers=h)
    assert (r.status_code, r.json()["code"]) == (403, "admin_required")
    r = await client.post("/v1/programs", json={"id": "x", "name": "x"}, headers={})
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


async def test_program_defaults_and_settings_validation(client: httpx.AsyncClient) -> None:
    pid, h = await api_program(client)
    p = (await client.get(f"/v1/programs/{pid}", headers=h)).json()
    assert p["settings"]["timezone"] == "Asia/Shanghai"
    assert p["settings"]["rounding"] == "down"
    assert p["settings"]["expiry"]["kind"] == "none"
    assets = (await client.get(f"/v1/programs/{pid}/assets", headers=h)).json()
    assert [a["code"] for a in assets] == ["cash", "growth", "points"] or {
        a["code"] for a in assets
    } == {"points", "growth", "cash"}
    bad = {"settings": {"timezone": "Mars/Olympus"}}
    r = await client.patch(f"/v1/programs/{pid}", json=bad, headers=h)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422,
        "validation_error",
        "settings.timezone",
    )
    r = await client.patch(
        f"/v1/programs/{pid}", json={"settings": {"expiry": {"kind": "rolling"}}}, headers=h
    )
    assert r.status_code == 422
    ok = {
        "settings": {"timezone": "Europe/Berlin", "expiry": {"kind": "rolling", "months": 24}},
        "reason": "EU launch",
    }
    r = await client.patch(f"/v1/programs/{pid}", json=ok, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["settings_version"] == 2
    audit = (await client.get(f"/v1/programs/{pid}/audit", headers=h)).json()
    assert audit[0]["action"] == "program.update"
    assert audit[0]["before"]["settings"]["timezone"] == "Asia/Shanghai"
    assert audit[0]["after"]["settings"]["timezone"] == "Europe/Berlin"
    # Only what is sent changes.
    r = await client.patch(
        f"/v1/programs/{pid}", json={"settings": {"negative_balance": "loss"}}, headers=h
    )
    settings = r.json()["settings"]
    assert (settings["timezone"], settings["negative_balance"], settings["expiry"]["months"]) == (
        "Europe/Berlin",
        "loss",
        24,
    )


async def test_duplicate_program_is_a_conflict(client: httpx.AsyncClient) -> None:
    pid, _ = await api_program(client)
    r = await client.post(
        "/v1/programs", json={"id": pid, "name": "again"}, headers=admin_headers()
    )
    assert (r.status_code, r.json()["code"]) == (409, "program_exists")
    r = await client.post(
        "/v1/programs", json={"id": "Bad Id!", "name": "x"}, headers=admin_headers()
    )
    assert (r.status_code, r.json()["field"]) == (422, "id")


async def test_api_key_is_shown_once_and_can_be_revoked(client: httpx.AsyncClient) -> None:
    pid, h = await api_program(client)
    created = (
        await client.post(f"/v1/programs/{pid}/api-keys", json={"name": "pos"}, headers=h)
    ).json()
    assert created["key"].startswith("jf_")
    listed = (await client.get(f"/v1/programs/{pid}/api-keys", headers=h)).json()
    assert all("key" not in k for k in listed)
    new_h = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/members", headers=new_h)).status_code == 200
    listed = (await client.get(f"/v1/programs/{pid}/api-keys", headers=h)).json()
    used = next(k for k in listed if k["id"] == created["id"])
    assert used["last_used_at"] is not None  # a read request still records the key's use
    r = await client.delete(f"/v1/programs/{pid}/api-keys/{created['id']}", headers=h)
    assert r.json()["revoked_at"] is not None
    r = await client.get("/v1/members", headers=new_h)
    assert (r.status_code, r.json()["code"]) == (401, "invalid_api_key")


async def test_custom_asset(client: httpx.AsyncClient) -> None:
    pid, h = await api_program(client)
    r = await client.post(
        f"/v1/programs/{pid}/assets", json={"code": "stars", "name": "Stars"}, headers=h
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/credits",
        json={"member": "u1", "asset": "stars", "amount": 3},
        headers={**h, "Idempotency-Key": "s"},
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/programs/{pid}/assets", json={"code": "stars", "name": "Stars"}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (409, "asset_exists")
