"""Paying approved claims: the payment batch, its CSV export (the one place full
account numbers appear, audited), payment references, totals per bureau and month."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from core.clock import clock
from tests.api.test_burial_support import (
    approved_claim,
    bureau,
    claim_body,
    file_claim,
    policy,
    reviewed_claim,
)
from tests.factories import citizen_headers, idem, make_account_no


async def test_an_approver_batches_exports_and_pays_the_approved_claims(client, admin_headers,
                                                                       settings):
    await policy(client, admin_headers, amount=400000)
    b = await bureau(client, admin_headers)
    accounts = [make_account_no() for _ in range(2)]
    approved = [(await approved_claim(client, settings, b, claim_body(account_no=a)))[0]
                for a in accounts]
    await reviewed_claim(client, settings, b)  # not approved: not in the batch
    r = await client.post("/v1/burial/payment-batches", headers={**b.approver, **idem()})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["claim_count"] == 2 and batch["total_fen"] == 800000
    assert sorted(batch["claim_ids"]) == sorted(c["id"] for c in approved)
    # Nothing left to batch: a claim is in one batch at most.
    r = await client.post("/v1/burial/payment-batches", headers={**b.approver, **idem()})
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_pay"

    r = await client.get(f"/v1/burial/payment-batches/{batch['id']}/export.csv",
                         headers=b.approver)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert sorted(row["account_no"] for row in rows) == sorted(accounts)
    assert {row["amount_fen"] for row in rows} == {"400000"}
    assert {row["amount_yuan"] for row in rows} == {"4000.00"}
    events = (await client.get(f"/v1/admin/audit-events?object_id={batch['id']}",
                               headers=admin_headers)).json()["items"]
    assert "burial_payment_batch.export" in {e["action"] for e in events}

    for i, claim in enumerate(approved):
        r = await client.post(f"/v1/burial/claims/{claim['id']}/mark-paid",
                              json={"payment_reference": f"ICBC-{i}"}, headers=b.approver)
        assert r.status_code == 200 and r.json()["payment_batch_id"] == batch["id"]
    r = await client.post(f"/v1/burial/claims/{approved[0]['id']}/mark-paid",
                          json={"payment_reference": "again"}, headers=b.approver)
    assert r.status_code == 409
    listed = (await client.get("/v1/burial/payment-batches", headers=b.approver)).json()
    assert [x["id"] for x in listed["items"]] == [batch["id"]]


async def test_a_batch_and_its_export_belong_to_the_bureau(client, admin_headers, settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    other = await bureau(client, admin_headers, division="110108")
    await approved_claim(client, settings, b)
    r = await client.post("/v1/burial/payment-batches", headers={**other.approver, **idem()})
    assert r.status_code == 409  # the other bureau's jurisdiction has nothing approved
    batch = (await client.post("/v1/burial/payment-batches",
                               headers={**b.approver, **idem()})).json()
    for path in ("", "/export.csv"):
        url = f"/v1/burial/payment-batches/{batch['id']}{path}"
        assert (await client.get(url, headers=other.approver)).status_code == 404
        assert (await client.get(url, headers=b.reviewer)).status_code == 403
        assert (await client.get(url, headers=citizen_headers(settings))).status_code == 403


async def test_payment_needs_a_reference(client, admin_headers, settings):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    claim, _ = await approved_claim(client, settings, b)
    for body in ({}, {"payment_reference": ""}, {"payment_reference": " x"}):
        r = await client.post(f"/v1/burial/claims/{claim['id']}/mark-paid", json=body,
                              headers=b.approver)
        assert r.status_code == 422


async def test_totals_per_bureau_and_month(client, admin_headers, settings):
    await policy(client, admin_headers, amount=400000, frm="2025-01-01")
    b = await bureau(client, admin_headers)
    other = await bureau(client, admin_headers, division="110108")

    async def pay(bureau_, hukou: str, ref: str) -> None:
        claim, _ = await approved_claim(client, settings, bureau_, claim_body(hukou=hukou))
        r = await client.post(f"/v1/burial/claims/{claim['id']}/mark-paid",
                              json={"payment_reference": ref}, headers=bureau_.approver)
        assert r.status_code == 200

    clock.set(datetime(2026, 11, 10, 2, tzinfo=UTC))
    await pay(b, "110105", "N1")
    # 2026-11-30 17:00 UTC is 2026-12-01 01:00 in China: December.
    clock.set(datetime(2026, 11, 30, 17, tzinfo=UTC))
    await pay(b, "110105", "D1")
    await pay(b, "110105", "D2")
    await pay(other, "110108", "D3")
    await file_claim(client, settings)  # unpaid claims do not count
    r = await client.get("/v1/burial/totals", headers=b.approver)
    assert [(t["month"], t["claims_paid"], t["paid_fen"]) for t in r.json()["items"]] == [
        ("2026-12", 2, 800000), ("2026-11", 1, 400000)]
    assert r.json()["items"][0]["org_name"] == b.org["name"]
    r = await client.get("/v1/burial/totals?month=2026-12&limit=1", headers=admin_headers)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await client.get(f"/v1/burial/totals?month=2026-12&cursor={page['next_cursor']}",
                         headers=admin_headers)
    both = {page["items"][0]["org_id"], r.json()["items"][0]["org_id"]}
    assert both == {b.org["id"], other.org["id"]}
    assert (await client.get("/v1/burial/totals",
                             headers=citizen_headers(settings))).status_code == 403


async def test_a_batch_is_paid_with_the_banks_references_all_or_none(client, admin_headers,
                                                                     settings):
    await policy(client, admin_headers, amount=400000)
    b = await bureau(client, admin_headers)
    first = [(await approved_claim(client, settings, b))[0] for _ in range(2)]
    batch = (await client.post("/v1/burial/payment-batches",
                               headers={**b.approver, **idem()})).json()
    outside, _ = await approved_claim(client, settings, b)  # approved after the batch
    url = f"/v1/burial/payment-batches/{batch['id']}/payments"
    r = await client.post(url, headers=b.approver, json={"payments": [
        {"claim_id": first[0]["id"], "payment_reference": "R-1"},
        {"claim_id": outside["id"], "payment_reference": "R-X"}]})
    assert r.status_code == 404
    # Nothing was recorded: all or none.
    seen = (await client.get(f"/v1/burial/claims/{first[0]['id']}", headers=b.approver)).json()
    assert seen["status"] == "approved"
    r = await client.post(url, headers=b.approver, json={"payments": [
        {"claim_id": c["id"], "payment_reference": f"R-{i}"} for i, c in enumerate(first)]})
    assert r.status_code == 200, r.text
    assert (r.json()["paid_count"], r.json()["paid_fen"]) == (2, 800000)
    refs = {(await client.get(f"/v1/burial/claims/{c['id']}", headers=b.approver)
             ).json()["payment_reference"] for c in first}
    assert refs == {"R-0", "R-1"}
    r = await client.post(url, headers=b.approver, json={"payments": [
        {"claim_id": first[0]["id"], "payment_reference": "again"}]})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
