"""Open statistics (API.md "Open statistics"): public aggregates, small numbers
suppressed, kept for a while and computed once per burst, and the `/stats` page.

The rows counted are written straight into the tables (`_insert`): what is tested
here is the counting, not how the services make their rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, insert

from core.clock import CHINA_TZ, clock
from core.ids import new_id
from schemas.beds import Bed, BedApplication
from schemas.burial import BurialClaim, BurialPolicy
from schemas.capacity import CapacitySlot
from schemas.home_care import HomeCareBooking, HomeCareCaregiver
from schemas.marriage import MarriageAppointment, MarriageClosure, MarriageSchedule
from schemas.organisation import Organisation
from services.marriage import calendar
from services.stats.answers import ANSWERS, TTL_SECONDS

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=CHINA_TZ)  # a Friday


@pytest.fixture(autouse=True)
def _fresh_answers():
    ANSWERS.clear()
    clock.set(NOW)
    yield
    ANSWERS.clear()


def _placeholder(col: Any) -> Any:
    kind = getattr(col.type, "impl", col.type)
    if isinstance(kind, JSON):
        return []
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 0
    if isinstance(kind, DateTime):
        return NOW
    if isinstance(kind, Date):
        return NOW.date()
    if isinstance(kind, String):
        return "x" if col.name != "id" else new_id("x")
    return None


async def _insert(db, model: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of `model`'s table, every column they do not name that must have a value
    given a neutral one (nothing personal: no identity number is ever made here)."""
    table = model.__table__
    full = []
    for row in rows:
        out = dict(row)
        for col in table.columns:
            if col.name in out or col.nullable or col.computed is not None \
                    or col.server_default is not None:
                continue
            out[col.name] = _placeholder(col)
        full.append(out)
    async with db.session() as session:
        await session.execute(insert(table), full)
        await session.commit()


async def _org(db, kind: str, division_code: str, name: str = "某机构") -> str:
    org_id = new_id("org")
    await _insert(db, Organisation, [{"id": org_id, "kind": kind, "name": name,
                                      "division_code": division_code}])
    return org_id


def _blind() -> str:
    return uuid.uuid4().hex


async def _get(client, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(path, params={k: v for k, v in params.items() if v is not None})
    assert r.status_code == 200, r.text
    return r.json()


# --- beds ---------------------------------------------------------------------------


async def _beds(db, institution: str, *, occupied: int, available: int, admitted: int,
                wait_days: int = 10) -> None:
    rows = [{"id": new_id("bed"), "institution_id": institution, "code": new_id("b")[-12:],
             "category": "full_care", "monthly_fee_fen": 300000,
             "status": "occupied" if i < occupied else "available"}
            for i in range(occupied + available)]
    await _insert(db, Bed, rows)
    at = clock.now() - dt.timedelta(days=30)
    if not admitted:
        return
    await _insert(db, BedApplication, [{
        "id": new_id("bap"), "institution_id": institution, "category": "full_care",
        "elder_id_blind": _blind(), "status": "admitted",
        "applied_at": at - dt.timedelta(days=wait_days), "admitted_at": at,
        "priority_groups": [], "verified_priority_groups": []} for _ in range(admitted)])


def _category(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in body["categories"] if c["category"] == name)


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True)])
async def test_bed_figures_about_fewer_than_five_people_are_suppressed(client, db, people,
                                                                        shown):
    inst = await _org(db, "care_institution", "510107")
    await _beds(db, inst, occupied=people, available=3, admitted=people, wait_days=12)
    body = await _get(client, "/v1/stats/beds", division_code="510107")
    full = _category(body, "full_care")
    assert (full["beds"], full["available"]) == (people + 3, 3)  # places: never suppressed
    if shown:
        assert full["occupied"] == 5
        assert full["occupancy_rate"] == round(5 / 8, 4)
        assert full["median_wait_days"] == 12
        assert full["suppressed"] == []
    else:
        assert full["occupied"] is None and full["occupancy_rate"] is None
        assert full["median_wait_days"] is None and full["admissions"] is None
        assert set(full["suppressed"]) == {"occupied", "occupancy_rate", "median_wait_days",
                                           "admissions"}
    assert body["division_code"] == "510107" and body["division_name"]


