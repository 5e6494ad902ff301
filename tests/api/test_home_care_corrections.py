"""Corrections of exception visits and the bureau's decision (EVV): the provider
corrects, a reviewer or approver of a bureau whose division contains the provider's
decides once; approval pays on the corrected time, rejection pays no subsidy; the
allowance is never overdrawn by approvals at the same moment; the exceptions list;
audit rows and events of every decision."""

from __future__ import annotations

import asyncio
from collections import Counter

from services.notifications.worker import Worker
from tests.api.test_burial_support import bureau
from tests.api.test_home_care_support import DAY, elder
from tests.api.test_home_care_verification_support import (
    HOME,
    PRICE,
    allowance,
    audits,
    correction,
    exception_visit,
    month_used,
    outbox,
    path,
    served,
    setup,
    submit,
    visit,
)
from tests.api.test_home_care_verification_support import set_china_time as at_time
from tests.factories import citizen_headers

DAY2, DAY3 = "2026-12-09", "2026-12-10"
AFTER = ("2026-12-08", "16:00")  # the afternoon of the visits' day


async def _submitted(client, settings, staff, org, *, day=DAY, person=None,
                     body=None) -> dict:
    v = await exception_visit(client, settings, staff, org, day=day, person=person)
    at_time(day, "16:00")
    return await submit(client, staff, v, body or correction(day=day))


