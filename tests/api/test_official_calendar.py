"""China's official calendar past chinese-calendar's last year (API.md "Official
calendar"): a year nobody has published is estimated (its statutory holidays
closed), the admin's loaded State Council notice then takes over, and offices see
which dates rest on an estimate."""

from __future__ import annotations

from core.clock import clock
from schemas.official_calendar import OfficialCalendarNotice
from services.marriage import official_calendar
from tests.api.test_marriage_support import (
    book,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import org_with_staff

CAL = "/v1/official-calendar"

# A notice for 2027 as the State Council might publish it: New Year's Day Friday
# 1 January to Sunday the 3rd off, Sunday 10 January worked instead; an extra rest
# day, Monday 4 January.
NOTICE_2027 = {
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"],
    "working_days": ["2027-01-10"],
    "notice": "国务院办公厅关于2027年部分节假日安排的通知",
}


async def _slot_dates(client, office_id, first, last):
    r = await client.get(f"/v1/marriage/offices/{office_id}/slots",
                         params={"from": first, "to": last})
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_year_the_library_knows_comes_from_the_library(client):
    r = await client.get(f"{CAL}/2026")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2026 and body["source"] == "library"
    assert "2026-10-01" in body["holidays"] and "2026-10-07" in body["holidays"]
    assert body["working_days"] == sorted(body["working_days"])
    assert "2026-09-20" in body["working_days"]  # a Sunday worked before National Day
    assert body["notice"] is None


async def test_an_unknown_year_is_estimated_from_the_holiday_rules(client):
    r = await client.get(f"{CAL}/2027")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "estimated" and body["working_days"] == []
    holidays = set(body["holidays"])
    # New Year, the Spring Festival (its eve included), Qingming, Labour Day, the
    # Dragon Boat and Mid-Autumn festivals (lunar dates) and National Day.
    assert {"2027-01-01", "2027-02-05", "2027-02-06", "2027-04-05", "2027-05-01",
            "2027-06-09", "2027-09-15", "2027-10-01"} <= holidays
    assert "2027-01-04" not in holidays


async def test_new_years_day_2027_is_closed_by_estimate_then_the_notice_takes_over(
        client, admin_headers, settings):
    set_china_time("2026-12-20")
    office, staff = await office_with_schedule(client, admin_headers)
    oid = office["id"]
    # Without a notice: New Year's Day (a Friday) is closed; the days around it
    # follow the weekly schedule, and every 2027 slot says it rests on an estimate.
    items = await _slot_dates(client, oid, "2026-12-31", "2027-01-11")
    dates = sorted({i["date"] for i in items})
    assert dates == ["2026-12-31", "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07",
                     "2027-01-08", "2027-01-11"]
    assert {i["calendar_source"] for i in items if i["date"] == "2026-12-31"} == {"library"}
    assert {i["calendar_source"] for i in items if i["date"] >= "2027"} == {"estimated"}
    r = await book(client, settings, slot_id(oid, "2027-01-01"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    schedule = (await client.get(f"/v1/marriage/offices/{oid}/weekly-schedule",
                                 headers=staff)).json()
    assert schedule["calendar_estimated_from"] == "2027-01-01"

    # The admin loads the notice: Monday the 4th becomes a rest day, Sunday the 10th
    # a working day (with Monday's sessions); the notice wins from now on.
    r = await client.put(f"{CAL}/2027", json=NOTICE_2027, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "notice" and r.json()["working_days"] == ["2027-01-10"]
    assert r.json()["notice"] == NOTICE_2027["notice"]
    got = (await client.get(f"{CAL}/2027")).json()
    assert got["source"] == "notice" and got["holidays"] == NOTICE_2027["holidays"]

    items = await _slot_dates(client, oid, "2026-12-31", "2027-01-11")
    dates = sorted({i["date"] for i in items})
    assert dates == ["2026-12-31", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08",
                     "2027-01-10", "2027-01-11"]
    assert {i["start"] for i in items if i["date"] == "2027-01-10"} == {"09:00", "13:30"}
    assert {i["calendar_source"] for i in items if i["date"] >= "2027"} == {"notice"}
    r = await book(client, settings, slot_id(oid, "2027-01-04"))
    assert r.status_code == 404  # the extra rest day is closed for booking too
    r = await book(client, settings, slot_id(oid, "2027-01-10"))
    assert r.status_code == 201, r.text  # the working Sunday is open
    schedule = (await client.get(f"/v1/marriage/offices/{oid}/weekly-schedule",
                                 headers=staff)).json()
    assert schedule["calendar_estimated_from"] is None


async def test_a_notice_loaded_elsewhere_reaches_this_process_after_its_refresh(
        client, admin_headers, settings, db):
    """A notice another process loaded: this process reads it once its copy is older
    than `official_calendar_refresh_seconds` (0 here: at once)."""
    official_calendar.configure(settings.model_copy(
        update={"official_calendar_refresh_seconds": 0}))
    set_china_time("2026-12-20")
    office, _ = await office_with_schedule(client, admin_headers)
    assert await _slot_dates(client, office["id"], "2027-01-10", "2027-01-10") == []
    async with db.session() as s:  # the other process's write
        s.add(OfficialCalendarNotice(year=2027, holidays=NOTICE_2027["holidays"],
                                     working_days=NOTICE_2027["working_days"],
                                     notice=NOTICE_2027["notice"], loaded_at=clock.now()))
        await s.commit()
    items = await _slot_dates(client, office["id"], "2027-01-10", "2027-01-10")
    assert {i["date"] for i in items} == {"2027-01-10"}
    assert {i["calendar_source"] for i in items} == {"notice"}


async def test_only_the_admin_loads_a_notice_and_a_bad_one_is_refused(client, admin_headers):
    _, office_staff = await org_with_staff(client, admin_headers, "registration_office")
    r = await client.put(f"{CAL}/2027", json=NOTICE_2027, headers=office_staff)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.put(f"{CAL}/2027", json=NOTICE_2027)
    assert r.status_code == 401
    bad = {**NOTICE_2027, "holidays": ["2028-01-01"]}
    r = await client.put(f"{CAL}/2027", json=bad, headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert r.json()["errors"][0]["loc"] == ["body", "holidays", 0]
    weekday = {**NOTICE_2027, "working_days": ["2027-01-05"]}  # a Tuesday
    r = await client.put(f"{CAL}/2027", json=weekday, headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    both = {**NOTICE_2027, "working_days": ["2027-01-02"]}
    r = await client.put(f"{CAL}/2027", json=both, headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    # Nothing was loaded by the refusals.
    assert (await client.get(f"{CAL}/2027")).json()["source"] == "estimated"
    r = await client.get(f"{CAL}/1999")
    assert r.status_code == 422


async def test_a_later_notice_replaces_the_first(client, admin_headers):
    clock.reset()
    r = await client.put(f"{CAL}/2027", json=NOTICE_2027, headers=admin_headers)
    assert r.status_code == 200
    second = {**NOTICE_2027, "holidays": ["2027-01-01"], "working_days": [],
              "notice": "更正"}
    r = await client.put(f"{CAL}/2027", json=second, headers=admin_headers)
    assert r.status_code == 200
    got = (await client.get(f"{CAL}/2027")).json()
    assert got["holidays"] == ["2027-01-01"] and got["working_days"] == []
    assert got["notice"] == "更正"
