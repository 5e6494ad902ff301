"""Divorce: a completed `divorce` appointment opens a case with a 30-day cooling-off
period; the confirmation is booked for days 31-60; withdrawal during cooling-off."""

from __future__ import annotations

from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import org_with_staff

APPT = "/v1/marriage/appointments"
CASES = "/v1/marriage/divorce-cases"


async def _complete(client, staff, appt, day, start="09:10"):
    set_china_time(day, start)
    r = await client.post(f"{APPT}/{appt['id']}/check-in", headers=staff,
                          json={"check_in_code": appt["check_in_code"]})
    assert r.status_code == 200, r.text
    r = await client.post(f"{APPT}/{appt['id']}/complete", headers=staff)
    assert r.status_code == 200, r.text
    return r.json()


async def _open_case(client, admin_headers, settings):
    """A divorce application received on Tuesday 2026-12-08."""
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    parties = couple()
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties,
                   kind="divorce", headers=me)
    assert r.status_code == 201, r.text
    done = await _complete(client, staff, r.json(), "2026-12-08")
    assert done["divorce_case_id"]
    return office, staff, me, parties, done["divorce_case_id"]


async def test_a_completed_divorce_opens_a_case_in_cooling_off(client, admin_headers,
                                                               settings):
    office, staff, me, _parties, case_id = await _open_case(client, admin_headers, settings)
    r = await client.get(f"{CASES}/{case_id}", headers=me)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["status"] == "cooling_off"
    assert case["received_date"] == "2026-12-08"
    assert case["cooling_off_ends"] == "2027-01-07"
    assert case["confirmation_deadline"] == "2027-02-06"
    assert all("********" in p["id_number_masked"] for p in case["parties"])
    # The receiving office sees it; another office and another citizen do not.
    assert (await client.get(f"{CASES}/{case_id}", headers=staff)).status_code == 200
    _o, other_staff = await org_with_staff(client, admin_headers, "registration_office")
    assert (await client.get(f"{CASES}/{case_id}", headers=other_staff)).status_code == 404
    assert (await client.get(f"{CASES}/{case_id}", headers=citizen(settings))
            ).status_code == 404


async def test_case_status_follows_the_clock(client, admin_headers, settings):
    _office, _staff, me, _parties, case_id = await _open_case(client, admin_headers, settings)

    async def status() -> str:
        return (await client.get(f"{CASES}/{case_id}", headers=me)).json()["status"]

    set_china_time("2027-01-07", "23:59")
    assert await status() == "cooling_off"
    set_china_time("2027-01-08", "00:00")
    assert await status() == "awaiting_confirmation"
    set_china_time("2027-02-06", "23:59")
    assert await status() == "awaiting_confirmation"
    set_china_time("2027-02-07", "00:00")
    assert await status() == "lapsed"


