"""Beds as a family and an institution expect (issue 10, part 6): one institution
at a time, a fee the family can pay, offers that show the bed and its fee, fee
ranges and medical care in the search, ratings and names set by the admin, and
expired offers passed on promptly."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import func, select

from core.clock import clock
from schemas.beds import BedOccupancy
from services import alarm
from tests.api.test_beds_support import (
    add_bed,
    apply,
    assess,
    check_pool_invariants,
    elder_id,
    institution,
    read_app,
    renewed,
    waiting_applicant,
)

APPS = "/v1/bed-applications"


async def _accepted(client, settings, inst, staff, id_number, **kwargs):
    """The elder's application at `inst`, offered a free bed and accepted."""
    app, citizen = await apply(client, settings, inst["id"], id_number=id_number, **kwargs)
    offered = await assess(client, staff, app["id"])
    assert offered["status"] == "offered", offered
    r = await client.post(f"{APPS}/{app['id']}/accept", headers=citizen)
    assert r.status_code == 200, r.text
    return app, citizen


async def _open_stays(db) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(BedOccupancy)
                                .where(BedOccupancy.ended_at.is_(None)))).scalar_one()


# --- one institution at a time ------------------------------------------------------


async def test_an_elder_living_in_one_institution_is_not_admitted_to_another(
        client, admin_headers, settings, db):
    a, staff_a = await institution(client, admin_headers, name="甲养老院")
    b, staff_b = await institution(client, admin_headers, name="乙养老院")
    bed_a = await add_bed(client, a, staff_a, "A-1")
    await add_bed(client, b, staff_b, "B-1")
    idn = elder_id(82)
    at_a, _ = await _accepted(client, settings, a, staff_a, idn)
    at_b, _ = await _accepted(client, settings, b, staff_b, idn)
    r = await client.post(f"{APPS}/{at_a['id']}/admit", headers=staff_a)
    assert r.status_code == 200, r.text

    r = await client.post(f"{APPS}/{at_b['id']}/admit", headers=staff_b)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "elder_already_resident"
    assert (await read_app(client, staff_b, at_b["id"]))["status"] == "accepted"
    # Nor as a resident recorded outside huimin, anywhere (a bed is free there).
    await add_bed(client, b, staff_b, "B-2")
    r = await client.post(f"/v1/institutions/{b['id']}/residents",
                          json={"category": "full_care", "name": "张秀英", "id_number": idn},
                          headers=staff_b)
    assert r.status_code == 409 and r.json()["code"] == "elder_already_resident"
    assert await _open_stays(db) == 1

    # Once discharged at A, B may admit the elder.
    r = await client.post(f"/v1/institutions/{a['id']}/beds/{bed_a['id']}/discharge",
                          json={"reason": "转院"}, headers=staff_a)
    assert r.status_code == 200, r.text
    r = await client.post(f"{APPS}/{at_b['id']}/admit", headers=staff_b)
    assert r.status_code == 200, r.text
    await check_pool_invariants(db, a["id"])
    await check_pool_invariants(db, b["id"])


async def test_two_institutions_admitting_the_same_elder_at_once_one_wins(
        client, admin_headers, settings, db):
    for round_ in range(3):
        a, staff_a = await institution(client, admin_headers, name=f"并发甲{round_}")
        b, staff_b = await institution(client, admin_headers, name=f"并发乙{round_}")
        await add_bed(client, a, staff_a, "A-1")
        await add_bed(client, b, staff_b, "B-1")
        idn = elder_id(78 + round_)
        at_a, _ = await _accepted(client, settings, a, staff_a, idn)
        at_b, _ = await _accepted(client, settings, b, staff_b, idn)
        before = await _open_stays(db)
        r1, r2 = await asyncio.gather(
            client.post(f"{APPS}/{at_a['id']}/admit", headers=staff_a),
            client.post(f"{APPS}/{at_b['id']}/admit", headers=staff_b))
        assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
        loser = r1 if r1.status_code == 409 else r2
        assert loser.json()["code"] == "elder_already_resident"
        assert await _open_stays(db) == before + 1
        await check_pool_invariants(db, a["id"])
        await check_pool_invariants(db, b["id"])


