"""The slot listing and the booking response are serialised without a second pass
through their response models: the bytes must be exactly what the models make, and
the slots exactly what the calendar, the seat rows and the booking window say."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from core.clock import CHINA_TZ, clock
from schemas.marriage import CitizenAppointmentPublic, SlotList
from services import capacity as seats
from services.marriage import calendar
from services.marriage.calendar import bookable_now
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import idem


def _url(office_id: str, what: str) -> str:
    return f"/v1/marriage/offices/{office_id}/{what}"


async def _slots_raw(client, office_id, first, last):
    r = await client.get(_url(office_id, "slots"), params={"from": first, "to": last})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r


async def _expected(client, staff, office_id, first: str, last: str, closed=(), specials=None,
                    booked=None):
    """The slots as the model-per-slot implementation computed them."""
    r = await client.get(_url(office_id, "weekly-schedule"), headers=staff)
    schedule = r.json()

    class Settings:
        booking_opens_days_ahead = schedule["booking_opens_days_ahead"]
        min_notice_hours = schedule["min_notice_hours"]

    items = []
    for day in calendar.daterange(dt.date.fromisoformat(first), dt.date.fromisoformat(last)):
        for s in calendar.sessions_on(office_id, day, schedule["sessions"],
                                      day.isoformat() in closed,
                                      (specials or {}).get(day.isoformat())):
            remaining = max(s.capacity - (booked or {}).get(s.slot_id, 0), 0)
            items.append({"slot_id": s.slot_id, "date": s.date.isoformat(), "start": s.start,
                          "end": s.end, "capacity": s.capacity, "remaining": remaining,
                          "bookable": remaining > 0 and bookable_now(
                              Settings, s, clock.now(), clock.today()),
                          "cancel_deadline_at": (s.starts_at - dt.timedelta(
                              hours=schedule["cancel_deadline_hours"])
                          ).astimezone(CHINA_TZ).isoformat(),
                          "calendar_source": calendar.calendar_source(s.date)})
    return items


async def test_slot_json_is_exactly_the_models_and_follows_every_rule(client, admin_headers,
                                                                      settings):
    set_china_time("2026-09-21", "08:30")  # a Monday, before the National Day holidays
    sessions = [{"weekday": d, "start": s, "end": e, "capacity": 2}
                for d in range(1, 8) for s, e in (("09:00", "12:00"), ("13:30", "17:00"))]
    office, staff = await office_with_schedule(client, admin_headers, sessions=sessions,
                                               booking_opens_days_ahead=10, min_notice_hours=2)
    oid = office["id"]
    first, last = "2026-09-21", "2026-10-12"
    # A full session, a half-booked one, a closure and a special day.
    full = slot_id(oid, "2026-09-23")
    for _ in range(2):
        assert (await book(client, settings, full)).status_code == 201
    half = slot_id(oid, "2026-09-24", "13:30")
    assert (await book(client, settings, half)).status_code == 201
    r = await client.post(_url(oid, "closures"), json={"date": "2026-09-25", "reason": "x"},
                          headers=staff)
    assert r.status_code == 201, r.text
    special = [{"start": "10:00", "end": "11:00", "capacity": 3}]
    r = await client.post(_url(oid, "special-days"), json={"date": "2026-10-03",
                                                           "sessions": special}, headers=staff)
    assert r.status_code == 201, r.text

    r = await _slots_raw(client, oid, first, last)
    assert SlotList.model_validate_json(r.content).model_dump_json().encode() == r.content
    expected = await _expected(client, staff, oid, first, last, closed={"2026-09-25"},
                               specials={"2026-10-03": special}, booked={full: 2, half: 1})
    assert r.json()["items"] == expected
    by_id = {i["slot_id"]: i for i in expected}
    assert by_id[slot_id(oid, "2026-09-21")]["bookable"] is False  # within the notice
    assert by_id[slot_id(oid, "2026-09-21", "13:30")]["bookable"] is True
    assert by_id[full]["remaining"] == 0 and by_id[full]["bookable"] is False
    assert by_id[half]["remaining"] == 1
    assert not any(i["date"] == "2026-09-25" for i in expected)
    assert [i["start"] for i in expected if i["date"] == "2026-10-03"] == ["10:00"]
    assert by_id[slot_id(oid, "2026-10-03", "10:00")]["bookable"] is False  # not released

    # The same calendar later in time: the cached days answer to the new clock.
    set_china_time("2026-09-21", "12:00")
    r = await _slots_raw(client, oid, first, last)
    assert r.json()["items"] == await _expected(
        client, staff, oid, first, last, closed={"2026-09-25"},
        specials={"2026-10-03": special}, booked={full: 2, half: 1})
    assert {i["slot_id"]: i for i in r.json()["items"]}[
        slot_id(oid, "2026-09-21", "13:30")]["bookable"] is False


async def test_slots_follow_schedule_and_special_day_changes_at_once(client, admin_headers,
                                                                     settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    day = "2026-12-08"
    assert len((await _slots_raw(client, oid, day, day)).json()["items"]) == 2
    etag = (await client.get(_url(oid, "weekly-schedule"), headers=staff)).headers["etag"]
    r = await client.put(_url(oid, "weekly-schedule"), headers={**staff, "If-Match": etag},
                         json={"sessions": [{"weekday": 2, "start": "08:00", "end": "09:00",
                                             "capacity": 7}]})
    assert r.status_code == 200, r.text
    [item] = (await _slots_raw(client, oid, day, day)).json()["items"]
    assert (item["start"], item["capacity"]) == ("08:00", 7)
    for capacity in (4, 6):
        r = await client.post(_url(oid, "special-days"), headers=staff, json={
            "date": day, "sessions": [{"start": "15:00", "end": "16:00",
                                       "capacity": capacity}]})
        assert r.status_code in (200, 201), r.text
        [item] = (await _slots_raw(client, oid, day, day)).json()["items"]
        assert (item["start"], item["capacity"]) == ("15:00", capacity)
    assert (await client.delete(_url(oid, f"special-days/{day}"), headers=staff)
            ).status_code == 204
    [item] = (await _slots_raw(client, oid, day, day)).json()["items"]
    assert item["start"] == "08:00"


async def test_slots_of_an_office_without_schedule_are_an_empty_list(client, admin_headers):
    from tests.factories import org_with_staff

    office, _ = await org_with_staff(client, admin_headers, "registration_office")
    r = await _slots_raw(client, office["id"], "2026-12-01", "2026-12-02")
    assert r.content == SlotList(items=[]).model_dump_json().encode()


async def test_booking_response_is_exactly_the_models_and_replays_byte_for_byte(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08", "13:30")
    headers = {**citizen(settings), **idem()}
    body = {"slot_id": slot, "kind": "marriage", "parties": [
        {"name": "张伟", "id_number": "440305198503151238", "phone": "13800138000"},
        {"name": "李娜", "id_number": "440305198707222464"}]}
    r = await client.post("/v1/marriage/appointments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    public = CitizenAppointmentPublic.model_validate_json(r.content)
    assert public.model_dump_json().encode() == r.content
    assert r.headers["location"] == f"/v1/marriage/appointments/{public.id}"
    got = r.json()
    assert got["slot"] == {"slot_id": slot, "office_id": office["id"], "date": "2026-12-08",
                           "start": "13:30", "end": "17:00"}
    assert [p["name"] for p in got["parties"]] == ["张伟", "李娜"]
    assert got["status"] == "booked" and len(got["check_in_code"]) == 8
    # What was written reads back the same.
    read = await client.get(f"/v1/marriage/appointments/{public.id}", headers=headers)
    assert read.json() == got
    again = await client.post("/v1/marriage/appointments", json=body, headers=headers)
    assert again.status_code == 201 and again.content == r.content


async def test_a_replay_is_answered_even_where_the_booking_would_now_be_refused(
        client, admin_headers, settings):
    """The booking route does not look its key up before it works (api.hotpath): a
    retry of a booking that took the last seat must still replay, not say the
    session is full, and the key sent with another body is still 422."""
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers, sessions=[
        {"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}])
    slot = slot_id(office["id"], "2026-12-08", "09:00")
    headers = {**citizen(settings), **idem()}
    body = {"slot_id": slot, "kind": "marriage", "parties": couple()}
    first = await client.post("/v1/marriage/appointments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    # The session is full now: anyone else is refused ...
    other = await book(client, settings, slot)
    assert other.status_code == 409 and other.json()["code"] == "slot_full"
    # ... but the first request's retry is its first answer, byte for byte.
    again = await client.post("/v1/marriage/appointments", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    # The same key with another body is refused for the key, not for the seat.
    reused = await client.post("/v1/marriage/appointments",
                               json={**body, "parties": couple()}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"


# Booking on PostgreSQL keeps what it read of an office's day (services.marriage.
# office_days) and `marriage_book` re-checks it. The changes below are made in the
# database directly, as another server process's would be: this process's copy is
# then stale, and no booking may act on it.

async def _sql(db, statement: str, **params) -> None:
    async with db.session() as session:
        await session.execute(text(statement), params)
        await session.commit()


async def test_a_booking_never_acts_on_an_office_day_read_before_another_process_changed_it(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    first = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    assert first.status_code == 201, first.text  # the office's day is read (and kept)
    # The office's phone changes: the next appointment shows the new one.
    await _sql(db, "UPDATE organisation SET phone = '010-88889999', version = version + 1 "
                   "WHERE id = :id", id=office["id"])
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    assert r.status_code == 201, r.text
    assert r.json()["office"]["phone"] == "010-88889999"
    # The week changes to afternoons only: the morning session is gone.
    await _sql(db, "UPDATE marriage_schedule SET sessions = :s, version = version + 1 "
                   "WHERE office_id = :id", id=office["id"], s=json.dumps([
                       {"weekday": 2, "start": "13:30", "end": "17:00", "capacity": 5}]))
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    r = await book(client, settings, slot_id(office["id"], "2026-12-08", "13:30"))
    assert r.status_code == 201, r.text
    # And back (the afternoons-only day is what this process keeps now): a kept read
    # that would refuse is read again first, so the morning is bookable at once.
    await _sql(db, "UPDATE marriage_schedule SET sessions = :s, version = version + 1 "
                   "WHERE office_id = :id", id=office["id"], s=json.dumps([
                       {"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 5}]))
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    assert r.status_code == 201, r.text


async def test_a_suspended_person_is_refused_on_a_day_already_read(client, admin_headers,
                                                                   settings):
    """The people's no-shows are not part of the office's day that is kept: the
    write checks them (and a person with one no-show still books)."""
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    groom, bride, first_partner = person("male"), person("female"), person("female")
    for booked_on, day, partner in (("2026-12-01", "2026-12-08", first_partner),
                                    ("2026-12-09", "2026-12-15", person("female"))):
        set_china_time(booked_on)
        r = await book(client, settings, slot_id(office["id"], day), [groom, partner])
        assert r.status_code == 201, r.text
        set_china_time(day, "12:30")
        r = await client.post(f"/v1/marriage/appointments/{r.json()['id']}/no-show",
                              headers=staff)
        assert r.status_code == 200, r.text
        if day == "2026-12-08":
            r = await book(client, settings, slot_id(office["id"], "2026-12-22"),
                           [person("male"), bride])
            assert r.status_code == 201, r.text  # 2026-12-22 is read and kept
    set_china_time("2026-12-16")
    r = await book(client, settings, slot_id(office["id"], "2026-12-22"), [groom, bride])
    assert r.status_code == 422 and r.json()["code"] == "booking_suspended", r.text
    # The groom's partner of 2026-12-08 has one no-show: she still books, on the
    # same kept day.
    r = await book(client, settings, slot_id(office["id"], "2026-12-22"),
                   [person("male"), first_partner])
    assert r.status_code == 201, r.text


async def test_a_seat_given_back_is_bookable_at_once_after_refusals(client, admin_headers,
                                                                    settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers, sessions=[
        {"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}])
    slot = slot_id(office["id"], "2026-12-08", "09:00")
    me = citizen(settings)
    taken = await book(client, settings, slot, headers=me)
    assert taken.status_code == 201, taken.text
    for _ in range(3):  # refused, the later ones from this process's memo of the seat
        r = await book(client, settings, slot)
        assert r.status_code == 409 and r.json()["code"] == "slot_full"
    r = await client.post(f"/v1/marriage/appointments/{taken.json()['id']}/cancel", headers=me)
    assert r.status_code == 200, r.text
    r = await book(client, settings, slot)
    assert r.status_code == 201, r.text


async def test_a_seat_given_back_by_another_process_is_found_once_the_memo_lapses(
        client, admin_headers, settings, db, monkeypatch):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers, sessions=[
        {"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}])
    slot = slot_id(office["id"], "2026-12-08", "09:00")
    taken = await book(client, settings, slot)
    assert taken.status_code == 201, taken.text
    for _ in range(2):
        r = await book(client, settings, slot)
        assert r.status_code == 409 and r.json()["code"] == "slot_full"
    # Another process cancels it (as services.marriage.cancellation would).
    await _sql(db, "UPDATE marriage_appointment SET status = 'cancelled' WHERE id = :id",
               id=taken.json()["id"])
    await _sql(db, "DELETE FROM marriage_party_hold WHERE appointment_id = :id",
               id=taken.json()["id"])
    await _sql(db, "UPDATE capacity_slot SET booked = 0 WHERE id = :id", id=slot)
    monkeypatch.setattr(seats, "FULL_MEMO_SECONDS", 0.0)  # the memo's time has passed
    r = await book(client, settings, slot)
    assert r.status_code == 201, r.text