async def test_confirmation_only_in_days_31_to_60(client, admin_headers, settings):
    office, staff, me, parties, case_id = await _open_case(client, admin_headers, settings)
    oid = office["id"]
    set_china_time("2026-12-20")
    # Day 30 (Thursday 2027-01-07) is still cooling-off.
    r = await book(client, settings, slot_id(oid, "2027-01-07"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 422 and r.json()["code"] == "outside_confirmation_window"
    # Day 31 (Friday 2027-01-08) is the first possible date, booked in advance.
    r = await book(client, settings, slot_id(oid, "2027-01-08"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 201, r.text
    assert r.json()["divorce_case_id"] == case_id
    appt = r.json()
    assert (await client.post(f"{APPT}/{appt['id']}/cancel", headers=me)).status_code == 200
    # Past day 60 is too late (the Spring Festival closes 5 to 10 February 2027, by
    # the estimate, so the first open day after the deadline is Thursday the 11th).
    set_china_time("2027-01-30")
    r = await book(client, settings, slot_id(oid, "2027-02-11"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 422 and r.json()["code"] == "outside_confirmation_window"
    # Day 58, Thursday 2027-02-04 (day 59 is the Spring Festival's eve, a holiday,
    # and day 60, the deadline, a Saturday).
    r = await book(client, settings, slot_id(oid, "2027-02-04"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 201
    done = await _complete(client, staff, r.json(), "2027-02-04")
    assert done["status"] == "completed"
    case = (await client.get(f"{CASES}/{case_id}", headers=me)).json()
    assert case["status"] == "registered"
    assert case["confirmation_appointment_id"] == done["id"]
    # Still registered after the deadline; withdrawing is too late.
    set_china_time("2027-03-01")
    assert (await client.get(f"{CASES}/{case_id}", headers=me)).json()["status"] == "registered"
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_confirmation_needs_the_same_two_people(client, admin_headers, settings):
    office, _staff, me, parties, case_id = await _open_case(client, admin_headers, settings)
    set_china_time("2026-12-20")
    slot = slot_id(office["id"], "2027-01-11")
    r = await book(client, settings, slot, [parties[0], person("female")],
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 422 and r.json()["code"] == "invalid_parties"
    # Someone else, with other people, cannot even see the case.
    r = await book(client, settings, slot, couple(), kind="divorce_confirmation",
                   case_id=case_id)
    assert r.status_code == 404
    r = await book(client, settings, slot, parties, kind="divorce_confirmation",
                   case_id="mdc_unknown", headers=me)
    assert r.status_code == 404
    # The two people themselves, from another account (全国通办, any office), may.
    other_office, _ = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, slot_id(other_office["id"], "2027-01-11"), parties,
                   kind="divorce_confirmation", case_id=case_id)
    assert r.status_code == 201, r.text


async def test_withdraw_during_cooling_off_cancels_the_confirmation(client, admin_headers,
                                                                    settings):
    office, _staff, me, parties, case_id = await _open_case(client, admin_headers, settings)
    set_china_time("2026-12-20")
    r = await book(client, settings, slot_id(office["id"], "2027-01-11"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 201
    confirmation = r.json()
    assert (await client.post(f"{CASES}/{case_id}/withdraw", headers=citizen(settings))
            ).status_code == 404
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=me)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn" and r.json()["withdrawn_at"]
    a = (await client.get(f"{APPT}/{confirmation['id']}", headers=me)).json()
    assert a["status"] == "cancelled" and a["cancel_reason"] == "case_withdrawn"
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=me)
    assert r.status_code == 409
    # No confirmation for a withdrawn case.
    r = await book(client, settings, slot_id(office["id"], "2027-01-12"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_withdraw_after_cooling_off_is_refused(client, admin_headers, settings):
    _office, _staff, me, _parties, case_id = await _open_case(client, admin_headers, settings)
    set_china_time("2027-01-08")
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    set_china_time("2027-01-07", "18:00")
    r = await client.post(f"{CASES}/{case_id}/withdraw", headers=me)
    assert r.status_code == 200


async def test_a_lapsed_case_cannot_be_confirmed(client, admin_headers, settings):
    office, _staff, me, parties, case_id = await _open_case(client, admin_headers, settings)
    set_china_time("2027-02-07")
    # Thursday the 11th: the first day open after the Spring Festival (estimated).
    r = await book(client, settings, slot_id(office["id"], "2027-02-11"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_day_60_is_the_last_possible_date(client, admin_headers, settings):
    office, staff, me, parties, case_id = await _open_case(client, admin_headers, settings)
    # Day 60 (2027-02-06) is a Saturday: the office opens it specially.
    r = await client.post(f"/v1/marriage/offices/{office['id']}/special-days", headers=staff,
                          json={"date": "2027-02-06",
                                "sessions": [{"start": "09:00", "end": "12:00",
                                              "capacity": 5}]})
    assert r.status_code == 201
    set_china_time("2027-01-30")
    r = await book(client, settings, slot_id(office["id"], "2027-02-06"), parties,
                   kind="divorce_confirmation", case_id=case_id, headers=me)
    assert r.status_code == 201, r.text