# --- fees -----------------------------------------------------------------------


async def test_no_offer_exceeds_what_the_family_can_pay(client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    dear = await add_bed(client, inst, staff, "3-301", fee=500000)
    # First in line (90 years old), but the family can pay at most 4,000 yuan.
    capped, c_citizen = await apply(client, settings, inst["id"], age=90, max_fee=400000)
    assert capped["max_monthly_fee_fen"] == 400000
    capped = await assess(client, staff, capped["id"])
    assert capped["status"] == "waitlisted" and capped["bed_id"] is None
    # The dear bed goes to the next in line, who set no limit.
    other, o_citizen = await waiting_applicant(client, settings, inst, staff, age=70)
    assert other["status"] == "offered" and other["bed_id"] == dear["id"]
    # A bed the family can pay is offered to them, showing its code and fee.
    cheap = await add_bed(client, inst, staff, "1-101", fee=380000)
    now = await read_app(client, c_citizen, capped["id"])
    assert now["status"] == "offered" and now["bed_id"] == cheap["id"]
    assert now["bed_code"] == "1-101" and now["bed_monthly_fee_fen"] == 380000
    other = await read_app(client, o_citizen, other["id"])
    assert other["bed_code"] == "3-301" and other["bed_monthly_fee_fen"] == 500000
    await check_pool_invariants(db, inst["id"])


async def test_a_negative_fee_limit_is_refused(client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    r, _ = await apply(client, settings, inst["id"], max_fee=-1, expect=422)
    assert r["code"] == "validation_error"


async def test_search_shows_each_categorys_fee_range_and_honours_medical_care(
        client, admin_headers):
    medical, staff_m = await institution(client, admin_headers, name="医养结合院",
                                         division_code="510107", medical_care=True)
    plain, staff_p = await institution(client, admin_headers, name="普通养老院",
                                       division_code="510107", medical_care=False)
    await add_bed(client, medical, staff_m, "F-1", category="full_care", fee=380000)
    await add_bed(client, medical, staff_m, "F-2", category="full_care", fee=450000,
                  status="maintenance")
    await add_bed(client, medical, staff_m, "S-1", category="self_care", fee=200000)
    await add_bed(client, plain, staff_p, "S-1", category="self_care", fee=150000)

    r = await client.get("/v1/institutions", params={"division_code": "510107"})
    assert r.status_code == 200, r.text
    found = {i["id"]: i for i in r.json()["items"]}
    assert found[medical["id"]]["monthly_fees"] == {
        "self_care": {"min_fen": 200000, "max_fen": 200000},
        "semi_care": None,
        "full_care": {"min_fen": 380000, "max_fen": 450000},
        "dementia": None}
    assert found[plain["id"]]["monthly_fees"]["self_care"] == {"min_fen": 150000,
                                                               "max_fen": 150000}
    profile = (await client.get(f"/v1/institutions/{medical['id']}")).json()
    assert profile["monthly_fees"]["full_care"] == {"min_fen": 380000, "max_fen": 450000}

    r = await client.get("/v1/institutions", params={"division_code": "510107",
                                                     "medical_care": "true"})
    assert [i["id"] for i in r.json()["items"]] == [medical["id"]]
    r = await client.get("/v1/institutions", params={"division_code": "510107",
                                                     "medical_care": "false"})
    assert [i["id"] for i in r.json()["items"]] == [plain["id"]]


async def test_a_fee_change_changes_the_profiles_etag(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "F-1", fee=380000, status="maintenance")
    before = (await client.get(f"/v1/institutions/{inst['id']}")).headers["etag"]
    r = await client.patch(f"/v1/institutions/{inst['id']}/beds/{bed['id']}",
                           json={"monthly_fee_fen": 390000},
                           headers={**staff, "If-Match": bed["etag"]})
    assert r.status_code == 200, r.text
    after = await client.get(f"/v1/institutions/{inst['id']}",
                             headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.json()["monthly_fees"]["full_care"]["min_fen"] == 390000


# --- what the admin sets ----------------------------------------------------------


async def test_rating_division_and_name_are_the_admins_to_set(client, admin_headers):
    inst, staff = await institution(client, admin_headers, rating=3)
    url = f"/v1/institutions/{inst['id']}"
    for change in ({"rating": 5}, {"name": "五星养老院"}, {"division_code": "110105"}):
        tag = (await client.get(url)).headers["etag"]
        r = await client.patch(url, json=change, headers={**staff, "If-Match": tag})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["code"] == "validation_error"
        assert r.json()["errors"][0]["loc"] == ["body", next(iter(change))]
    profile = (await client.get(url)).json()
    assert profile["rating"] == 3 and profile["name"] == inst["name"]
    # Its own contact details and medical care stay the institution's.
    tag = (await client.get(url)).headers["etag"]
    r = await client.patch(url, json={"phone": "028-85550001", "medical_care": True},
                           headers={**staff, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "028-85550001" and r.json()["medical_care"] is True

    # The admin sets the rating (the civil-affairs assessment), name and division.
    admin_url = f"/v1/admin/organisations/{inst['id']}"
    tag = (await client.get(admin_url, headers=admin_headers)).headers["etag"]
    r = await client.patch(admin_url, json={"rating": 5, "name": "武侯区社会福利院（五星）",
                                            "division_code": "510104"},
                           headers={**admin_headers, "If-Match": tag})
    assert r.status_code == 200, r.text
    profile = (await client.get(url)).json()
    assert profile["rating"] == 5 and profile["division_code"] == "510104"
    assert profile["name"] == "武侯区社会福利院（五星）"


# --- expired offers passed on promptly ---------------------------------------------


async def _wait_for(client, citizen, app_id, status, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await read_app(client, citizen, app_id))["status"] == status:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_sweep_runs_at_start_up(app, client, admin_headers, settings, db):
    """An offer that expired while no server ran: the bed moves at start-up, not
    after the sweep's longest sleep (an hour here)."""
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "M-1")
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=85)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    assert first["status"] == "offered" and second["status"] == "waitlisted"
    clock.advance(timedelta(hours=settings.beds_offer_hold_hours + 1))
    app.state.settings.maintenance_interval_seconds = 3600
    citizen2 = renewed(settings, citizen2)
    async with app.router.lifespan_context(app):
        assert await _wait_for(client, citizen2, second["id"], "offered", 5)
    await check_pool_invariants(db, inst["id"])


async def test_the_sweep_wakes_at_the_next_offers_expiry(app, client, admin_headers,
                                                        settings, db):
    """Sleeping its longest (an hour), the sweep is woken by a new offer and passes
    the bed on as soon as that offer expires (after 2 seconds here)."""
    app.state.settings.maintenance_interval_seconds = 3600
    app.state.settings.beds_offer_hold_hours = 2 / 3600
    inst, staff = await institution(client, admin_headers)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.3)  # the start-up run is over; now it sleeps an hour
        await add_bed(client, inst, staff, "M-1")
        first, citizen = await waiting_applicant(client, settings, inst, staff, age=85)
        second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
        assert first["status"] == "offered" and second["status"] == "waitlisted"
        assert await _wait_for(client, citizen2, second["id"], "offered", 8)
        assert (await read_app(client, citizen, first["id"]))["status"] == "expired"
    await check_pool_invariants(db, inst["id"])


async def test_the_sweep_finds_expiries_made_by_other_processes(app, client, admin_headers,
                                                               settings, db):
    """An offer made before this process started (so never noted here): the sweep
    reads its expiry from the database and wakes then."""
    app.state.settings.beds_offer_hold_hours = 2 / 3600
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "M-1")
    first, _ = await waiting_applicant(client, settings, inst, staff, age=85)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    assert first["status"] == "offered"
    maintenance_alarm_forget()
    app.state.settings.maintenance_interval_seconds = 3600
    async with app.router.lifespan_context(app):
        assert await _wait_for(client, citizen2, second["id"], "offered", 8)
    await check_pool_invariants(db, inst["id"])


def maintenance_alarm_forget() -> None:
    """As if the offer had been made by another process: this one noted nothing."""
    alarm.offers.pending(clock.now() + timedelta(days=365))
