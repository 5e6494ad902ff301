"""Input at the edges: dates near the calendar's limits and cursors the service did
not make are refused with a problem (422 / 404 / 400), never a 500."""

from __future__ import annotations

import base64

import pytest

from tests.api.test_marriage_support import (
    book,
    citizen,
    office_with_schedule,
    set_china_time,
    slot_id,
)

APPT = "/v1/marriage/appointments"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _problem(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


@pytest.mark.parametrize("params", [
    {"from": "9999-12-31", "to": "9999-12-31"},
    {"from": "9999-12-01"},
    {"from": "0001-01-01", "to": "0001-01-02"},
    {"from": "1999-12-31", "to": "2000-01-01"},
    {"from": "2099-12-31", "to": "2100-01-01"},
    {"to": "9999-12-31"},
])
async def test_slots_outside_the_supported_dates_are_a_validation_error(
        client, admin_headers, params):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots", params=params)
    _problem(r, 422, "validation_error")


async def test_slots_at_the_last_supported_date_default_to_a_window_that_ends_there(
        client, admin_headers):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2099-12-31"})
    assert r.status_code == 200, r.text
    assert {i["date"] for i in r.json()["items"]} == {"2099-12-31"}  # a Thursday
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2000-01-01", "to": "2000-01-04"})
    assert r.status_code == 200, r.text
    # A Saturday to a Tuesday, long past (and before chinese-calendar's first year:
    # the estimate moves New Year's Day off the Saturday to Monday the 3rd).
    items = r.json()["items"]
    assert {i["date"] for i in items} == {"2000-01-04"}
    assert not any(i["bookable"] for i in items)


@pytest.mark.parametrize("ymd", ["00010101", "99991231", "19991231", "21000101"])
async def test_a_slot_id_with_an_unsupported_date_is_no_slot(client, admin_headers, settings,
                                                            ymd):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, f"ms_{office['id']}_{ymd}_0900")
    _problem(r, 404, "not_found")


@pytest.mark.parametrize("what", ["closures", "special-days"])
@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
async def test_closures_and_special_days_outside_the_supported_dates_are_refused(
        client, admin_headers, what, date):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    body = {"date": date, "reason": "x"} if what == "closures" else {
        "date": date, "sessions": [{"start": "09:00", "end": "12:00", "capacity": 5}]}
    r = await client.post(f"/v1/marriage/offices/{office['id']}/{what}", json=body,
                          headers=staff)
    _problem(r, 422, "validation_error")
    assert r.json()["errors"][0]["loc"] == ["body", "date"]
    r = await client.delete(f"/v1/marriage/offices/{office['id']}/{what}/{date}",
                            headers=staff)
    _problem(r, 422, "validation_error")
    r = await client.get(f"/v1/marriage/offices/{office['id']}/{what}", params={"from": date},
                         headers=staff)
    _problem(r, 422, "validation_error")
    # Nothing was stored.
    r = await client.get(f"/v1/marriage/offices/{office['id']}/{what}", headers=staff)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("what", ["closures", "special-days"])
async def test_closures_and_special_days_on_the_first_and_last_supported_dates(
        client, admin_headers, what):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    for date in ("2000-01-01", "2099-12-31"):
        body = {"date": date, "reason": "x"} if what == "closures" else {
            "date": date, "sessions": [{"start": "09:00", "end": "12:00", "capacity": 5}]}
        r = await client.post(f"/v1/marriage/offices/{office['id']}/{what}", json=body,
                              headers=staff)
        assert r.status_code == 201, r.text
        assert r.json()["date"] == date


async def test_appointment_list_date_outside_the_supported_dates_is_refused(
        client, admin_headers, settings):
    office, staff = await office_with_schedule(client, admin_headers)
    for headers in (staff, citizen(settings)):
        r = await client.get(APPT, params={"date": "9999-12-31"}, headers=headers)
        _problem(r, 422, "validation_error")


# --- cursors ------------------------------------------------------------------------


async def _two_pages(client, settings, office_id, headers, **params):
    me = citizen(settings)
    for day in ("2026-12-08", "2026-12-09", "2026-12-10"):
        assert (await book(client, settings, slot_id(office_id, day),
                           headers=me)).status_code == 201
    r = await client.get(APPT, params={"limit": 1, **params}, headers=headers or me)
    assert r.status_code == 200 and r.json()["next_cursor"], r.text
    return me, r.json()["next_cursor"]


@pytest.mark.parametrize("cursor", [
    _b64("2026-01-01T00:00:00|x"),  # a naive time: was a 500
    _b64("2026-01-01T00:00:00|mapt_0193a1b2c3d4e5f6a7b8c9d0"),
    _b64("2026-12-08T09:00:00+08:00|mapt_0193a1b2c3d4e5f6a7b8c9d0"),  # not UTC
    _b64("2026-12-08T01:00:00+00:00|x"),
    _b64("2026-12-08T01:00:00+00:00"),
    _b64("mapt_0193a1b2c3d4e5f6a7b8c9d0"),
    _b64("x|y|z"),
    "zzz", "a", "!!!",
])
async def test_office_list_refuses_cursors_it_did_not_make(client, admin_headers, settings,
                                                           cursor):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    _, good = await _two_pages(client, settings, office["id"], staff)
    r = await client.get(APPT, params={"cursor": good, "limit": 1}, headers=staff)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(APPT, params={"cursor": cursor}, headers=staff)
    _problem(r, 400, "invalid_cursor")
    r = await client.get(APPT, params={"cursor": good + "="}, headers=staff)
    _problem(r, 400, "invalid_cursor")


@pytest.mark.parametrize("cursor", [
    "zzz", "a", "!!!", _b64("abc"), _b64("mapt_"), _b64("mapt_0193 OR 1=1"),
    _b64("2026-12-08T01:00:00+00:00|mapt_0193a1b2c3d4e5f6a7b8c9d0"),
    _b64("org_0193a1b2c3d4e5f6a7b8c9d0e1"),
])
async def test_citizen_list_refuses_cursors_it_did_not_make(client, admin_headers, settings,
                                                            cursor):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me, good = await _two_pages(client, settings, office["id"], None)
    r = await client.get(APPT, params={"cursor": good, "limit": 1}, headers=me)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(APPT, params={"cursor": cursor}, headers=me)
    _problem(r, 400, "invalid_cursor")


@pytest.mark.parametrize("cursor", [
    "zzz", "a", _b64("abc"), _b64("org_"), _b64("mapt_0193a1b2c3d4e5f6a7b8c9d0"),
])
async def test_office_directory_refuses_cursors_it_did_not_make(client, admin_headers, cursor):
    await office_with_schedule(client, admin_headers)
    await office_with_schedule(client, admin_headers)
    r = await client.get("/v1/marriage/offices", params={"limit": 1})
    good = r.json()["next_cursor"]
    assert (await client.get("/v1/marriage/offices", params={"limit": 1, "cursor": good})
            ).status_code == 200
    r = await client.get("/v1/marriage/offices", params={"cursor": cursor})
    _problem(r, 400, "invalid_cursor")
