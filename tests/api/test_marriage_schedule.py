"""An office's calendar: weekly schedule (If-Match), closures, special days,
China's official calendar, slots, and changes that would drop bookings."""

from __future__ import annotations

import asyncio

from tests.api.test_marriage_support import (
    WEEKDAY_SESSIONS,
    book,
    citizen,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import org_with_staff


def _url(office_id: str, what: str = "weekly-schedule") -> str:
    return f"/v1/marriage/offices/{office_id}/{what}"


async def _slots(client, office_id, first, last=None):
    r = await client.get(_url(office_id, "slots"), params={"from": first, "to": last or first})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_weekly_schedule_put_and_get_with_etag(client, admin_headers, settings):
    office, staff = await org_with_staff(client, admin_headers, "registration_office")
    url = _url(office["id"])
    assert (await client.get(url, headers=staff)).status_code == 404
    body = {"sessions": WEEKDAY_SESSIONS}
    r = await client.put(url, json=body, headers=staff)
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["booking_opens_days_ahead"] == 30  # defaults from settings
    assert created["min_notice_hours"] == 2 and created["cancel_deadline_hours"] == 24
    assert len(created["sessions"]) == 10
    etag = r.headers["etag"]
    r = await client.get(url, headers=staff)
    assert r.status_code == 200 and r.headers["etag"] == etag
    assert r.json()["sessions"] == created["sessions"]
    # Once it exists, changes need If-Match, and a current one.
    body2 = {"sessions": WEEKDAY_SESSIONS[:2], "booking_opens_days_ahead": 14}
    r = await client.put(url, json=body2, headers=staff)
    assert r.status_code == 428 and r.json()["code"] == "precondition_required"
    r = await client.put(url, json=body2, headers={**staff, "If-Match": '"stale.1"'})
    assert r.status_code == 412 and r.json()["code"] == "precondition_failed"
    r = await client.put(url, json=body2, headers={**staff, "If-Match": etag})
    assert r.status_code == 200
    assert r.headers["etag"] != etag
    assert r.json()["booking_opens_days_ahead"] == 14 and len(r.json()["sessions"]) == 2
    # The old ETag is now stale.
    r = await client.put(url, json=body, headers={**staff, "If-Match": etag})
    assert r.status_code == 412


async def test_schedule_is_the_offices_own(client, admin_headers, settings):
    office, staff = await office_with_schedule(client, admin_headers)
    _other, other_staff = await org_with_staff(client, admin_headers, "registration_office")
    r = await client.get(_url(office["id"]), headers=other_staff)
    assert r.status_code == 404
    r = await client.put(_url(office["id"]), json={"sessions": []}, headers=other_staff)
    assert r.status_code == 404
    r = await client.get(_url(office["id"]), headers=citizen(settings))
    assert r.status_code == 403
    _inst, inst_staff = await org_with_staff(client, admin_headers, "care_institution")
    r = await client.get(_url(office["id"]), headers=inst_staff)
    assert r.status_code == 403


async def test_invalid_sessions_are_refused(client, admin_headers):
    office, staff = await org_with_staff(client, admin_headers, "registration_office")
    for sessions, code in (
        ([{"weekday": 8, "start": "09:00", "end": "12:00", "capacity": 5}], "validation_error"),
        ([{"weekday": 1, "start": "12:00", "end": "09:00", "capacity": 5}], "validation_error"),
        ([{"weekday": 1, "start": "9:00", "end": "12:00", "capacity": 5}], "validation_error"),
        # Digits of another script (Arabic-Indic ٩) are digits to `\d`, not to a clock.
        ([{"weekday": 1, "start": "0٩:00", "end": "12:00", "capacity": 5}], "validation_error"),
        ([{"weekday": 1, "start": "09:00", "end": "12:00", "capacity": 0}], "validation_error"),
        ([{"weekday": 1, "start": "09:00", "end": "12:00", "capacity": 5},
          {"weekday": 1, "start": "11:00", "end": "13:00", "capacity": 5}], "invalid_sessions"),
    ):
        r = await client.put(_url(office["id"]), json={"sessions": sessions}, headers=staff)
        assert r.status_code == 422, sessions
        assert r.json()["code"] == code, sessions


async def test_slots_follow_the_weekly_schedule(client, admin_headers, settings):
    set_china_time("2026-12-01", "10:00")  # a Tuesday
    office, _ = await office_with_schedule(client, admin_headers, booking_opens_days_ahead=7)
    items = await _slots(client, office["id"], "2026-12-01", "2026-12-14")
    # Weekdays only, two sessions a day: 10 weekdays in these two weeks.
    assert len(items) == 20
    assert {i["date"] for i in items} >= {"2026-12-01", "2026-12-14"}
    assert not any(i["date"] in ("2026-12-05", "2026-12-06") for i in items)
    by_id = {i["slot_id"]: i for i in items}
    today_morning = by_id[slot_id(office["id"], "2026-12-01", "09:00")]
    assert today_morning == {"slot_id": today_morning["slot_id"], "date": "2026-12-01",
                             "start": "09:00", "end": "12:00", "capacity": 5, "remaining": 5,
                             "bookable": False,  # started already
                             # Cancellable until 24 hours before it starts.
                             "cancel_deadline_at": "2026-11-30T09:00:00+08:00",
                             "calendar_source": "library"}
    assert by_id[slot_id(office["id"], "2026-12-01", "13:30")]["bookable"] is True
    assert by_id[slot_id(office["id"], "2026-12-08")]["bookable"] is True  # day 7
    assert by_id[slot_id(office["id"], "2026-12-09")]["bookable"] is False  # not released


async def test_slots_range_is_limited_to_62_days(client, admin_headers):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    r = await client.get(_url(office["id"], "slots"),
                         params={"from": "2026-12-01", "to": "2027-01-31"})
    assert r.status_code == 200  # exactly 62 days
    r = await client.get(_url(office["id"], "slots"),
                         params={"from": "2026-12-01", "to": "2027-02-01"})
    assert r.status_code == 422 and r.json()["code"] == "date_range_too_long"
    r = await client.get(_url(office["id"], "slots"),
                         params={"from": "2026-12-10", "to": "2026-12-01"})
    assert r.status_code == 422
    r = await client.get(_url("org_unknown", "slots"))
    assert r.status_code == 404
    # Default window: from today.
    r = await client.get(_url(office["id"], "slots"))
    assert r.status_code == 200 and r.json()["items"][0]["date"] == "2026-12-01"


async def test_slots_show_remaining_and_full_sessions_are_not_bookable(client, admin_headers,
                                                                       settings):
    set_china_time("2026-12-01")
    sessions = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 2}]
    office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
    slot = slot_id(office["id"], "2026-12-08")
    assert (await book(client, settings, slot)).status_code == 201
    [item] = await _slots(client, office["id"], "2026-12-08")
    assert item["remaining"] == 1 and item["bookable"] is True
    assert (await book(client, settings, slot)).status_code == 201
    [item] = await _slots(client, office["id"], "2026-12-08")
    assert item["remaining"] == 0 and item["bookable"] is False
    r = await book(client, settings, slot)
    assert r.status_code == 409 and r.json()["code"] == "slot_full"