async def test_bed_statistics_count_only_the_division_and_admissions_of_the_last_year(
        client, db):
    inside = await _org(db, "care_institution", "510107")
    elsewhere = await _org(db, "care_institution", "110105")
    await _beds(db, inside, occupied=6, available=1, admitted=5, wait_days=20)
    await _beds(db, elsewhere, occupied=9, available=9, admitted=5, wait_days=2)
    old = clock.now() - dt.timedelta(days=400)
    await _insert(db, BedApplication, [{
        "id": new_id("bap"), "institution_id": inside, "category": "full_care",
        "elder_id_blind": _blind(), "status": "admitted", "applied_at": old,
        "admitted_at": old + dt.timedelta(days=1)} for _ in range(5)])
    city = _category(await _get(client, "/v1/stats/beds", division_code="510100"), "full_care")
    assert (city["beds"], city["occupied"], city["median_wait_days"]) == (7, 6, 20)
    assert city["admissions"] == 5
    country = _category(await _get(client, "/v1/stats/beds"), "full_care")
    assert (country["beds"], country["occupied"]) == (25, 15)
    assert country["median_wait_days"] == 11  # 5 x 20 days and 5 x 2 days


# --- marriage -----------------------------------------------------------------------


async def _office(db, division: str, name: str = "武侯区婚姻登记处") -> str:
    office = await _org(db, "registration_office", division, name)
    # Tuesday and Thursday mornings, 10 seats each.
    await _insert(db, MarriageSchedule, [{
        "office_id": office, "booking_opens_days_ahead": 30, "min_notice_hours": 1,
        "cancel_deadline_hours": 1,
        "sessions": [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 10},
                     {"weekday": 4, "start": "09:00", "end": "12:00", "capacity": 10}]}])
    return office


async def _appointments(db, office: str, day: dt.date, statuses: list[str]) -> None:
    sid = calendar.slot_id(office, day, "09:00")
    await _insert(db, CapacitySlot, [{"id": sid, "owner_org_id": office,
                                      "kind": calendar.SLOT_KIND, "capacity": 10,
                                      "booked": len(statuses)}])
    start = calendar.local_to_utc(day, "09:00")
    await _insert(db, MarriageAppointment, [{
        "id": new_id("apt"), "office_id": office, "slot_id": sid, "session_date": day,
        "starts_at": start, "ends_at": start + dt.timedelta(hours=3), "kind": "marriage",
        "status": status, "owner_subject": "c", "check_in_code": "000000"}
        for status in statuses])


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True)])
async def test_marriage_figures_about_fewer_than_five_appointments_are_suppressed(
        client, db, people, shown):
    office = await _office(db, "510107")
    # November 2026: Tuesdays 3, 10, 17, 24 and Thursdays 5, 12, 19, 26: 8 sessions.
    await _appointments(db, office, dt.date(2026, 11, 17),
                        ["completed"] * (people - 1) + ["no_show"])
    await _appointments(db, office, dt.date(2026, 11, 19), ["cancelled"] * 3)
    body = await _get(client, "/v1/stats/marriage", division_code="510107", month="2026-11")
    assert body["month"] == "2026-11"
    [row] = body["offices"]
    assert (row["office_id"], row["sessions"], row["seats"]) == (office, 8, 80)
    if shown:
        assert (row["booked"], row["fill_rate"], row["no_show_rate"]) == (5, 0.0625, 0.2)
        assert row["suppressed"] == []
    else:
        assert row["booked"] is None and row["fill_rate"] is None
        assert row["no_show_rate"] is None
        assert set(row["suppressed"]) == {"booked", "fill_rate", "no_show_rate"}


async def test_marriage_sessions_follow_the_office_calendar_and_default_to_this_month(
        client, db):
    office = await _office(db, "110105", "朝阳区婚姻登记处")
    await _insert(db, MarriageClosure, [{"id": new_id("clo"), "office_id": office,
                                        "closure_date": dt.date(2026, 11, 24),
                                        "reason": "停电"}])
    await _appointments(db, office, dt.date(2026, 11, 26), ["booked"] * 6)
    body = await _get(client, "/v1/stats/marriage", division_code="110000")
    assert body["month"] == "2026-11"  # clock: 2026-11-20 China time
    [row] = body["offices"]
    assert (row["sessions"], row["seats"], row["booked"]) == (7, 70, 6)
    # Six appointments, none of them due yet (26 November is after `as_of`).
    assert row["no_show_rate"] is None and row["suppressed"] == ["no_show_rate"]
    assert (await _get(client, "/v1/stats/marriage", division_code="510000"))["offices"] == []


# --- burial -------------------------------------------------------------------------


