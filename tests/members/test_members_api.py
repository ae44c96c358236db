"""Members by the merchant's own id."""

from __future__ import annotations

import httpx

from tests.conftest import api_program


async def test_upsert_creates_then_updates_only_given_fields(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    body = {
        "name": "王芳",
        "phone": "13800000001",
        "birthday": "1990-05-01",
        "region": "上海",
        "tags": ["vip"],
        "consent": {"marketing": True},
    }
    r = await client.put("/v1/members/u-1", json=body, headers=h)
    assert r.status_code == 201, r.text
    r = await client.put("/v1/members/u-1", json={"region": "北京"}, headers=h)
    assert r.status_code == 200
    m = r.json()
    assert (m["name"], m["region"], m["tags"], m["consent"]) == (
        "王芳",
        "北京",
        ["vip"],
        {"marketing": True},
    )


async def test_member_validation(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    r = await client.put("/v1/members/u-1", json={"birthday": "not-a-date"}, headers=h)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422,
        "validation_error",
        "birthday",
    )
    r = await client.put("/v1/members/u-1", json={"unknown": 1}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "unknown")
    r = await client.put("/v1/members/bad%20id", json={}, headers=h)
    assert r.status_code == 422
    r = await client.get("/v1/members/nobody", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "member_not_found")


async def test_list_and_search_members(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    for i in range(5):
        await client.put(f"/v1/members/m{i}", json={"name": f"name{i}"}, headers=h)
    page1 = (await client.get("/v1/members?limit=3", headers=h)).json()
    page2 = (
        await client.get(f"/v1/members?limit=3&cursor={page1['next_cursor']}", headers=h)
    ).json()
    assert [m["id"] for m in page1["items"] + page2["items"]] == [f"m{i}" for i in range(5)]
    assert page2["next_cursor"] is None
    found = (await client.get("/v1/members?q=name3", headers=h)).json()
    assert [m["id"] for m in found["items"]] == ["m3"]


async def test_null_for_a_field_that_always_has_a_value_is_refused(
    client: httpx.AsyncClient,
) -> None:
    _, h = await api_program(client)
    await client.put("/v1/members/u-1", json={"name": "a"}, headers=h)
    for field in ("locale", "tags", "consent", "attributes", "joined_at"):
        r = await client.put("/v1/members/u-1", json={field: None}, headers=h)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422,
            "validation_error",
            field,
        )
    # null clears a field that may be empty
    r = await client.put("/v1/members/u-1", json={"name": None}, headers=h)
    assert (r.status_code, r.json()["name"]) == (200, None)
