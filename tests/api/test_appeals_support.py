"""Helpers the appeals tests share (no tests here): refused records of each kind,
filing and deciding appeals, and what was written to the outbox."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from schemas.notifications import OutboxEvent
from tests.api.test_burial_support import Bureau, bureau, file_claim, policy
from tests.factories import idem, staff_headers


async def rejected_claim(client, settings, admin_headers, b: Bureau | None = None, *,
                         at_approval: bool = False, citizen: dict | None = None,
                         body: dict | None = None) -> tuple[dict, dict, Bureau]:
    """A claim rejected by `b`'s reviewer (审核-张伟), or passed by the reviewer and
    rejected by the approver (审批-李娜)."""
    if b is None:
        await policy(client, admin_headers)
        b = await bureau(client, admin_headers)
    claim, citizen = await file_claim(client, settings, body, citizen=citizen)
    if at_approval:
        r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                              json={"decision": "pass"}, headers=b.reviewer)
        assert r.status_code == 200, r.text
        r = await client.post(f"/v1/burial/claims/{claim['id']}/reject",
                              json={"reason_code": "documents_invalid", "note": "证明不符"},
                              headers=b.approver)
    else:
        r = await client.post(f"/v1/burial/claims/{claim['id']}/review",
                              json={"decision": "reject", "reason_code": "documents_invalid",
                                    "note": "证明不符"}, headers=b.reviewer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    return r.json(), citizen, b


async def other_approver(client, admin_headers, b: Bureau, name: str = "审批-王芳") -> dict:
    return await staff_headers(client, admin_headers, b.org["id"], "approver", name)


async def appeal(client, citizen: dict, kind: str, subject_id: str, *, expect: int = 201,
                 code: str | None = None, reason: str = "材料已补齐，申请复核") -> dict:
    r = await client.post("/v1/appeals", json={"subject": {"type": kind, "id": subject_id},
                                               "reason": reason},
                          headers={**citizen, **idem()})
    assert r.status_code == expect, r.text
    if code is not None:
        assert r.json()["code"] == code, r.text
    return r.json()


async def decide(client, headers: dict, appeal_id: str, decision: str = "overturned", *,
                 expect: int = 200, code: str | None = None) -> dict:
    r = await client.post(f"/v1/appeals/{appeal_id}/decide",
                          json={"decision": decision, "note": "复核意见"}, headers=headers)
    assert r.status_code == expect, r.text
    if code is not None:
        assert r.json()["code"] == code, r.text
    return r.json()


async def appeal_events(db: Database, suffix: str = "") -> list[OutboxEvent]:
    async with db.session() as s:
        rows = (await s.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars()
        return [e for e in rows if e.type.startswith("appeal.") and e.type.endswith(suffix)]
