"""Booking: the rules of DOMAIN.md section 1, through the HTTP API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemas.marriage import MarriageParty
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import idem, make_id_number


async def test_book_a_marriage_appointment(client, admin_headers, settings, db):
    set_china_time("2026-12-01", "10:00")
    office, _ = await office_with_schedule(client, admin_headers)
    parties = couple()
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties, headers=me)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "booked" and body["kind"] == "marriage"
    assert body["slot"] == {"slot_id": slot_id(office["id"], "2026-12-08"),
                            "office_id": office["id"], "date": "2026-12-08",
                            "start": "09:00", "end": "12:00"}
    assert [p["id_number_masked"] for p in body["parties"]] == [
        p["id_number"][:6] + "********" + p["id_number"][-4:] for p in parties]
    assert "id_number" not in body["parties"][0]
    assert len(body["check_in_code"]) == 8
    assert r.headers["location"] == f"/v1/marriage/appointments/{body['id']}"
    # Identity numbers are stored encrypted, never in clear.
    async with db.session() as s:
        rows = (await s.execute(select(MarriageParty))).scalars().all()
    assert len(rows) == 2
    for row in rows:
        assert row.id_number_encrypted not in {p["id_number"] for p in parties}
        assert parties[0]["id_number"] not in row.id_number_encrypted
    # The slot shows one seat fewer.
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2026-12-08", "to": "2026-12-08"})
    first = r.json()["items"][0]
    assert first["remaining"] == 4 and first["capacity"] == 5


async def test_booking_needs_an_idempotency_key_and_replays(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    body = {"slot_id": slot_id(office["id"], "2026-12-08"), "kind": "marriage",
            "parties": couple()}
    r = await client.post("/v1/marriage/appointments", json=body, headers=me)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    key = idem()
    first = await client.post("/v1/marriage/appointments", json=body, headers={**me, **key})
    again = await client.post("/v1/marriage/appointments", json=body, headers={**me, **key})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = dict(body, slot_id=slot_id(office["id"], "2026-12-09"))
    r = await client.post("/v1/marriage/appointments", json=other, headers={**me, **key})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"


async def test_only_citizens_book(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=staff)
    assert r.status_code == 403
    r = await client.post("/v1/marriage/appointments", json={}, headers=idem())
    assert r.status_code == 401


@pytest.mark.parametrize(("groom_age", "bride_age", "ok"), [
    (22, 20, True), (21, 25, False), (30, 19, False)])
async def test_legal_marriage_age_on_the_appointment_date(client, admin_headers, settings,
                                                         groom_age, bride_age, ok):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    # Birthdays on the appointment date itself: the age is reached that very day.
    groom = f"{2026 - groom_age}-12-08"
    bride = f"{2026 - bride_age}-12-08"
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"),
                   couple(groom, bride))
    if ok:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 422 and r.json()["code"] == "underage"


async def test_age_counts_on_the_appointment_date_not_today(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    # The woman turns 20 on 2026-12-09: too young for the 8th, old enough for the 9th.
    bride = "2006-12-09"
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"),
                   couple(None, bride))
    assert r.status_code == 422 and r.json()["code"] == "underage"
    r = await book(client, settings, slot_id(office["id"], "2026-12-09"),
                   couple(None, bride))
    assert r.status_code == 201, r.text


async def test_marriage_needs_one_man_and_one_woman(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    for parties in ([person("male"), person("male")], [person("female"), person("female")],
                    [person("male")]):
        r = await book(client, settings, slot, parties)
        assert r.status_code == 422 and r.json()["code"] == "invalid_parties", parties
    same = person("male")
    r = await book(client, settings, slot, [same, dict(same)], kind="reissue")
    assert r.status_code == 422 and r.json()["code"] == "invalid_parties"


async def test_parties_per_kind(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    r = await book(client, settings, slot, [person("female")], kind="divorce")
    assert r.status_code == 422 and r.json()["code"] == "invalid_parties"
    r = await book(client, settings, slot, [person("female")], kind="reissue")
    assert r.status_code == 201 and r.json()["kind"] == "reissue"
    r = await book(client, settings, slot, couple(), kind="reissue")
    assert r.status_code == 201
    r = await book(client, settings, slot, couple(), kind="divorce")
    assert r.status_code == 201
    # The divorce case id belongs to confirmations only, and they need one.
    r = await book(client, settings, slot, couple(), kind="divorce_confirmation")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await book(client, settings, slot, couple(), kind="marriage", case_id="mdc_x")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_invalid_identity_numbers_are_refused_and_never_echoed(client, admin_headers,
                                                                     settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    bad = make_id_number("19900101", sex="male")
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")
    parties = [{"name": "张伟", "id_number": bad}, person("female")]
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties)
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"
    assert bad not in r.text
    parties = [{"name": "张伟", "id_number": "11010519900101001"}, person("female")]
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties)
    assert r.status_code == 422 and "11010519900101001" not in r.text


async def test_unknown_fields_are_refused(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    body = {"slot_id": slot_id(office["id"], "2026-12-08"), "kind": "marriage",
            "parties": couple(), "status": "completed"}
    r = await client.post("/v1/marriage/appointments", json=body,
                          headers={**citizen(settings), **idem()})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_one_active_appointment_per_person_across_offices(client, admin_headers,
                                                                settings):
    set_china_time("2026-12-01")
    office_a, _ = await office_with_schedule(client, admin_headers)
    office_b, _ = await office_with_schedule(client, admin_headers)
    groom, bride, other = person("male"), person("female"), person("female")
    daughter = citizen(settings)
    r = await book(client, settings, slot_id(office_a["id"], "2026-12-08"), [groom, bride],
                   headers=daughter)
    assert r.status_code == 201
    first = r.json()
    # The same man with someone else, at another office, booked by another account.
    r = await book(client, settings, slot_id(office_b["id"], "2026-12-09"), [groom, other])
    assert r.status_code == 409 and r.json()["code"] == "party_has_active_appointment"
    assert groom["id_number"] not in r.text
    # The refused booking took no seat.
    r = await client.get(f"/v1/marriage/offices/{office_b['id']}/slots",
                         params={"from": "2026-12-09", "to": "2026-12-09"})
    assert r.json()["items"][0]["remaining"] == 5
    # Once the first appointment is cancelled, he may book again.
    c = await client.post(f"/v1/marriage/appointments/{first['id']}/cancel", headers=daughter)
    assert c.status_code == 200
    r = await book(client, settings, slot_id(office_b["id"], "2026-12-09"), [groom, other])
    assert r.status_code == 201


async def test_a_cancelled_appointment_frees_the_person(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    parties = couple()
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties, headers=me)
    assert r.status_code == 201
    r2 = await book(client, settings, slot_id(office["id"], "2026-12-09"), parties, headers=me)
    assert r2.status_code == 409
    c = await client.post(f"/v1/marriage/appointments/{r.json()['id']}/cancel", headers=me)
    assert c.status_code == 200 and c.json()["status"] == "cancelled"
    assert c.json()["cancel_reason"] == "citizen"
    r3 = await book(client, settings, slot_id(office["id"], "2026-12-09"), parties, headers=me)
    assert r3.status_code == 201


async def test_booking_window_and_minimum_notice(client, admin_headers, settings):
    set_china_time("2026-12-01", "07:30")
    office, _ = await office_with_schedule(client, admin_headers, booking_opens_days_ahead=10,
                                           min_notice_hours=2)
    oid = office["id"]
    # Day 10 is open, day 11 not yet.
    assert (await book(client, settings, slot_id(oid, "2026-12-11"))).status_code == 201
    r = await book(client, settings, slot_id(oid, "2026-12-14"))
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window"
    # 09:00 today is 1.5 hours away: too late; 13:30 is fine.
    r = await book(client, settings, slot_id(oid, "2026-12-01", "09:00"))
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window"
    assert (await book(client, settings, slot_id(oid, "2026-12-01", "13:30"))).status_code == 201
    # Past sessions are never bookable.
    r = await book(client, settings, slot_id(oid, "2026-11-30"))
    assert r.status_code == 422
    # The release moves with the clock.
    set_china_time("2026-12-04", "00:01")
    assert (await book(client, settings, slot_id(oid, "2026-12-14"))).status_code == 201


async def test_slots_that_do_not_exist_are_404(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    for bad in (slot_id(oid, "2026-12-08", "10:00"),  # no session starts at 10:00
                slot_id(oid, "2026-12-12"),  # a Saturday
                slot_id("org_nope", "2026-12-08"), "garbage", slot_id(oid, "2026-02-30"),
                # The id the server gave, spelt with another script's digit (٨ is 8 to
                # int() and str.isdigit): not an id of ours.
                slot_id(oid, "2026-12-08")[:-6] + "٨_0900"):
        r = await book(client, settings, bad)
        assert r.status_code == 404, bad
        assert r.json()["code"] == "not_found"
