"""`huimin demo` loads a few eco-burial subsidy policies, once."""

from __future__ import annotations

from services.demo import DEMO_BURIAL_POLICIES, load_demo


async def test_demo_loads_burial_policies_once(client, settings):
    await load_demo(settings, lambda _line: None)
    await load_demo(settings, lambda _line: None)  # a second run adds none
    r = await client.get("/v1/burial/policies?limit=100")
    items = r.json()["items"]
    assert len(items) == len(DEMO_BURIAL_POLICIES)
    sea = next(p for p in items if p["division_code"] == "110000")
    assert (sea["method"], sea["amount_fen"], sea["division_name"]) == ("sea", 400000, "北京市")
    r = await client.get("/v1/burial/policies/applicable", params={
        "division_code": "610402", "method": "wall", "burial_date": "2026-06-01"})
    assert r.json()["amount_fen"] == 50000