async def _claims(db, division: str, *, paid: int, rejected: int = 0, method: str = "sea",
                  days: int = 20) -> None:
    policy = new_id("bpo")
    await _insert(db, BurialPolicy, [{"id": policy, "division_code": division[:2] + "0000",
                                      "method": method, "amount_fen": 400000,
                                      "effective_from": dt.date(2026, 1, 1),
                                      "claim_deadline_days": 90}])
    filed = dt.datetime(2026, 3, 1, 10, tzinfo=CHINA_TZ)
    rows = [{"id": new_id("bcl"), "status": "paid", "paid_at": filed + dt.timedelta(days=days)}
            for _ in range(paid)]
    rows += [{"id": new_id("bcl"), "status": "rejected", "paid_at": None}
             for _ in range(rejected)]
    for row in rows:
        row.update({"policy_id": policy, "amount_fen": 400000, "division_code": division,
                    "burial_method": method, "deceased_id_blind": _blind(),
                    "created_at": filed, "submitted_at": filed, "documents": []})
    await _insert(db, BurialClaim, rows)


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True)])
async def test_burial_figures_about_fewer_than_five_claims_are_suppressed(client, db, people,
                                                                           shown):
    await _claims(db, "110105", paid=people, rejected=5)
    body = await _get(client, "/v1/stats/burial", division_code="110105", year=2026)
    sea = next(m for m in body["methods"] if m["method"] == "sea")
    assert sea["submitted"] == people + 5 and sea["rejected"] == 5
    if shown:
        assert (sea["paid"], sea["approved"], sea["amount_paid_fen"]) == (5, 5, 2000000)
        assert (sea["median_days_to_payment"], sea["p90_days_to_payment"]) == (20, 20)
        assert sea["suppressed"] == []
    else:
        assert sea["paid"] is None and sea["approved"] is None
        assert sea["amount_paid_fen"] is None and sea["median_days_to_payment"] is None
        assert set(sea["suppressed"]) == {"approved", "paid", "amount_paid_fen",
                                          "median_days_to_payment", "p90_days_to_payment"}
    tree = next(m for m in body["methods"] if m["method"] == "tree")
    assert tree["submitted"] is None and "submitted" in tree["suppressed"]


async def test_burial_statistics_count_the_year_of_first_submission(client, db):
    await _claims(db, "110105", paid=6)
    assert (await _get(client, "/v1/stats/burial", year=2025))["methods"][0]["submitted"] is None
    body = await _get(client, "/v1/stats/burial")
    assert body["year"] == 2026 and body["division_code"] is None
    assert next(m for m in body["methods"] if m["method"] == "sea")["paid"] == 6


# --- home care ----------------------------------------------------------------------


async def _visits(db, division: str, verifications: list[tuple[str, list[str], int]]) -> None:
    provider = await _org(db, "home_care_provider", division)
    caregiver = new_id("cg")
    await _insert(db, HomeCareCaregiver, [{"id": caregiver, "provider_id": provider,
                                           "name": "护理员", "skills": ["cleaning"],
                                           "weekly_hours": []}])
    rows = []
    for i, (verification, exceptions, subsidy) in enumerate(verifications):
        start = dt.datetime(2026, 11, 2 + i, 9, tzinfo=CHINA_TZ)
        rows.append({"id": new_id("hcb"), "provider_id": provider, "caregiver_id": caregiver,
                     "service_code": "cleaning", "status": "completed",
                     "visit_date": start.date(), "starts_at": start,
                     "ends_at": start + dt.timedelta(hours=2),
                     "blocked_until": start + dt.timedelta(hours=2), "price_fen": 10000,
                     "verification": verification, "exceptions": exceptions,
                     "subsidy_paid_fen": subsidy})
    await _insert(db, HomeCareBooking, rows)


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True)])
async def test_home_care_figures_about_fewer_than_five_visits_are_suppressed(
        client, db, people, shown):
    visits = [("verified", [], 3000)] * people
    visits += [("exception", ["late_check_in"], 0)] * people
    visits += [("exception", ["short_visit"], 0)]
    await _visits(db, "510107", visits)
    body = await _get(client, "/v1/stats/home-care", division_code="510107", month="2026-11")
    cleaning = next(s for s in body["services"] if s["service_code"] == "cleaning")
    assert cleaning["visits_completed"] == 2 * people + 1  # 9 or 11: shown both times
    assert cleaning["exceptions"]["short_visit"] is None  # one visit
    assert cleaning["exceptions"]["missing_check_out"] is None  # none
    if shown:
        assert cleaning["verified_rate"] == round(5 / 11, 4)
        assert cleaning["exceptions"]["late_check_in"] == 5
        assert cleaning["subsidy_paid_fen"] == 5 * 3000
        assert set(cleaning["suppressed"]) == {"exceptions.short_visit",
                                               "exceptions.missing_check_out",
                                               "exceptions.location_mismatch"}
    else:
        assert cleaning["exceptions"]["late_check_in"] is None
        assert cleaning["verified_rate"] is not None  # a rate over 9 completed visits
        assert cleaning["subsidy_paid_fen"] is None  # paid on 4 visits
        assert "subsidy_paid_fen" in cleaning["suppressed"]
    bathing = next(s for s in body["services"] if s["service_code"] == "bathing")
    assert bathing["visits_completed"] is None and "visits_completed" in bathing["suppressed"]


# --- the rules every answer shares ----------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/stats/beds", "/v1/stats/marriage", "/v1/stats/burial",
                                  "/v1/stats/home-care", "/stats"])
