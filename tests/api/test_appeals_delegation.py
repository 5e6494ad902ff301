"""Who may appeal, with delegation (代办): the person a refused record names (bound),
and a delegate in the record's scope while the delegation is active; the appeal then
names the delegation, and so does its audit row. Anyone else, or a delegate outside
the scope or after revocation, finds no such record (404)."""

from __future__ import annotations

from tests.api.test_appeals_support import appeal, rejected_claim
from tests.api.test_burial_support import claim_body
from tests.api.test_delegation_support import act, active, audit_rows, citizen, verifier


async def test_a_delegate_in_the_burial_scope_appeals_for_the_principal(client, settings,
                                                                        admin_headers, db):
    v = await verifier(client, admin_headers)
    mother = await citizen(client, settings, v, age=75, name="李秀兰")
    son = await citizen(client, settings, v, sex="male", name="王强")
    claim, _, _b = await rejected_claim(
        client, settings, admin_headers, citizen=mother.headers,
        body=claim_body(claimant_id=mother.id_number, relation="spouse"))
    # No delegation, or one outside the burial scope: not his record.
    await appeal(client, son.headers, "burial_claim", claim["id"], expect=404,
                 code="not_found")
    beds_only = await active(client, mother, son, ("beds",))
    await appeal(client, son.headers, "burial_claim", claim["id"], expect=404,
                 code="not_found")
    await act(client, mother, beds_only["id"], "revoke")
    d = await active(client, mother, son, ("burial",))
    a = await appeal(client, son.headers, "burial_claim", claim["id"])
    assert a["delegation_id"] == d["id"]
    (row,) = await audit_rows(db, "appeal.create", a["id"])
    assert row.actor_id == son.subject and row.delegation_id == d["id"]
    # Withdrawn, then revoked: the record is no longer his to appeal.
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=son.headers)
    assert r.status_code == 200, r.text
    await act(client, mother, d["id"], "revoke")
    await appeal(client, son.headers, "burial_claim", claim["id"], expect=404,
                 code="not_found")
    # The principal herself still may.
    own = await appeal(client, mother.headers, "burial_claim", claim["id"])
    assert own["delegation_id"] is None


async def test_the_person_a_claim_names_appeals_one_her_delegate_filed(client, settings,
                                                                        admin_headers):
    v = await verifier(client, admin_headers)
    mother = await citizen(client, settings, v, age=75, name="李秀兰")
    son = await citizen(client, settings, v, sex="male", name="王强")
    await active(client, mother, son, ("burial",))
    claim, _, _b = await rejected_claim(
        client, settings, admin_headers, citizen=son.headers,
        body=claim_body(claimant_id=mother.id_number, relation="spouse"))
    assert claim["delegation_id"] is not None
    a = await appeal(client, mother.headers, "burial_claim", claim["id"])
    assert a["status"] == "submitted" and a["delegation_id"] is None
