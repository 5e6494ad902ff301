"""Appeals (复核): who may file (404 for another's record), what is appealable, the
60-day window, one open appeal per record (also at the same moment), who decides
(an approver of a bureau in charge who took no part in the refusal), decided once,
withdrawal, and a burial claim's overturn with its refusers barred."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jsonschema_rs  # schemathesis' validator
from sqlalchemy import select

from core.clock import clock
from schemas.audit import AuditEvent
from tests.api.test_appeals_support import (
    appeal,
    appeal_events,
    decide,
    other_approver,
    rejected_claim,
)
from tests.api.test_burial_support import bureau, file_claim, policy
from tests.factories import citizen_headers, idem, staff_headers


async def test_the_claimant_appeals_a_rejected_claim(client, settings, admin_headers, db):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    assert a["status"] == "submitted" and a["overdue"] is False
    assert a["subject"] == {"type": "burial_claim", "id": claim["id"]}
    assert a["reason"] == "材料已补齐，申请复核"
    assert a["division_code"] == "110105" and a["decision"] is None
    assert a["decide_by"] > a["filed_at"][:10]
    # The appellant and the bureau in charge read it; nobody else.
    for who in (citizen, b.reviewer, b.approver):
        r = await client.get(f"/v1/appeals/{a['id']}", headers=who)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == a["id"]
    outside = await bureau(client, admin_headers, division="110108")
    for who in (citizen_headers(settings), outside.reviewer, outside.approver):
        r = await client.get(f"/v1/appeals/{a['id']}", headers=who)
        assert r.status_code == 404, r.text
        r = await client.get("/v1/appeals", headers=who)
        assert r.status_code == 200 and r.json()["items"] == []
    listed = (await client.get("/v1/appeals", headers=citizen)).json()["items"]
    assert [x["id"] for x in listed] == [a["id"]]
    [event] = await appeal_events(db, ".submitted")
    assert event.object_id == a["id"] and event.data["subject"]["id"] == claim["id"]
    assert event.division_code == "110105"


async def test_another_citizens_record_is_not_found(client, settings, admin_headers):
    claim, _citizen, _b = await rejected_claim(client, settings, admin_headers)
    r = await appeal(client, citizen_headers(settings), "burial_claim", claim["id"],
                     expect=404, code="not_found")
    assert "reason" not in r
    await appeal(client, citizen_headers(settings), "bed_application", claim["id"],
                 expect=404, code="not_found")


async def test_the_document_says_a_reason_is_not_blank(client, settings):
    """schemathesis: a reason of spaces was valid by the document (`minLength` 1) and
    refused by the server, which strips it first (422 `validation_error`)."""
    doc = (await client.get("/openapi.json")).json()
    reason = jsonschema_rs.Draft202012Validator(
        doc["components"]["schemas"]["AppealCreate"]["properties"]["reason"])
    for value, ok in (("材料已补齐", True), (" 材料已补齐 ", True), ("   ", False),
                      ("\u3000", False), ("\u0085", False)):
        assert reason.is_valid(value) is ok, repr(value)
        r = await client.post("/v1/appeals", headers={**citizen_headers(settings), **idem()},
                              json={"subject": {"type": "burial_claim", "id": "bcl_x"},
                                    "reason": value})
        # past validation, a made-up record is 404; refused, the reason is the field
        assert (r.status_code == 404) is ok, (value, r.text)
        if not ok:
            assert r.json()["code"] == "validation_error"


async def test_only_a_refusal_is_appealable(client, settings, admin_headers):
    await policy(client, admin_headers)
    b = await bureau(client, admin_headers)
    claim, citizen = await file_claim(client, settings)
    await appeal(client, citizen, "burial_claim", claim["id"], expect=422,
                 code="not_appealable")
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                          json={"decision": "return", "note": "补充火化证明"},
                          headers=b.reviewer)
    assert r.status_code == 200
    await appeal(client, citizen, "burial_claim", claim["id"], expect=422,
                 code="not_appealable")


async def test_the_appeal_is_filed_within_60_days_of_the_refusal(client, settings,
                                                                 admin_headers):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    late, citizen2, _ = await rejected_claim(client, settings, admin_headers, b)
    start = clock.now()
    # Refused today (China date D): D + 60 is the last day, D + 61 too late.
    clock.set(start + timedelta(days=60))
    await appeal(client, citizen_headers(settings, _sub(citizen)), "burial_claim",
                 claim["id"])
    clock.set(start + timedelta(days=61))
    r = await appeal(client, citizen_headers(settings, _sub(citizen2)), "burial_claim",
                     late["id"], expect=422, code="appeal_deadline_passed")
    assert "60" in r["detail"]


def _sub(headers: dict) -> str:
    import jwt
    return jwt.decode(headers["Authorization"].removeprefix("Bearer "),
                      options={"verify_signature": False})["sub"]


async def test_one_open_appeal_per_record_even_at_the_same_moment(client, settings,
                                                                  admin_headers):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    body = {"subject": {"type": "burial_claim", "id": claim["id"]}, "reason": "复核"}
    rs = await asyncio.gather(*(client.post("/v1/appeals", json=body,
                                            headers={**citizen, **idem()})
                                for _ in range(4)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [201, 409, 409, 409], [r.text for r in rs]
    assert {r.json()["code"] for r in rs if r.status_code == 409} == {"duplicate_appeal"}
    # Once decided (or withdrawn), the record may be appealed again.
    first = next(r.json() for r in rs if r.status_code == 201)
    await decide(client, await other_approver(client, admin_headers, b), first["id"],
                 "upheld")
    await appeal(client, citizen, "burial_claim", claim["id"])


async def test_only_an_approver_of_a_bureau_in_charge_decides(client, settings,
                                                              admin_headers):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    r = await decide(client, b.reviewer, a["id"], expect=403, code="forbidden")
    r = await decide(client, citizen, a["id"], expect=403)
    outside = await bureau(client, admin_headers, division="110108")
    await decide(client, outside.approver, a["id"], expect=404)
    city = await bureau(client, admin_headers, division="110100")  # Beijing: in charge
    r = await decide(client, city.approver, a["id"], "upheld")
    assert r["status"] == "upheld" and r["decision"] == "upheld"
    assert r["decided_by"] == {"org_id": city.org["id"], "staff_name": "审批-李娜"}
    assert r["overdue"] is False
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)
    assert r.json()["status"] == "rejected"  # upheld: nothing changes


async def test_nobody_who_took_part_in_the_refusal_decides(client, settings, admin_headers,
                                                           db):
    # Rejected at review by 审核-张伟: his own approver key may not decide, even with
    # his name written in full-width forms.
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    await decide(client, b.reviewer_as_approver, a["id"], expect=403,
                 code="separation_of_duties")
    wide = await staff_headers(client, admin_headers, b.org["id"], "approver", "审核－张伟")
    await decide(client, wide, a["id"], expect=403, code="separation_of_duties")
    # Rejected by the approver 审批-李娜 after 审核-张伟 passed it: neither decides.
    claim2, citizen2, _ = await rejected_claim(client, settings, admin_headers, b,
                                               at_approval=True)
    a2 = await appeal(client, citizen2, "burial_claim", claim2["id"])
    await decide(client, b.approver, a2["id"], expect=403, code="separation_of_duties")
    await decide(client, b.reviewer_as_approver, a2["id"], expect=403,
                 code="separation_of_duties")
    # Someone else does.
    wang = await other_approver(client, admin_headers, b)
    assert (await decide(client, wang, a2["id"]))["status"] == "overturned"
    assert (await decide(client, b.approver, a["id"], "upheld"))["status"] == "upheld"
    async with db.session() as s:
        refused = (await s.execute(select(AuditEvent).where(
            AuditEvent.outcome == "refused:separation_of_duties"))).scalars().all()
    assert len(refused) == 4


async def test_an_overturned_claim_is_reviewed_again_but_not_by_its_refusers(
        client, settings, admin_headers, db):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers,
                                             at_approval=True)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    wang = await other_approver(client, admin_headers, b)
    d = await decide(client, wang, a["id"])
    assert d["status"] == "overturned" and d["decision"] == "overturned"
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)
    assert r.json()["status"] == "submitted" and r.json()["review"] is None
    # The reviewer who passed it on to the refusal may not review it again.
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                          json={"decision": "pass"}, headers=b.reviewer)
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    other = await staff_headers(client, admin_headers, b.org["id"], "reviewer", "审核-赵强")
    r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                          json={"decision": "pass"}, headers=other)
    assert r.status_code == 200, r.text
    # The approver who rejected it may not approve (nor reject) it again.
    r = await client.post(f"/v1/burial/claims/{claim['id']}/approve", headers=b.approver)
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    r = await client.post(f"/v1/burial/claims/{claim['id']}/reject",
                          json={"reason_code": "documents_invalid"}, headers=b.approver)
    assert r.status_code == 403 and r.json()["code"] == "separation_of_duties"
    r = await client.post(f"/v1/burial/claims/{claim['id']}/approve", headers=wang)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    [decided] = await appeal_events(db, ".decided")
    assert decided.data["decision"] == "overturned" and decided.subject == _sub(citizen)


async def test_an_appeal_is_decided_once_at_the_same_moment(client, settings, admin_headers,
                                                            db):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    approvers = [await other_approver(client, admin_headers, b, f"审批-{n}")
                 for n in ("王芳", "刘洋", "陈静")]
    rs = await asyncio.gather(
        *(client.post(f"/v1/appeals/{a['id']}/decide",
                      json={"decision": d, "note": "x"}, headers=h)
          for h, d in zip(approvers, ("overturned", "upheld", "overturned"), strict=True)))
    assert sorted(r.status_code for r in rs) == [200, 409, 409], [r.text for r in rs]
    assert {r.json()["code"] for r in rs if r.status_code == 409} == {"invalid_state"}
    winner = next(r.json() for r in rs if r.status_code == 200)
    assert len(await appeal_events(db, ".decided")) == 1
    r = await client.get(f"/v1/burial/claims/{claim['id']}/history", headers=citizen)
    overturns = [e for e in r.json()["items"] if e["action"] == "appeal_overturn"]
    assert len(overturns) == (1 if winner["status"] == "overturned" else 0)


async def test_a_decision_racing_a_withdrawal_one_wins(client, settings, admin_headers, db):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    wang = await other_approver(client, admin_headers, b)
    decided, withdrawn = await asyncio.gather(
        client.post(f"/v1/appeals/{a['id']}/decide", json={"decision": "overturned"},
                    headers=wang),
        client.post(f"/v1/appeals/{a['id']}/withdraw", headers=citizen))
    assert sorted((decided.status_code, withdrawn.status_code)) == [200, 409]
    final = (await client.get(f"/v1/appeals/{a['id']}", headers=citizen)).json()
    status = (await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)).json()
    if decided.status_code == 200:
        assert final["status"] == "overturned" and status["status"] == "submitted"
    else:
        assert final["status"] == "withdrawn" and status["status"] == "rejected"
        assert final["withdrawn_at"] is not None


async def test_the_appellant_withdraws_before_a_decision(client, settings, admin_headers):
    claim, citizen, b = await rejected_claim(client, settings, admin_headers)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=citizen_headers(settings))
    assert r.status_code == 404
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=b.approver)
    assert r.status_code == 403
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=citizen)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=citizen)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await decide(client, b.approver, a["id"], expect=409, code="invalid_state")
    r = await client.get("/v1/appeals", params={"status": "withdrawn"}, headers=citizen)
    assert [x["id"] for x in r.json()["items"]] == [a["id"]]