async def test_statutory_holidays_close_and_adjusted_working_days_open(client, admin_headers):
    # National Day 2026: 1-7 October off; Sunday 20 September and Saturday
    # 10 October are worked instead (调休).
    set_china_time("2026-09-15")
    office, _ = await office_with_schedule(client, admin_headers)
    items = await _slots(client, office["id"], "2026-09-19", "2026-10-11")
    dates = {i["date"] for i in items}
    assert "2026-09-20" in dates  # a Sunday worked: Monday's sessions
    assert {i["start"] for i in items if i["date"] == "2026-09-20"} == {"09:00", "13:30"}
    assert "2026-09-19" not in dates  # an ordinary Saturday
    for day in range(1, 8):
        assert f"2026-10-0{day}" not in dates  # the holiday, weekdays included
    assert "2026-10-08" in dates and "2026-10-09" in dates
    assert "2026-10-10" in dates  # a Saturday worked
    assert "2026-10-11" not in dates


async def test_closures_close_a_day_and_special_days_open_one(client, admin_headers):
    set_china_time("2026-09-15")
    office, staff = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    r = await client.post(_url(oid, "closures"), json={"date": "2026-09-22", "reason": "培训"},
                          headers=staff)
    assert r.status_code == 201, r.text
    assert r.json()["date"] == "2026-09-22" and r.json()["reason"] == "培训"
    assert await _slots(client, oid, "2026-09-22") == []
    # Closing again updates the reason.
    r = await client.post(_url(oid, "closures"), json={"date": "2026-09-22", "reason": "停电"},
                          headers=staff)
    assert r.status_code == 200 and r.json()["reason"] == "停电"
    # A special day opens a holiday (and a Saturday) with its own sessions.
    special = {"date": "2026-10-02",
               "sessions": [{"start": "08:30", "end": "12:00", "capacity": 60}]}
    r = await client.post(_url(oid, "special-days"), json=special, headers=staff)
    assert r.status_code == 201, r.text
    items = await _slots(client, oid, "2026-10-02")
    assert [(i["start"], i["end"], i["capacity"]) for i in items] == [("08:30", "12:00", 60)]
    r = await client.post(_url(oid, "special-days"), headers=staff, json={
        "date": "2026-09-26", "sessions": [{"start": "09:00", "end": "11:00", "capacity": 9}]})
    assert r.status_code == 201
    assert [i["capacity"] for i in await _slots(client, oid, "2026-09-26")] == [9]
    # A closure wins over a special day on the same date.
    r = await client.post(_url(oid, "closures"), json={"date": "2026-09-26", "reason": "x"},
                          headers=staff)
    assert r.status_code == 201
    assert await _slots(client, oid, "2026-09-26") == []
    # Lists, and reopening.
    r = await client.get(_url(oid, "closures"), headers=staff)
    assert [c["date"] for c in r.json()["items"]] == ["2026-09-22", "2026-09-26"]
    # Every list is a page: one closure a page, then the next by its cursor.
    r = await client.get(_url(oid, "closures"), headers=staff, params={"limit": 1})
    assert [c["date"] for c in r.json()["items"]] == ["2026-09-22"]
    r = await client.get(_url(oid, "closures"), headers=staff,
                         params={"limit": 1, "cursor": r.json()["next_cursor"]})
    assert [c["date"] for c in r.json()["items"]] == ["2026-09-26"]
    assert r.json()["next_cursor"] is None
    r = await client.get(_url(oid, "special-days"), headers=staff)
    assert [c["date"] for c in r.json()["items"]] == ["2026-09-26", "2026-10-02"]
    assert r.json()["next_cursor"] is None
    assert (await client.delete(_url(oid, "closures/2026-09-22"), headers=staff)
            ).status_code == 204
    assert len(await _slots(client, oid, "2026-09-22")) == 2
    assert (await client.delete(_url(oid, "special-days/2026-10-02"), headers=staff)
            ).status_code == 204
    assert await _slots(client, oid, "2026-10-02") == []
    assert (await client.delete(_url(oid, "closures/2026-09-23"), headers=staff)
            ).status_code == 404


