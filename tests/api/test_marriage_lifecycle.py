"""After booking: cancel, check-in, complete, no-show and its suspension, the
calendar entry, the QR code, lists, and who may see what."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar

from core.clock import clock
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import org_with_staff, staff_headers

APPT = "/v1/marriage/appointments"


async def _booked(client, admin_headers, settings, day="2026-12-08", start="09:00",
                  parties=None):
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], day, start), parties, headers=me)
    assert r.status_code == 201, r.text
    return office, staff, me, r.json()


async def test_cancel_until_the_deadline(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _, me, appt = await _booked(client, admin_headers, settings)
    # The session starts 2026-12-08 09:00; the deadline is 24 hours before.
    set_china_time("2026-12-07", "09:01")
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 422 and r.json()["code"] == "cancel_deadline_passed"
    set_china_time("2026-12-07", "09:00")
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # The seat is back in the pool at once.
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2026-12-08", "to": "2026-12-08"})
    assert r.json()["items"][0]["remaining"] == 5
    # Twice is a state conflict.
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_other_peoples_appointments_are_404(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    stranger = citizen(settings)
    _other_office, other_staff = await org_with_staff(client, admin_headers,
                                                      "registration_office")
    for headers in (stranger, other_staff):
        r = await client.get(f"{APPT}/{appt['id']}", headers=headers)
        assert r.status_code == 404
    assert (await client.post(f"{APPT}/{appt['id']}/cancel", headers=stranger)
            ).status_code == 404
    assert (await client.get(f"{APPT}/{appt['id']}/calendar.ics", headers=stranger)
            ).status_code == 404
    assert (await client.get(f"{APPT}/{appt['id']}/check-in-qr.svg", headers=stranger)
            ).status_code == 404
    set_china_time("2026-12-08", "09:10")
    r = await client.post(f"{APPT}/{appt['id']}/check-in", headers=other_staff,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 404
    assert (await client.get(f"{APPT}?limit=100", headers=stranger)).json()["items"] == []
    # The owner and the office itself do see it; staff never see the check-in code.
    mine = (await client.get(f"{APPT}/{appt['id']}", headers=me)).json()
    assert mine["check_in_code"] == appt["check_in_code"]
    theirs = await client.get(f"{APPT}/{appt['id']}", headers=staff)
    assert theirs.status_code == 200 and "check_in_code" not in theirs.json()
    # Staff may not act as citizens and the reverse (the office cancels only with a
    # reason, its own kind of cancellation: see test_marriage_office_cancel.py).
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=staff)
    assert r.status_code == 422 and r.json()["code"] == "cancel_reason_required"
    r = await client.post(f"{APPT}/{appt['id']}/check-in", headers=me,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 403


async def test_staff_reads_are_audited(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, _me, appt = await _booked(client, admin_headers, settings)
    assert (await client.get(f"{APPT}/{appt['id']}", headers=staff)).status_code == 200
    r = await client.get("/v1/admin/audit-events", headers=admin_headers,
                         params={"object_id": appt["id"], "limit": 100})
    actions = [e["action"] for e in r.json()["items"]]
    assert "marriage_appointment.create" in actions
    assert "marriage_appointment.read" in actions


async def test_check_in_complete(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    url = f"{APPT}/{appt['id']}"
    # Not on another day.
    r = await client.post(f"{url}/check-in", headers=staff,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 422 and r.json()["code"] == "check_in_not_today"
    set_china_time("2026-12-08", "08:50")
    # Completing needs a check-in first.
    r = await client.post(f"{url}/complete", headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    wrong = "00000000" if appt["check_in_code"] != "00000000" else "11111111"
    r = await client.post(f"{url}/check-in", headers=staff, json={"check_in_code": wrong})
    assert r.status_code == 422 and r.json()["code"] == "invalid_check_in_code"
    r = await client.post(f"{url}/check-in", headers=staff,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "checked_in" and r.json()["checked_in_at"]
    # Cancelling after check-in is a state conflict.
    r = await client.post(f"{url}/cancel", headers=me)
    assert r.status_code == 409
    r = await client.post(f"{url}/complete", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert r.json()["divorce_case_id"] is None
    r = await client.post(f"{url}/no-show", headers=staff)
    assert r.status_code == 409


async def test_a_checked_in_person_may_book_again(client, admin_headers, settings):
    set_china_time("2026-12-01")
    parties = couple()
    office, staff, me, appt = await _booked(client, admin_headers, settings, parties=parties)
    set_china_time("2026-12-08", "08:50")
    r = await client.post(f"{APPT}/{appt['id']}/check-in", headers=staff,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 200
    r = await book(client, settings, slot_id(office["id"], "2026-12-15"), parties, kind="reissue")
    assert r.status_code == 201


async def test_no_show_only_after_the_session_ended(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, _me, appt = await _booked(client, admin_headers, settings)
    url = f"{APPT}/{appt['id']}/no-show"
    set_china_time("2026-12-08", "11:59")
    r = await client.post(url, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "session_not_ended"
    set_china_time("2026-12-08", "12:00")
    r = await client.post(url, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "no_show"
    assert r.json()["no_show_at"]


async def _miss(client, settings, office, staff, parties, day):
    r = await book(client, settings, slot_id(office["id"], day), parties)
    assert r.status_code == 201, r.text
    set_china_time(day, "12:30")
    r = await client.post(f"{APPT}/{r.json()['id']}/no-show", headers=staff)
    assert r.status_code == 200


async def test_two_no_shows_in_180_days_suspend_booking_for_30_days(client, admin_headers,
                                                                    settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    groom, bride = person("male"), person("female")
    await _miss(client, settings, office, staff, [groom, bride], "2026-12-08")
    # One no-show: still free to book (with someone else, too).
    set_china_time("2026-12-09")
    await _miss(client, settings, office, staff, [groom, person("female")], "2026-12-15")
    # The second no-show (2026-12-15 12:30): 30 days without booking, for him only.
    set_china_time("2026-12-16")
    r = await book(client, settings, slot_id(office["id"], "2026-12-22"), [groom, bride])
    assert r.status_code == 422 and r.json()["code"] == "booking_suspended"
    until = r.json()["suspended_until"]  # China time, as every datetime a person reads
    assert until.startswith("2027-01-14T12:30") and until.endswith("+08:00"), until
    r = await book(client, settings, slot_id(office["id"], "2026-12-22"),
                   [person("male"), bride])
    assert r.status_code == 201
    set_china_time("2027-01-14", "12:29")
    r = await book(client, settings, slot_id(office["id"], "2027-01-20"),
                   [groom, person("female")])
    assert r.status_code == 422 and r.json()["code"] == "booking_suspended"
    set_china_time("2027-01-14", "12:31")
    r = await book(client, settings, slot_id(office["id"], "2027-01-20"),
                   [groom, person("female")])
    assert r.status_code == 201, r.text


async def test_no_shows_further_apart_than_180_days_do_not_suspend(client, admin_headers,
                                                                   settings):
    set_china_time("2026-06-01")
    office, staff = await office_with_schedule(client, admin_headers)
    groom = person("male")
    await _miss(client, settings, office, staff, [groom, person("female")], "2026-06-09")
    set_china_time("2026-12-01")
    await _miss(client, settings, office, staff, [groom, person("female")], "2026-12-08")
    set_china_time("2026-12-09")
    r = await book(client, settings, slot_id(office["id"], "2026-12-15"),
                   [groom, person("female")])
    assert r.status_code == 201, r.text


async def test_calendar_entry(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _, me, appt = await _booked(client, admin_headers, settings, start="13:30")
    r = await client.get(f"{APPT}/{appt['id']}/calendar.ics", headers=me)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    [event] = cal.walk("VEVENT")
    start = event.decoded("dtstart")
    assert str(start.tzinfo) == "Asia/Shanghai"
    assert start.replace(tzinfo=None) == dt.datetime(2026, 12, 8, 13, 30)
    assert event.decoded("dtend").replace(tzinfo=None) == dt.datetime(2026, 12, 8, 17, 0)
    assert office["name"] in str(event["location"]) and office["address"] in str(
        event["location"])
    assert "结婚登记" in str(event["summary"])
    assert cal.walk("VTIMEZONE"), "the time zone travels with the event"
    assert b"TZID=Asia/Shanghai" in r.content


async def test_check_in_qr_code(client, admin_headers, settings):
    set_china_time("2026-12-01")
    _office, _, me, appt = await _booked(client, admin_headers, settings)
    r = await client.get(f"{APPT}/{appt['id']}/check-in-qr.svg", headers=me)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<svg") and "</svg>" in r.text
    assert appt["check_in_code"] not in r.text  # encoded as modules, not text
    r = await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)
    r = await client.get(f"{APPT}/{appt['id']}/check-in-qr.svg", headers=me)
    assert r.status_code == 409


async def test_citizen_lists_own_appointments_with_cursor(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    ids = []
    for day in ("2026-12-08", "2026-12-09", "2026-12-10"):
        r = await book(client, settings, slot_id(office["id"], day), headers=me)
        ids.append(r.json()["id"])
    await book(client, settings, slot_id(office["id"], "2026-12-08"))  # someone else's
    r = await client.get(APPT, headers=me, params={"limit": 2})
    page1 = r.json()
    assert [a["id"] for a in page1["items"]] == [ids[2], ids[1]]
    assert all(a["check_in_code"] for a in page1["items"])
    r = await client.get(APPT, headers=me, params={"limit": 2, "cursor": page1["next_cursor"]})
    assert [a["id"] for a in r.json()["items"]] == [ids[0]]
    assert r.json()["next_cursor"] is None
    await client.post(f"{APPT}/{ids[0]}/cancel", headers=me)
    r = await client.get(APPT, headers=me, params={"status": "cancelled"})
    assert [a["id"] for a in r.json()["items"]] == [ids[0]]
    r = await client.get(APPT, headers=me, params={"cursor": "a"})
    assert r.status_code == 400


async def test_office_lists_its_day_by_session_time(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    other, _ = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    afternoon = (await book(client, settings, slot_id(oid, "2026-12-08", "13:30"))).json()["id"]
    morning1 = (await book(client, settings, slot_id(oid, "2026-12-08"))).json()["id"]
    morning2 = (await book(client, settings, slot_id(oid, "2026-12-08"))).json()["id"]
    await book(client, settings, slot_id(oid, "2026-12-09"))
    await book(client, settings, slot_id(other["id"], "2026-12-08"))
    seen, cursor = [], None
    while True:
        params = {"date": "2026-12-08", "status": "booked", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(APPT, headers=staff, params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert [a["id"] for a in seen] == [morning1, morning2, afternoon]
    assert all("check_in_code" not in a for a in seen)
    assert all("********" in p["id_number_masked"] for a in seen for p in a["parties"])
    r = await client.get(APPT, headers=staff, params={"date": "2026-12-09"})
    assert len(r.json()["items"]) == 1
    # Other roles may not list.
    inst, _ = await org_with_staff(client, admin_headers, "care_institution")
    inst_staff = await staff_headers(client, admin_headers, inst["id"], "institution", "x")
    assert (await client.get(APPT, headers=inst_staff)).status_code == 403


async def test_cancelled_by_the_office_shows_to_the_owner(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    r = await client.post(f"/v1/marriage/offices/{office['id']}/closures", headers=staff,
                          json={"date": "2026-12-08", "reason": "停电", "cancel_affected": True})
    assert r.status_code == 201
    a = (await client.get(f"{APPT}/{appt['id']}", headers=me)).json()
    assert a["status"] == "cancelled" and a["cancel_reason"] == "office_closed"
    assert a["cancelled_at"]
    # Its people are free to book elsewhere at once.
    assert clock.now()


async def test_a_past_booking_never_marked_stops_counting_when_its_session_ends(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    parties = couple()
    office, _staff, _me, _appt = await _booked(client, admin_headers, settings,
                                               parties=parties)
    set_china_time("2026-12-08", "11:59")
    r = await book(client, settings, slot_id(office["id"], "2026-12-15"), parties)
    assert r.status_code == 409 and r.json()["code"] == "party_has_active_appointment"
    # The session ended and nobody marked it: the couple is not held hostage.
    set_china_time("2026-12-08", "12:00")
    r = await book(client, settings, slot_id(office["id"], "2026-12-15"), parties)
    assert r.status_code == 201, r.text


async def test_every_write_is_audited(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff, me, appt = await _booked(client, admin_headers, settings)
    oid = office["id"]
    second = (await book(client, settings, slot_id(oid, "2026-12-08"), headers=me)).json()
    third = (await book(client, settings, slot_id(oid, "2026-12-08"), headers=me)).json()
    await client.post(f"{APPT}/{second['id']}/cancel", headers=me)
    await client.post(f"/v1/marriage/offices/{oid}/closures", headers=staff,
                      json={"date": "2026-12-24", "reason": "x"})
    await client.post(f"/v1/marriage/offices/{oid}/special-days", headers=staff, json={
        "date": "2026-12-26", "sessions": [{"start": "09:00", "end": "12:00", "capacity": 5}]})
    set_china_time("2026-12-08", "09:05")
    await client.post(f"{APPT}/{appt['id']}/check-in", headers=staff,
                      json={"check_in_code": appt["check_in_code"]})
    await client.post(f"{APPT}/{appt['id']}/complete", headers=staff)
    set_china_time("2026-12-08", "12:05")
    await client.post(f"{APPT}/{third['id']}/no-show", headers=staff)
    r = await client.get("/v1/admin/audit-events", headers=admin_headers,
                         params={"org_id": oid, "limit": 100})
    actions = {e["action"] for e in r.json()["items"]}
    assert {"marriage_schedule.create", "marriage_appointment.create",
            "marriage_appointment.cancel", "marriage_closure.create",
            "marriage_special_day.create", "marriage_appointment.check_in",
            "marriage_appointment.complete", "marriage_appointment.no_show"} <= actions