async def test_an_unknown_division_is_refused(client, path):
    r = await client.get(path, params={"division_code": "119999"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_division_code"
    r = await client.get(path, params={"division_code": "11"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/stats/marriage", {"month": "2026-13"}), ("/v1/stats/marriage", {"month": "1999-12"}),
    ("/v1/stats/home-care", {"month": "2026-1"}), ("/v1/stats/burial", {"year": 1999}),
    ("/v1/stats/burial", {"year": 2100})])
async def test_periods_outside_2000_to_2099_are_refused(client, path, params):
    r = await client.get(path, params=params)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_statistics_need_no_credentials_but_refuse_bad_ones(client):
    assert (await client.get("/v1/stats/beds")).status_code == 200
    r = await client.get("/v1/stats/beds", headers={"X-API-Key": "hm_wrong"})
    assert r.status_code == 401


async def test_an_answer_is_kept_until_its_time_is_up_then_computed_again(client, db):
    inst = await _org(db, "care_institution", "510107")
    await _beds(db, inst, occupied=5, available=0, admitted=0)
    first = await client.get("/v1/stats/beds")
    assert _category(first.json(), "full_care")["occupied"] == 5
    assert first.headers["cache-control"] == f"public, max-age={TTL_SECONDS}"
    await _beds(db, inst, occupied=2, available=0, admitted=0)

    clock.advance(dt.timedelta(seconds=TTL_SECONDS - 1))
    kept = await client.get("/v1/stats/beds")
    assert kept.content == first.content  # the same bytes: not computed again
    assert kept.headers["cache-control"] == "public, max-age=1"

    clock.advance(dt.timedelta(seconds=1))
    again = await client.get("/v1/stats/beds")
    assert _category(again.json(), "full_care")["occupied"] == 7
    as_of = dt.datetime.fromisoformat(again.json()["as_of"])
    assert as_of == NOW + dt.timedelta(seconds=TTL_SECONDS)
    assert again.headers["etag"] != first.headers["etag"]


async def test_a_burst_of_requests_computes_an_answer_once(client, db):
    await _claims(db, "110105", paid=5)
    before = ANSWERS.computed
    answers = await asyncio.gather(*[client.get("/v1/stats/burial",
                                                params={"division_code": "110000"})
                                     for _ in range(12)])
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert ANSWERS.computed - before == 1


async def test_a_current_etag_is_answered_not_modified(client):
    first = await client.get("/v1/stats/home-care", params={"month": "2026-10"})
    again = await client.get("/v1/stats/home-care", params={"month": "2026-10"},
                             headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


# --- the page -----------------------------------------------------------------------


async def test_the_page_shows_the_figures_as_svg_with_no_script(client, db):
    office = await _office(db, "510107", "<b>武侯</b>婚姻登记处")
    await _appointments(db, office, dt.date(2026, 11, 17), ["completed"] * 2)
    inst = await _org(db, "care_institution", "510107")
    await _beds(db, inst, occupied=6, available=2, admitted=6)
    r = await client.get("/stats", params={"division_code": "510100"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    page = r.text
    assert "<script" not in page.lower()
    assert page.count("<svg") >= 6
    for heading in ("养老机构床位", "婚姻登记预约", "节地生态安葬奖补", "居家社区养老服务"):
        assert heading in page
    assert "&lt;b&gt;武侯&lt;/b&gt;婚姻登记处" in page and "<b>武侯" not in page
    assert "—（少于5例，不公开）" in page  # two bookings only
    assert "四川省成都市" in page
    for ref in ("http://", "https://", "//"):
        assert f'src="{ref}' not in page and f'href="{ref}' not in page


async def test_no_answer_names_a_person(client, db):
    person = "欧阳明月"
    inst = await _org(db, "care_institution", "510107")
    await _insert(db, BedApplication, [{
        "id": new_id("bap"), "institution_id": inst, "category": "full_care",
        "elder_id_blind": _blind(), "elder_name": person, "status": "admitted",
        "applied_at": NOW - dt.timedelta(days=40), "admitted_at": NOW - dt.timedelta(days=3)}
        for _ in range(6)])
    await _claims(db, "510107", paid=6)
    async with db.session() as session:
        await session.execute(BurialClaim.__table__.update().values(
            deceased_name=person, claimant_name=person))
        await session.commit()
    await _visits(db, "510107", [("verified", [], 3000)] * 6)
    async with db.session() as session:
        await session.execute(HomeCareBooking.__table__.update().values(elder_name=person))
        await session.commit()
    bodies = [(await client.get(path, params={"division_code": "510100"})).text for path in (
        "/v1/stats/beds", "/v1/stats/marriage", "/v1/stats/burial", "/v1/stats/home-care",
        "/stats")]
    assert all(person not in body for body in bodies)
    assert '"admissions":6' in bodies[0]  # the rows were counted
