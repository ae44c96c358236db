"""Campaign audience by segment: a CEL condition over the member decides who gets the
multiplier; a member it cannot be decided for is outside; a bad segment is refused on save."""

from __future__ import annotations

import httpx

from jifen.clock import FixedClock
from tests.conftest import api_program
from tests.events.engine_api import save_rule, send, set_member, sh


def _paid(result: dict[str, object]) -> int:
    postings = result["postings"]
    assert isinstance(postings, list)
    return sum(int(p["amount"]) for p in postings)


async def test_segment_audience_gets_the_multiplier_others_do_not(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    _, h = await api_program(client)
    await save_rule(
        client, h, id="post", name="UGC 100", trigger="content_published",
        effects=[{"amount": {"fixed": 100}}],
    )  # fmt: skip
    campaign = {
        "id": "vip-week",
        "name": "VIP 三倍",
        "starts_at": sh(2026, 3, 1, 0).isoformat(),
        "ends_at": sh(2026, 3, 8, 0).isoformat(),
        "multiplier": "3",
        "audience": {"segment": 'member.attributes.rfm == "champion" && "vip" in member.tags'},
    }
    r = await client.put("/v1/campaigns/vip-week", json=campaign, headers=h)
    assert r.status_code == 200, r.text
    await set_member(client, h, "champ", tags=["vip"], attributes={"rfm": "champion"})
    await set_member(client, h, "champ-no-tag", attributes={"rfm": "champion"})
    await set_member(client, h, "unknown")  # no rfm attribute: cannot be decided
    at = sh(2026, 3, 1, 13)
    clock.set(sh(2026, 3, 1, 14))
    assert _paid(await send(client, h, "e1", "content_published", "champ", at)) == 300
    assert _paid(await send(client, h, "e2", "content_published", "champ-no-tag", at)) == 100
    assert _paid(await send(client, h, "e3", "content_published", "unknown", at)) == 100


async def test_bad_segment_is_refused_with_the_reason(client: httpx.AsyncClient) -> None:
    _, h = await api_program(client)
    base = {
        "id": "c",
        "name": "c",
        "starts_at": sh(2026, 3, 1, 0).isoformat(),
        "ends_at": sh(2026, 3, 8, 0).isoformat(),
        "multiplier": "2",
    }
    for segment, words in (
        ("member.tier == ", "syntax error"),
        ("event.type == 'x'", "only use member"),
        ("member.shoe_size > 3", "unknown field member.shoe_size"),
    ):
        r = await client.put(
            "/v1/campaigns/c", json={**base, "audience": {"segment": segment}}, headers=h
        )
        assert r.status_code == 422, r.text
        assert words in r.text, r.text
