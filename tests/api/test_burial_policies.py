"""Subsidy policies: added by the admin, listed publicly with division names,
never overlapping, never edited in place (a later period supersedes)."""

from __future__ import annotations

from datetime import timedelta

from core.clock import clock
from tests.api.test_burial_support import (
    bureau,
    claim_body,
    days_ago,
    file_claim,
    policy,
)
from tests.factories import citizen_headers


def days_ahead(n: int) -> str:
    return (clock.today() + timedelta(days=n)).isoformat()


async def test_admin_adds_a_policy_and_anyone_lists_it_with_the_division_name(
        client, admin_headers):
    p = await policy(client, admin_headers, division="110000", method="sea", amount=400000)
    assert p["division_name"] == "北京市" and p["effective_to"] is None
    await policy(client, admin_headers, division="610400", method="wall", amount=50000)
    r = await client.get("/v1/burial/policies?division_code=11")  # no credentials
    assert r.status_code == 200
    assert [(i["id"], i["division_name"]) for i in r.json()["items"]] == [(p["id"], "北京市")]
    r = await client.get("/v1/burial/policies?division_code=6104")
    assert [i["division_name"] for i in r.json()["items"]] == ["陕西省咸阳市"]
    assert (await client.get(f"/v1/burial/policies/{p['id']}")).json()["amount_fen"] == 400000


async def test_only_the_admin_adds_policies(client, admin_headers, settings):
    b = await bureau(client, admin_headers)
    body = {"division_code": "110000", "method": "sea", "amount_fen": 1,
            "effective_from": days_ago(1), "claim_deadline_days": 30}
    for headers in (b.approver, citizen_headers(settings)):
        r = await client.post("/v1/burial/policies", json=body, headers=headers)
        assert r.status_code == 403
    assert (await client.post("/v1/burial/policies", json=body)).status_code == 401


async def test_a_policy_needs_a_real_division_and_an_ordered_period(client, admin_headers):
    r = await client.post("/v1/burial/policies", headers=admin_headers, json={
        "division_code": "119999", "method": "sea", "amount_fen": 1,
        "effective_from": days_ago(1), "claim_deadline_days": 30})
    assert r.status_code == 422 and r.json()["code"] == "invalid_division_code"
    r = await client.post("/v1/burial/policies", headers=admin_headers, json={
        "division_code": "110000", "method": "sea", "amount_fen": 1,
        "effective_from": days_ago(1), "effective_to": days_ago(2), "claim_deadline_days": 30})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.post("/v1/burial/policies", headers=admin_headers, json={
        "division_code": "110000", "method": "burned", "amount_fen": 1,
        "effective_from": days_ago(1), "claim_deadline_days": 30})
    assert r.status_code == 422


async def test_overlapping_periods_of_one_division_and_method_are_refused(client,
                                                                          admin_headers):
    await policy(client, admin_headers, frm=days_ago(300), to=days_ago(100))
    r = await client.post("/v1/burial/policies", headers=admin_headers, json={
        "division_code": "110000", "method": "sea", "amount_fen": 500000,
        "effective_from": days_ago(150), "claim_deadline_days": 180})
    assert r.status_code == 409 and r.json()["code"] == "policy_overlap"
    assert "海葬" in r.json()["detail"] and r.json()["policy_id"].startswith("bpol_")
    # The next day is free; another method or division never overlaps.
    await policy(client, admin_headers, frm=days_ago(99), to=days_ago(50))
    await policy(client, admin_headers, method="tree", frm=days_ago(150))
    await policy(client, admin_headers, division="110105", frm=days_ago(150))


async def test_a_later_period_supersedes_a_policy_in_force_without_editing_its_past(
        client, admin_headers, settings):
    old = await policy(client, admin_headers, amount=400000, frm=days_ago(300))
    await bureau(client, admin_headers)
    claim, citizen = await file_claim(client, settings, claim_body(burial=days_ago(1)))
    # A new amount from a day already past would rewrite the policy in force: refused.
    r = await client.post("/v1/burial/policies", headers=admin_headers, json={
        "division_code": "110000", "method": "sea", "amount_fen": 600000,
        "effective_from": days_ago(0), "claim_deadline_days": 180})
    assert r.status_code == 409 and r.json()["code"] == "policy_overlap"
    new = await policy(client, admin_headers, amount=600000, frm=days_ahead(1))
    before = (await client.get(f"/v1/burial/policies/{old['id']}")).json()
    assert before["effective_to"] == clock.today().isoformat()
    assert before["superseded_by"] == new["id"]
    assert before["amount_fen"] == 400000
    listed = (await client.get(f"/v1/burial/policies?in_force_on={days_ahead(2)}")).json()
    assert [p["id"] for p in listed["items"]] == [new["id"]]
    # The claim keeps the amount it was decided under.
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)
    assert r.json()["amount_fen"] == 400000 and r.json()["policy_id"] == old["id"]
    # A burial from the new period's first day on gets the new amount.
    clock.advance(timedelta(days=2))
    claim2, _ = await file_claim(client, settings, claim_body(burial=days_ago(1)))
    assert claim2["amount_fen"] == 600000 and claim2["policy_id"] == new["id"]


async def test_the_most_specific_division_with_a_policy_in_force_decides(client,
                                                                        admin_headers):
    await policy(client, admin_headers, division="110000", amount=400000)
    county = await policy(client, admin_headers, division="110105", amount=500000)
    # The county's own policy is not in force yet on an older burial date.
    await policy(client, admin_headers, division="110100", amount=450000, frm=days_ago(365),
                 to=days_ago(200))
    r = await client.get("/v1/burial/policies/applicable", params={
        "division_code": "110105", "method": "sea", "burial_date": days_ago(10)})
    assert r.json()["id"] == county["id"]
    r = await client.get("/v1/burial/policies/applicable", params={
        "division_code": "110108", "method": "sea", "burial_date": days_ago(10)})
    assert r.json()["amount_fen"] == 400000
    r = await client.get("/v1/burial/policies/applicable", params={
        "division_code": "110108", "method": "sea", "burial_date": days_ago(300)})
    assert r.json()["amount_fen"] == 450000
    r = await client.get("/v1/burial/policies/applicable", params={
        "division_code": "310101", "method": "sea", "burial_date": days_ago(10)})
    assert r.status_code == 422 and r.json()["code"] == "no_applicable_policy"