async def test_closures_need_a_weekly_schedule_first(client, admin_headers):
    office, staff = await org_with_staff(client, admin_headers, "registration_office")
    r = await client.post(_url(office["id"], "closures"),
                          json={"date": "2026-12-24", "reason": "x"}, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "schedule_not_set"


async def _book_n(client, settings, slot, n, headers):
    ids = []
    for _ in range(n):
        r = await book(client, settings, slot, headers=headers)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def test_lowering_capacity_below_bookings_is_refused_unless_cancelling(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    owner = citizen(settings)
    slot = slot_id(oid, "2026-12-08")
    booked = await _book_n(client, settings, slot, 4, owner)
    url = _url(oid)
    etag = (await client.get(url, headers=staff)).headers["etag"]
    smaller = [dict(s, capacity=2) if s["weekday"] == 2 and s["start"] == "09:00" else s
               for s in WEEKDAY_SESSIONS]
    r = await client.put(url, json={"sessions": smaller}, headers={**staff, "If-Match": etag})
    assert r.status_code == 409
    assert r.json()["code"] == "capacity_below_booked"
    assert r.json()["affected_appointments"] == 2
    # Nothing changed.
    assert (await client.get(url, headers=staff)).headers["etag"] == etag
    assert (await _slots(client, oid, "2026-12-08"))[0]["remaining"] == 1
    # With cancel_affected, the two most recent bookings are cancelled.
    r = await client.put(url, json={"sessions": smaller, "cancel_affected": True},
                         headers={**staff, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["cancelled_appointments"] == 2
    statuses = {}
    for appt_id in booked:
        a = (await client.get(f"/v1/marriage/appointments/{appt_id}", headers=owner)).json()
        statuses[appt_id] = (a["status"], a["cancel_reason"])
    assert [statuses[i] for i in booked] == [("booked", None), ("booked", None),
                                             ("cancelled", "office_closed"),
                                             ("cancelled", "office_closed")]
    [item] = [i for i in await _slots(client, oid, "2026-12-08") if i["start"] == "09:00"]
    assert item["capacity"] == 2 and item["remaining"] == 0


async def test_raising_capacity_frees_seats_at_once(client, admin_headers, settings):
    set_china_time("2026-12-01")
    sessions = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}]
    office, staff = await office_with_schedule(client, admin_headers, sessions=sessions)
    slot = slot_id(office["id"], "2026-12-08")
    assert (await book(client, settings, slot)).status_code == 201
    assert (await book(client, settings, slot)).status_code == 409
    etag = (await client.get(_url(office["id"]), headers=staff)).headers["etag"]
    r = await client.put(_url(office["id"]), headers={**staff, "If-Match": etag},
                         json={"sessions": [dict(sessions[0], capacity=3)]})
    assert r.status_code == 200 and r.json()["cancelled_appointments"] == 0
    assert (await book(client, settings, slot)).status_code == 201
    [item] = await _slots(client, office["id"], "2026-12-08")
    assert item["capacity"] == 3 and item["remaining"] == 1


async def test_closing_a_booked_day_is_refused_unless_cancelling(client, admin_headers,
                                                                 settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    owner = citizen(settings)
    morning = await _book_n(client, settings, slot_id(oid, "2026-12-08"), 2, owner)
    afternoon = await _book_n(client, settings, slot_id(oid, "2026-12-08", "13:30"), 1, owner)
    other_day = await _book_n(client, settings, slot_id(oid, "2026-12-09"), 1, owner)
    r = await client.post(_url(oid, "closures"), json={"date": "2026-12-08", "reason": "停电"},
                          headers=staff)
    assert r.status_code == 409 and r.json()["affected_appointments"] == 3
    assert len(await _slots(client, oid, "2026-12-08")) == 2
    r = await client.post(_url(oid, "closures"), headers=staff, json={
        "date": "2026-12-08", "reason": "停电", "cancel_affected": True})
    assert r.status_code == 201 and r.json()["cancelled_appointments"] == 3
    r = await client.get("/v1/marriage/appointments", headers=owner)
    by_id = {a["id"]: a for a in r.json()["items"]}
    for appt_id in morning + afternoon:
        assert by_id[appt_id]["status"] == "cancelled"
        assert by_id[appt_id]["cancel_reason"] == "office_closed"
    assert by_id[other_day[0]]["status"] == "booked"


async def test_dropping_a_weekday_with_bookings_is_refused(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    await _book_n(client, settings, slot_id(office["id"], "2026-12-09", "13:30"), 1,
                  citizen(settings))
    etag = (await client.get(_url(office["id"]), headers=staff)).headers["etag"]
    no_wednesday = [s for s in WEEKDAY_SESSIONS if s["weekday"] != 3]
    r = await client.put(_url(office["id"]), json={"sessions": no_wednesday},
                         headers={**staff, "If-Match": etag})
    assert r.status_code == 409 and r.json()["affected_appointments"] == 1
    # Moving the afternoon session's start drops it too.
    moved = [dict(s, start="14:00") if s["weekday"] == 3 and s["start"] == "13:30" else s
             for s in WEEKDAY_SESSIONS]
    r = await client.put(_url(office["id"]), json={"sessions": moved},
                         headers={**staff, "If-Match": etag})
    assert r.status_code == 409 and r.json()["affected_appointments"] == 1
    # A special day replacing that date's sessions is checked the same way.
    r = await client.post(_url(office["id"], "special-days"), headers=staff, json={
        "date": "2026-12-09", "sessions": [{"start": "09:00", "end": "12:00", "capacity": 5}]})
    assert r.status_code == 409 and r.json()["affected_appointments"] == 1


async def test_offices_are_listed_publicly_by_division(client, admin_headers):
    a, _ = await org_with_staff(client, admin_headers, "registration_office")
    b, _ = await org_with_staff(client, admin_headers, "registration_office",
                                name="黄浦区婚姻登记中心", division_code="310101")
    await org_with_staff(client, admin_headers, "care_institution")
    r = await client.get("/v1/marriage/offices")
    assert r.status_code == 200
    assert {o["id"] for o in r.json()["items"]} == {a["id"], b["id"]}
    r = await client.get("/v1/marriage/offices", params={"division_code": "31"})
    [only] = r.json()["items"]
    assert only["id"] == b["id"] and only["address"] and only["division_code"] == "310101"
    r = await client.get("/v1/marriage/offices", params={"limit": 1})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r2 = await client.get("/v1/marriage/offices",
                          params={"limit": 1, "cursor": r.json()["next_cursor"]})
    assert r2.json()["items"][0]["id"] != r.json()["items"][0]["id"]


async def test_holidays_cannot_be_booked_unless_opened(client, admin_headers, settings):
    set_china_time("2026-09-15")
    office, staff = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-10-01")
    r = await book(client, settings, slot)
    assert r.status_code == 404
    r = await client.post(_url(office["id"], "special-days"), headers=staff, json={
        "date": "2026-10-01", "sessions": [{"start": "09:00", "end": "12:00", "capacity": 9}]})
    assert r.status_code == 201
    r = await book(client, settings, slot)
    assert r.status_code == 201, r.text
    # An adjusted working Sunday is bookable like a weekday.
    r = await book(client, settings, slot_id(office["id"], "2026-09-20", "13:30"))
    assert r.status_code == 201, r.text


async def test_two_editors_with_the_same_etag_one_wins(client, admin_headers):
    office, staff = await office_with_schedule(client, admin_headers)
    etag = (await client.get(_url(office["id"]), headers=staff)).headers["etag"]
    bodies = [{"sessions": WEEKDAY_SESSIONS[:n]} for n in (2, 4)]
    results = await asyncio.gather(*(
        client.put(_url(office["id"]), json=b, headers={**staff, "If-Match": etag})
        for b in bodies))
    assert sorted(r.status_code for r in results) == [200, 412]
    final = (await client.get(_url(office["id"]), headers=staff)).json()
    winner = next(r for r in results if r.status_code == 200).json()
    assert final["sessions"] == winner["sessions"] and final["version"] == 2


async def test_the_organisations_etag_does_not_pass_the_schedules_if_match(client,
                                                                           admin_headers):
    office, staff = await office_with_schedule(client, admin_headers)
    r = await client.get(f"/v1/admin/organisations/{office['id']}", headers=admin_headers)
    assert r.status_code == 200
    org_etag = r.headers["etag"]
    r = await client.get(_url(office["id"]), headers=staff)
    schedule_etag = r.headers["etag"]
    assert r.json()["version"] == 1  # the organisation's version is 1 too
    body = {"sessions": WEEKDAY_SESSIONS[:2]}
    r = await client.put(_url(office["id"]), json=body, headers={**staff, "If-Match": org_etag})
    assert r.status_code == 412 and r.json()["code"] == "precondition_failed"
    assert schedule_etag != org_etag
    assert (await client.get(_url(office["id"]), headers=staff)).json()["version"] == 1
    r = await client.put(_url(office["id"]), json=body,
                         headers={**staff, "If-Match": schedule_etag})
    assert r.status_code == 200 and r.json()["version"] == 2
    # Nor does the schedule's ETag pass the organisation's.
    new_schedule_etag = r.headers["etag"]
    r = await client.patch(f"/v1/admin/organisations/{office['id']}",
                           json={"phone": "010-65090001"},
                           headers={**admin_headers, "If-Match": schedule_etag})
    assert r.status_code == 412
    assert new_schedule_etag != schedule_etag


async def test_concurrent_first_schedules_one_creates_the_others_need_if_match(
        client, admin_headers):
    for _ in range(3):
        office, staff = await org_with_staff(client, admin_headers, "registration_office")
        bodies = [{"sessions": WEEKDAY_SESSIONS[:n]} for n in (1, 2, 3, 4)]
        results = await asyncio.gather(*(client.put(_url(office["id"]), json=b, headers=staff)
                                         for b in bodies))
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 428, 428, 428], [r.text for r in results]
        assert {r.json()["code"] for r in results if r.status_code == 428} == {
            "precondition_required"}
        winner = next(r for r in results if r.status_code == 200)
        r = await client.get(_url(office["id"]), headers=staff)
        assert r.json()["version"] == 1 and r.json()["sessions"] == winner.json()["sessions"]
        assert r.headers["etag"] == winner.headers["etag"]
