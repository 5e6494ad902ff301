"""Appeals (复核) rules the review of issue 26 found without an HTTP test that would
fail without them (review-26 section 2): a delegate appeals for its principal a
rejected bed application and a home-care visit whose correction was rejected (201,
naming the delegation), and finds neither once the delegation is revoked (404);
`?overdue=true` for an approver lists the overdue appeals of its bureau only."""

from __future__ import annotations

import datetime as dt

from core.clock import CHINA_TZ, clock
from tests.api.test_appeals_support import appeal, decide, rejected_claim
from tests.api.test_beds_support import apply, institution
from tests.api.test_burial_support import bureau, claim_body
from tests.api.test_delegation_support import (
    Citizen,
    act,
    active,
    audit_rows,
    citizen,
    verifier,
)
from tests.api.test_home_care_support import DAY, at, book, elder
from tests.api.test_home_care_verification_support import (
    HOME,
    correction,
    path,
    served,
    setup,
    submit,
)
from tests.api.test_home_care_verification_support import set_china_time as at_time
from tests.factories import citizen_headers


async def _family(client, settings, admin_headers) -> tuple[Citizen, Citizen]:
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    return father, daughter


async def _withdraw(client, who: Citizen, a: dict) -> None:
    r = await client.post(f"/v1/appeals/{a['id']}/withdraw", headers=who.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


async def test_a_delegate_appeals_the_principals_rejected_bed_application(
        client, settings, admin_headers, db):
    father, daughter = await _family(client, settings, admin_headers)
    inst, staff = await institution(client, admin_headers)
    b = await bureau(client, admin_headers, division="510107")
    app, _ = await apply(client, settings, inst["id"], id_number=father.id_number,
                         citizen=father.headers)
    r = await client.post(f"/v1/bed-applications/{app['id']}/reject", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    # No delegation, or one outside the beds scope: not her record.
    await appeal(client, daughter.headers, "bed_application", app["id"], expect=404,
                 code="not_found")
    other_scope = await active(client, father, daughter, ("home_care", "burial"))
    await appeal(client, daughter.headers, "bed_application", app["id"], expect=404,
                 code="not_found")
    await act(client, father, other_scope["id"], "revoke")
    d = await active(client, father, daughter, ("beds",))
    a = await appeal(client, daughter.headers, "bed_application", app["id"])
    assert a["status"] == "submitted" and a["delegation_id"] == d["id"]
    assert a["division_code"] == "510107"
    (row,) = await audit_rows(db, "appeal.create", a["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    r = await client.get(f"/v1/appeals/{a['id']}", headers=b.approver)
    assert r.status_code == 200 and r.json()["delegation_id"] == d["id"]
    # Withdrawn, then revoked: the application is no longer hers to appeal.
    await _withdraw(client, daughter, a)
    await act(client, father, d["id"], "revoke")
    await appeal(client, daughter.headers, "bed_application", app["id"], expect=404,
                 code="not_found")
    own = await appeal(client, father.headers, "bed_application", app["id"])
    assert own["delegation_id"] is None


async def test_a_delegate_appeals_the_principals_visit_whose_correction_was_rejected(
        client, settings, admin_headers, db):
    org, staff = await setup(client, admin_headers)  # the clock at 2026-12-01
    father, daughter = await _family(client, settings, admin_headers)
    person = {**elder(**HOME), "name": father.name, "id_number": father.id_number}
    now = clock.now()
    r = await book(client, settings, org["id"], at(DAY, "10:00"),
                   who=citizen_headers(settings), elder_=person)
    assert r.status_code == 201, r.text
    clock.set(now)
    v = await served(client, staff, r.json(), "10:20", "11:20")
    assert v["verification"] == "exception"
    at_time(DAY, "16:00")
    await submit(client, staff, v, correction("10:00", "11:00"))
    b = await bureau(client, admin_headers, division="310101")
    r = await client.post(path(v, "corrections/reject"), json={"note": "无法核实"},
                          headers=b.reviewer)
    assert r.status_code == 200, r.text
    await appeal(client, daughter.headers, "home_care_visit", v["id"], expect=404,
                 code="not_found")
    d = await active(client, father, daughter, ("home_care",))
    a = await appeal(client, daughter.headers, "home_care_visit", v["id"])
    assert a["status"] == "submitted" and a["delegation_id"] == d["id"]
    assert a["division_code"] == "310101"
    (row,) = await audit_rows(db, "appeal.create", a["id"])
    assert row.actor_id == daughter.subject and row.delegation_id == d["id"]
    await _withdraw(client, daughter, a)
    await act(client, daughter, d["id"], "revoke")
    await appeal(client, daughter.headers, "home_care_visit", v["id"], expect=404,
                 code="not_found")
    own = await appeal(client, father.headers, "home_care_visit", v["id"])
    assert own["delegation_id"] is None


def _china(day: dt.date, hhmm: str = "00:00") -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=CHINA_TZ)


async def _overdue_ids(client, headers: dict, overdue: str = "true") -> list[str]:
    r = await client.get("/v1/appeals", params={"overdue": overdue}, headers=headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


async def test_an_approver_lists_the_overdue_appeals_of_its_bureau(client, settings,
                                                                   admin_headers):
    claim, citizen_, b = await rejected_claim(client, settings, admin_headers)
    late = await appeal(client, citizen_, "burial_claim", claim["id"])
    done, citizen2, _ = await rejected_claim(client, settings, admin_headers, b)
    decided = await appeal(client, citizen2, "burial_claim", done["id"])
    outside = await bureau(client, admin_headers, division="110108")
    elsewhere_claim, citizen3, _ = await rejected_claim(
        client, settings, admin_headers, outside, body=claim_body(hukou="110108"))
    elsewhere = await appeal(client, citizen3, "burial_claim", elsewhere_claim["id"])
    last = dt.date.fromisoformat(late["decide_by"])
    clock.set(_china(last, "23:59"))
    assert await _overdue_ids(client, b.approver) == []
    clock.set(_china(last + dt.timedelta(days=1)))
    await decide(client, b.approver, decided["id"], "upheld")
    assert await _overdue_ids(client, b.approver) == [late["id"]]
    assert await _overdue_ids(client, b.approver, "false") == [decided["id"]]
    assert await _overdue_ids(client, outside.approver) == [elsewhere["id"]]
    r = await client.get(f"/v1/appeals/{late['id']}", headers=b.approver)
    assert r.json()["overdue"] is True
    # Decided, it leaves the approver's overdue list.
    await decide(client, b.approver, late["id"], "upheld")
    assert await _overdue_ids(client, b.approver) == []
