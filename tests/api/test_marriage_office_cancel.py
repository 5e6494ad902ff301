"""What a couple sees of their appointment (its office, its times, until when they
can cancel), and the office cancelling one appointment with a reason."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from schemas.capacity import CapacitySlot
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import org_with_staff

APPT = "/v1/marriage/appointments"


async def _booked(client, admin_headers, settings, day="2026-12-08", start="09:00",
                  parties=None, **booking):
    office, staff = await office_with_schedule(client, admin_headers, **booking)
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], day, start), parties, headers=me)
    assert r.status_code == 201, r.text
    return office, staff, me, r.json()


async def _remaining(client, office_id, day="2026-12-08", start="09:00") -> int:
    r = await client.get(f"/v1/marriage/offices/{office_id}/slots",
                         params={"from": day, "to": day})
    return next(i for i in r.json()["items"] if i["start"] == start)["remaining"]


# --- what the appointment shows ------------------------------------------------------


async def test_an_appointment_shows_its_office_times_and_cancel_deadline(client, admin_headers,
                                                                        settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings, start="13:30",
                                            cancel_deadline_hours=48)
    expected = {
        "office": {"id": office["id"], "name": office["name"], "address": office["address"],
                   "phone": office["phone"]},
        "starts_at": "2026-12-08T13:30:00+08:00", "ends_at": "2026-12-08T17:00:00+08:00",
        "cancel_deadline_at": "2026-12-06T13:30:00+08:00"}
    assert {k: appt[k] for k in expected} == expected
    # The same on every read: the couple's, the list, and the office's.
    for headers in (me, staff):
        one = (await client.get(f"{APPT}/{appt['id']}", headers=headers)).json()
        assert {k: one[k] for k in expected} == expected
        listed = (await client.get(APPT, headers=headers)).json()["items"]
        assert [{k: a[k] for k in expected} for a in listed] == [expected]
    # The slot said so before anyone booked it.
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2026-12-08", "to": "2026-12-08"})
    slots = {i["start"]: i for i in r.json()["items"]}
    assert slots["13:30"]["cancel_deadline_at"] == "2026-12-06T13:30:00+08:00"
    assert slots["09:00"]["cancel_deadline_at"] == "2026-12-06T09:00:00+08:00"


async def test_the_cancel_deadline_shown_is_the_one_enforced(client, admin_headers, settings):
    set_china_time("2026-12-01")
    _office, _staff, me, appt = await _booked(client, admin_headers, settings,
                                              cancel_deadline_hours=48)
    assert appt["cancel_deadline_at"] == "2026-12-06T09:00:00+08:00"
    set_china_time("2026-12-06", "09:01")
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 422 and r.json()["code"] == "cancel_deadline_passed"
    set_china_time("2026-12-06", "09:00")
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 200
    assert r.json()["cancelled_by"] == "citizen" and r.json()["cancel_reason"] == "citizen"


async def test_the_deadline_follows_the_offices_setting(client, admin_headers, settings):
    """What cancelling enforces is the office's setting as it stands, so an
    appointment always shows that (an office that changes it changes it for all)."""
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    url = f"/v1/marriage/offices/{office['id']}/weekly-schedule"
    current = await client.get(url, headers=staff)
    r = await client.put(url, headers={**staff, "If-Match": current.headers["ETag"]},
                         json={"sessions": current.json()["sessions"],
                               "cancel_deadline_hours": 12})
    assert r.status_code == 200, r.text
    one = (await client.get(f"{APPT}/{appt['id']}", headers=me)).json()
    assert one["cancel_deadline_at"] == "2026-12-07T21:00:00+08:00"
    set_china_time("2026-12-07", "21:00")
    assert (await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)).status_code == 200


# --- the office cancels one appointment ---------------------------------------------


async def test_the_office_cancels_one_appointment_and_the_couple_sees_why(client, admin_headers,
                                                                        settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    assert await _remaining(client, office["id"]) == 4
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff,
                          json={"reason": "登记员因病缺勤"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["cancelled_by"] == "office"
    assert body["cancel_reason"] == "登记员因病缺勤" and body["cancelled_at"]
    assert "check_in_code" not in body  # the office's view
    # The couple sees who cancelled and why.
    mine = (await client.get(f"{APPT}/{appt['id']}", headers=me)).json()
    assert (mine["status"], mine["cancelled_by"], mine["cancel_reason"]) == (
        "cancelled", "office", "登记员因病缺勤")
    # The seat came back, once: neither a second cancellation nor the couple's counts.
    assert await _remaining(client, office["id"]) == 5
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff, json={"reason": "again"})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert await _remaining(client, office["id"]) == 5
    # Audited as the office's own action.
    events = (await client.get("/v1/admin/audit-events", headers=admin_headers,
                               params={"object_id": appt["id"], "limit": 100})).json()["items"]
    mine = [e for e in events if e["action"] == "marriage_appointment.office_cancel"]
    assert len(mine) == 1 and mine[0]["org_id"] == office["id"]


async def test_the_couple_may_book_again_after_the_office_cancelled(client, admin_headers,
                                                                   settings):
    set_china_time("2026-12-01")
    parties = couple()
    office, staff, me, appt = await _booked(client, admin_headers, settings, parties=parties)
    r = await book(client, settings, slot_id(office["id"], "2026-12-09"), parties, headers=me)
    assert r.status_code == 409 and r.json()["code"] == "party_has_active_appointment"
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff,
                          json={"reason": "窗口临时关闭"})
    assert r.status_code == 200
    r = await book(client, settings, slot_id(office["id"], "2026-12-09"), parties, headers=me)
    assert r.status_code == 201, r.text


async def test_an_office_cancellation_needs_a_reason(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, _me, appt = await _booked(client, admin_headers, settings)
    for body in (None, {}, {"reason": None}):
        r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff, json=body)
        assert r.status_code == 422 and r.json()["code"] == "cancel_reason_required", r.text
    for body in ({"reason": "   "}, {"reason": ""}, {"reason": "x" * 201},
                 {"reason": "ok", "other": 1}):
        r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff, json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", body
    # Nothing was half-written.
    one = (await client.get(f"{APPT}/{appt['id']}", headers=staff)).json()
    assert one["status"] == "booked" and one["cancel_reason"] is None
    assert await _remaining(client, office["id"]) == 4


async def test_a_citizen_gives_no_reason(client, admin_headers, settings):
    set_china_time("2026-12-01")
    _office, _staff, me, appt = await _booked(client, admin_headers, settings)
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me, json={"reason": "有事"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert r.json()["errors"][0]["loc"] == ["body", "reason"]
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me, json={})
    assert r.status_code == 200 and r.json()["cancelled_by"] == "citizen"


async def test_another_office_cannot_cancel_it(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _staff, me, appt = await _booked(client, admin_headers, settings)
    _other, other_staff = await org_with_staff(client, admin_headers, "registration_office")
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=other_staff,
                          json={"reason": "不是我的"})
    assert r.status_code == 404
    assert (await client.get(f"{APPT}/{appt['id']}", headers=me)).json()["status"] == "booked"
    assert await _remaining(client, office["id"]) == 4


async def test_the_office_cancels_until_the_session_ends(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, me, late = await _booked(client, admin_headers, settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=me)
    checked = r.json()
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=me)
    ended = r.json()
    # Past the couple's deadline the office may still cancel, a checked-in couple too.
    set_china_time("2026-12-08", "09:30")
    r = await client.post(f"{APPT}/{checked['id']}/check-in", headers=staff,
                          json={"check_in_code": checked["check_in_code"]})
    assert r.status_code == 200
    for appt in (late, checked):
        r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff,
                              json={"reason": "系统故障"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    # Once the session has ended it is too late: a no-show, not a cancellation.
    set_china_time("2026-12-08", "12:00")
    r = await client.post(f"{APPT}/{ended['id']}/cancel", headers=staff,
                          json={"reason": "系统故障"})
    assert r.status_code == 422 and r.json()["code"] == "session_ended"
    assert (await client.get(f"{APPT}/{ended['id']}", headers=me)).json()["status"] == "booked"


async def test_the_couple_and_the_office_cancelling_at_once_free_one_seat(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    me = citizen(settings)
    for _ in range(3):
        ids = []
        for _ in range(2):
            r = await book(client, settings, slot, headers=me)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        async with db.session() as s:
            before = (await s.execute(select(CapacitySlot.booked)
                                      .where(CapacitySlot.id == slot))).scalar_one()
        results = await asyncio.gather(
            client.post(f"{APPT}/{ids[0]}/cancel", headers=me),
            client.post(f"{APPT}/{ids[0]}/cancel", headers=staff, json={"reason": "停电"}),
            client.post(f"{APPT}/{ids[0]}/cancel", headers=staff, json={"reason": "停电"}))
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409, 409], [r.text for r in results]
        async with db.session() as s:
            after = (await s.execute(select(CapacitySlot.booked)
                                     .where(CapacitySlot.id == slot))).scalar_one()
        assert after == before - 1