async def test_the_provider_corrects_an_exception(client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    v = await exception_visit(client, settings, staff, org, person=person)
    at_time(*AFTER)
    r = await submit(client, staff, v, correction("10:00", "10:40", reason="no_signal",
                                                    note=None))
    assert r["verification"] == "correction_submitted" and r["status"] == "completed"
    assert r["exceptions"] == ["late_check_in"]  # what the record showed stays
    c = r["correction"]
    assert c["reason_code"] == "no_signal" and c["note"] is None
    assert c["actual_start_at"] == "2026-12-08T10:00:00+08:00"
    assert c["actual_end_at"] == "2026-12-08T10:40:00+08:00"
    assert c["submitted_at"] == "2026-12-08T16:00:00+08:00" and c["decided_at"] is None
    # Still nothing paid; held on the corrected 40 of 60 minutes.
    assert (r["subsidy_paid_fen"], r["family_paid_fen"], r["subsidy_held_fen"]) == (
        0, None, 4000)
    assert await month_used(db) in (None, (10000, 0))
    # Submitted once.
    r = await submit(client, staff, v, expect=409)
    assert r["code"] == "invalid_state" and r["current_status"] == "correction_submitted"


async def test_a_correction_needs_a_reason_times_within_the_visit_and_a_note_for_other(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await exception_visit(client, settings, staff, org)
    at_time(*AFTER)
    r = await submit(client, staff, v, correction(reason="other", note=None), expect=422)
    assert r["code"] == "validation_error"
    r = await submit(client, staff, v, correction(reason="other", note="   "), expect=422)
    assert r["code"] == "validation_error"
    r = await submit(client, staff, v, correction(reason="lost_phone"), expect=422)
    assert r["code"] == "validation_error"
    r = await submit(client, staff, v, correction("11:00", "10:00"), expect=422)
    assert r["code"] == "validation_error"  # the end before the start
    naive = {**correction(), "actual_start_at": "2026-12-08T10:00:00"}
    assert (await submit(client, staff, v, naive, expect=422))["code"] == "validation_error"
    # From an hour before the booked start (10:00) to two hours after its end (11:00).
    r = await submit(client, staff, v, correction("08:59", "10:00"), expect=422)
    assert r["code"] == "correction_outside_visit"
    r = await submit(client, staff, v, correction("11:00", "13:01"), expect=422)
    assert r["code"] == "correction_outside_visit"
    # Never in the future.
    at_time(DAY, "11:30")
    r = await submit(client, staff, v, correction("10:00", "11:31"), expect=422)
    assert r["code"] == "correction_outside_visit"
    r = await submit(client, staff, v, correction("09:00", "11:30", reason="other",
                                                    note="系统故障，家属可作证"))
    assert r["verification"] == "correction_submitted"
    at_time(*AFTER)
    r = await client.get(path(v), headers=staff)
    assert r.json()["correction"]["note"] == "系统故障，家属可作证"


async def test_only_an_exception_is_corrected_and_only_by_its_provider(client, admin_headers,
                                                                       settings):
    org, staff = await setup(client, admin_headers)
    verified = await visit(client, settings, org)
    await served(client, staff, verified, "10:00", "11:00")
    booked = await visit(client, settings, org, day=DAY2)
    v = await exception_visit(client, settings, staff, org, day=DAY3)
    at_time(DAY3, "16:00")
    r = await submit(client, staff, verified, expect=409)
    assert r["code"] == "invalid_state" and r["current_status"] == "verified"
    r = await submit(client, staff, booked, expect=409)
    assert r["code"] == "invalid_state" and r["current_status"] == "booked"
    _, other = await setup(client, admin_headers)
    at_time(DAY3, "16:00")
    body = correction(day=DAY3)
    assert (await client.post(path(v, "corrections"), json=body,
                              headers=other)).status_code == 404
    b = await bureau(client, admin_headers, division="310101")
    assert (await client.post(path(v, "corrections"), json=body,
                              headers=b.reviewer)).status_code == 403
    family = citizen_headers(settings)
    assert (await client.post(path(v, "corrections"), json=body,
                              headers=family)).status_code == 403


async def test_a_county_bureau_containing_the_provider_approves_and_pays_the_corrected_time(
        client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 3000)
    v = await exception_visit(client, settings, staff, org, person=person)
    at_time(*AFTER)
    r = await submit(client, staff, v, correction("10:00", "10:40"))
    assert r["subsidy_held_fen"] == 3000  # what the allowance has, of the 4000 billed
    b = await bureau(client, admin_headers, division="310101")
    at_time("2026-12-09", "09:30")
    r = await client.post(path(v, "corrections/approve"), json={"note": "家属电话确认"},
                          headers=b.reviewer)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["verification"] == "corrected" and done["subsidy_held_fen"] is None
    # 40 of 60 minutes: 4000 of 6000 fen; 3000 from the allowance, 1000 the family.
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (3000, 1000)
    assert done["correction"]["decided_at"] == "2026-12-09T09:30:00+08:00"
    assert done["correction"]["decision_note"] == "家属电话确认"
    assert await month_used(db) == (3000, 3000)
    # Decided once.
    r = await client.post(path(v, "corrections/approve"), headers=b.approver)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(path(v, "corrections/reject"), json={"note": "x"}, headers=b.approver)
    assert r.status_code == 409 and r.json()["current_status"] == "corrected"
    # The family and the provider see the outcome.
    family = (await client.get(path(v), headers=staff)).json()
    assert family["verification"] == "corrected"


async def test_a_city_bureau_approves_too_a_longer_correction_bills_the_price(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await _submitted(client, settings, staff, org,
                         body=correction("09:30", "11:30", reason="forgot_to_check"))
    city = await bureau(client, admin_headers, division="310100")  # 上海市: 3101xx
    r = await client.post(path(v, "corrections/approve"), headers=city.approver)
    assert r.status_code == 200, r.text
    assert (r.json()["subsidy_paid_fen"], r.json()["family_paid_fen"]) == (0, PRICE)


async def test_a_bureau_outside_does_not_see_it_and_the_provider_may_not_decide(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await _submitted(client, settings, staff, org)
    for division in ("310104", "110105", "320100"):  # 徐汇区, 朝阳区, 南京市
        outside = await bureau(client, admin_headers, division=division)
        for who in (outside.reviewer, outside.approver):
            r = await client.post(path(v, "corrections/approve"), headers=who)
            assert r.status_code == 404, (division, r.text)
            r = await client.post(path(v, "corrections/reject"), json={"note": "不符"},
                                  headers=who)
            assert r.status_code == 404
    r = await client.post(path(v, "corrections/approve"), headers=staff)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post(path(v, "corrections/reject"), json={"note": "x"}, headers=staff)
    assert r.status_code == 403
    r = await client.post(path(v, "corrections/approve"), headers=admin_headers)
    assert r.status_code == 403
    r = await client.get(path(v), headers=staff)
    assert r.json()["verification"] == "correction_submitted"


async def test_a_decision_waits_for_a_correction(client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await exception_visit(client, settings, staff, org)
    b = await bureau(client, admin_headers, division="310101")
    r = await client.post(path(v, "corrections/approve"), headers=b.reviewer)
    assert r.status_code == 409 and r.json()["current_status"] == "exception"


async def test_a_rejected_correction_pays_no_subsidy(client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    v = await _submitted(client, settings, staff, org, person=person)
    b = await bureau(client, admin_headers, division="310101")
    r = await client.post(path(v, "corrections/reject"), json={}, headers=b.reviewer)
    assert r.status_code == 422  # a rejection says why
    r = await client.post(path(v, "corrections/reject"), json={"note": "无法核实"},
                          headers=b.reviewer)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["verification"] == "rejected" and done["subsidy_held_fen"] is None
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (0, PRICE)
    assert done["correction"]["decision_note"] == "无法核实"
    assert await month_used(db) in (None, (10000, 0))
    # Final: no second correction.
    assert (await submit(client, staff, v, expect=409))["current_status"] == "rejected"


async def test_approve_and_reject_at_the_same_moment_one_wins(client, admin_headers,
                                                              settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    v = await _submitted(client, settings, staff, org, person=person)
    b = await bureau(client, admin_headers, division="310101")
    approve, reject = await asyncio.gather(
        client.post(path(v, "corrections/approve"), headers=b.approver),
        client.post(path(v, "corrections/reject"), json={"note": "不符"}, headers=b.reviewer))
    assert sorted([approve.status_code, reject.status_code]) == [200, 409], (
        approve.text, reject.text)
    loser = approve if approve.status_code == 409 else reject
    assert loser.json()["code"] == "invalid_state"
    winner = "corrected" if approve.status_code == 200 else "rejected"
    final = (await client.get(path(v), headers=staff)).json()
    assert final["verification"] == winner
    if winner == "corrected":
        assert final["subsidy_paid_fen"] == PRICE and await month_used(db) == (10000, PRICE)
    else:
        assert final["subsidy_paid_fen"] == 0 and await month_used(db) in (None, (10000, 0))
    decided = [e.type for e in await outbox(db) if e.type.endswith(("corrected", "rejected"))]
    assert decided == [f"home_care.booking.{winner}"]
    assert len(await audits(db, "home_care_booking.approve_correction")) + len(
        await audits(db, "home_care_booking.reject_correction")) == 1


async def test_approvals_at_the_same_moment_never_overdraw_an_elders_allowance(
        client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers, caregivers=6)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    visits = [await visit(client, settings, org, person=person) for _ in range(6)]
    for v in visits:
        at_time(DAY, "10:20")
        assert (await client.post(path(v, "check-in"), json=HOME,
                                  headers=staff)).status_code == 200
    for v in visits:
        at_time(DAY, "11:20")
        r = await client.post(path(v, "check-out"), json=HOME, headers=staff)
        assert r.json()["verification"] == "exception"
    at_time(*AFTER)
    for v in visits:
        await submit(client, staff, v, correction("10:00", "11:00"))
    b = await bureau(client, admin_headers, division="310101")
    results = await asyncio.gather(*(
        client.post(path(v, "corrections/approve"), headers=(b.reviewer, b.approver)[i % 2])
        for i, v in enumerate(visits)))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    parts = [(r.json()["subsidy_paid_fen"], r.json()["family_paid_fen"]) for r in results]
    assert all(s >= 0 and f >= 0 and s + f == PRICE for s, f in parts), parts
    # Never more than the allowance; and all of it, since demand exceeds it.
    assert sum(s for s, _ in parts) == 10000
    assert await month_used(db) == (10000, 10000)


async def test_decisions_are_audited_and_told_to_the_bureau(client, admin_headers, settings,
                                                            db):
    org, staff = await setup(client, admin_headers, caregivers=2)
    b = await bureau(client, admin_headers, division="310101")
    r = await client.post("/v1/webhook-subscriptions", headers=b.reviewer, json={
        "url": "http://127.0.0.1:9/hooks", "events": ["home_care.booking.*"]})
    assert r.status_code == 201, r.text
    sub = r.json()
    approved = await _submitted(client, settings, staff, org)
    rejected = await _submitted(client, settings, staff, org, day=DAY2)
    assert (await client.post(path(approved, "corrections/approve"),
                              headers=b.approver)).status_code == 200
    assert (await client.post(path(rejected, "corrections/reject"), json={"note": "不符"},
                              headers=b.reviewer)).status_code == 200
    for action, visit_, role in (("submit_correction", approved, "provider"),
                                 ("submit_correction", rejected, "provider"),
                                 ("approve_correction", approved, "approver"),
                                 ("reject_correction", rejected, "reviewer")):
        [row] = await audits(db, f"home_care_booking.{action}", visit_["id"])
        assert row.actor_role == role and row.org_id == org["id"]
    evts = {(e.type.rsplit(".", 1)[1], e.object_id): e for e in await outbox(db)}
    for name, v in (("correction_submitted", approved), ("correction_submitted", rejected),
                    ("corrected", approved), ("rejected", rejected)):
        e = evts[(name, v["id"])]
        assert e.division_code == "310101" and e.org_id == org["id"]
        assert e.data["verification"] == {"correction_submitted": "correction_submitted",
                                          "corrected": "corrected",
                                          "rejected": "rejected"}[name]
        assert e.data["correction"]["reason_code"] == "device_problem"
    assert evts[("corrected", approved["id"])].data["subsidy_paid_fen"] == 0  # no allowance
    assert evts[("corrected", approved["id"])].data["family_paid_fen"] == PRICE
    # The bureau's subscription hears of the decisions (located at the provider's
    # division), not of the provider's own bookings and check-outs.
    async with Worker(db, settings) as w:
        await w.fan_out()
    items = (await client.get(f"/v1/webhook-subscriptions/{sub['id']}/deliveries",
                              headers=b.reviewer, params={"limit": 100})).json()["items"]
    assert Counter(d["type"] for d in items) == Counter({
        "home_care.booking.correction_submitted": 2, "home_care.booking.corrected": 1,
        "home_care.booking.rejected": 1})


# --- the exceptions list --------------------------------------------------------------


async def _list(client, headers, **params) -> list[dict]:
    r = await client.get("/v1/home-care/exceptions", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_the_exceptions_list_scoped_oldest_first_and_paged(client, admin_headers,
                                                                 settings):
    org, staff = await setup(client, admin_headers, caregivers=2)
    other, other_staff = await setup(client, admin_headers, division="310104")
    late_day3 = await exception_visit(client, settings, staff, org, day=DAY3)
    late_day1 = await exception_visit(client, settings, staff, org, day=DAY)
    submitted = await _submitted(client, settings, staff, org, day=DAY2)
    verified = await visit(client, settings, org, day=DAY)
    await served(client, staff, verified, "10:00", "11:00")
    theirs = await exception_visit(client, settings, other_staff, other, day=DAY)
    at_time(DAY3, "18:00")
    order = [late_day1["id"], submitted["id"], late_day3["id"]]
    assert [v["id"] for v in await _list(client, staff)] == order
    assert [v["id"] for v in await _list(client, other_staff)] == [theirs["id"]]
    assert [v["id"] for v in await _list(client, staff, verification="correction_submitted")
            ] == [submitted["id"]]
    assert [v["id"] for v in await _list(client, staff, verification="verified")] == [
        verified["id"]]
    # The provider sees the elder's phone in full; the bureau does not.
    [first, *_] = await _list(client, staff)
    assert first["elder"]["phone"] == "13800138000"
    county = await bureau(client, admin_headers, division="310101")
    city = await bureau(client, admin_headers, division="310100")
    elsewhere = await bureau(client, admin_headers, division="110105")
    assert [v["id"] for v in await _list(client, county.reviewer)] == order
    # Two visits start at the same time on the first day: by id.
    first_day = sorted([late_day1["id"], theirs["id"]])
    assert [v["id"] for v in await _list(client, city.approver)] == [
        *first_day, submitted["id"], late_day3["id"]]
    assert await _list(client, elsewhere.reviewer) == []
    assert all(v["elder"]["phone"] is None for v in await _list(client, county.reviewer))
    # Pages of one, oldest first, then by id.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/home-care/exceptions", headers=city.reviewer, params=params)
        assert r.status_code == 200, r.text
        seen += [v["id"] for v in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [v["id"] for v in await _list(client, city.reviewer)] and len(seen) == 4
    for who in (citizen_headers(settings), admin_headers):
        r = await client.get("/v1/home-care/exceptions", headers=who)
        assert r.status_code == 403
    r = await client.get("/v1/home-care/exceptions", headers=staff,
                         params={"verification": "lost"})
    assert r.status_code == 422
    r = await client.get("/v1/home-care/exceptions", headers=staff, params={"cursor": "x"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_a_decided_visit_leaves_the_list(client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    v = await _submitted(client, settings, staff, org)
    b = await bureau(client, admin_headers, division="310101")
    assert [x["id"] for x in await _list(client, b.reviewer)] == [v["id"]]
    assert (await client.post(path(v, "corrections/approve"),
                              headers=b.reviewer)).status_code == 200
    assert await _list(client, b.reviewer) == []
    assert [x["id"] for x in await _list(client, staff, verification="corrected")] == [v["id"]]
    reads = await audits(db, "home_care_booking.exceptions")
    assert {r.actor_role for r in reads} == {"reviewer", "provider"}
