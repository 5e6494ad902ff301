"""Visit verification (EVV): each exception code appears when, and only when, its
threshold is crossed (boundaries included); late check-in is recorded, not refused;
a verified visit pays, an exception holds its subsidy and pays nothing; the worker
completes a visit never checked out once, however often and on however many nodes
it runs, and tells of a missed check-in once."""

from __future__ import annotations

import asyncio

from core.clock import clock
from services.home_care import corrections
from tests.api.test_home_care_support import DAY, elder
from tests.api.test_home_care_verification_support import (
    HOME,
    PRICE,
    PROVIDER_AT,
    allowance,
    audits,
    check_in,
    check_out,
    km,
    month_used,
    north_of,
    outbox,
    path,
    run_jobs,
    served,
    setup,
    visit,
    visits_on,
)
from tests.api.test_home_care_verification_support import set_china_time as at_time

DAY2, DAY3 = "2026-12-09", "2026-12-10"


async def test_on_time_at_home_and_in_full_is_verified_and_paid(client, admin_headers,
                                                                settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    v = await visit(client, settings, org, person=person)
    done = await served(client, staff, v, "10:00", "11:00")
    assert done["status"] == "completed" and done["verification"] == "verified"
    assert done["exceptions"] == [] and done["location_flagged"] is False
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (PRICE, 0)
    assert done["subsidy_held_fen"] is None and done["correction"] is None
    assert await month_used(db) == (10000, PRICE)


async def test_late_check_in_is_recorded_beyond_15_minutes_and_never_refused_before_the_end(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    on_time, late, last = await visits_on(client, settings, org, (DAY, DAY2, DAY3))
    # Exactly 15 minutes after the start is on time; a minute more is late.
    r = await check_in(client, staff, on_time, "10:15")
    assert r["status"] == "in_service" and r["exceptions"] == []
    r = await check_in(client, staff, late, "10:16", day=DAY2)
    assert r["status"] == "in_service" and r["exceptions"] == ["late_check_in"]
    # Late check-in is possible until the booked end, not after.
    await check_in(client, staff, last, "11:01", day=DAY3, expect=422)
    r = await check_in(client, staff, last, "11:00", day=DAY3)
    assert r["exceptions"] == ["late_check_in"]
    assert (await check_out(client, staff, on_time, "11:15"))["verification"] == "verified"
    done = await check_out(client, staff, late, "11:16", day=DAY2)
    assert done["verification"] == "exception" and done["exceptions"] == ["late_check_in"]


async def test_early_check_in_keeps_its_window(client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await visit(client, settings, org)
    r = await check_in(client, staff, v, "08:59", expect=422)  # 61 minutes early
    assert r["code"] == "check_in_outside_window"
    assert (await check_in(client, staff, v, "09:00"))["exceptions"] == []


async def test_short_visit_below_75_percent_of_the_booked_duration(client, admin_headers,
                                                                   settings):
    org, staff = await setup(client, admin_headers)
    full, short, early = await visits_on(client, settings, org, (DAY, DAY2, DAY3))
    # 45 of 60 minutes is 75 %: not short; 44 is.
    assert (await served(client, staff, full, "10:00", "10:45"))["exceptions"] == []
    done = await served(client, staff, short, "10:00", "10:44", day=DAY2)
    assert done["exceptions"] == ["short_visit"] and done["verification"] == "exception"
    # Served counts from the check-in: 45 minutes from an early arrival are not short.
    assert (await served(client, staff, early, "09:30", "10:15", day=DAY3))["exceptions"] == []


async def test_location_beyond_the_tolerance_of_the_home_at_check_in_or_out(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    near, far = north_of(HOME, 0.95), north_of(HOME, 1.05)
    assert km(near, HOME) < 1 < km(far, HOME)
    inside, out_far, in_far = await visits_on(client, settings, org, (DAY, DAY2, DAY3))
    done = await served(client, staff, inside, "10:00", "11:00", where_in=near, where_out=near)
    assert done["verification"] == "verified" and done["location_flagged"] is False
    done = await served(client, staff, out_far, "10:00", "11:00", day=DAY2, where_out=far)
    assert done["exceptions"] == ["location_mismatch"] and done["location_flagged"] is True
    r = await check_in(client, staff, in_far, "10:00", day=DAY3, where=far)
    assert r["exceptions"] == ["location_mismatch"] and r["location_flagged"] is True
    done = await check_out(client, staff, in_far, "11:00", day=DAY3)
    assert done["exceptions"] == ["location_mismatch"]


async def test_unknown_home_the_check_in_within_the_providers_area_the_check_out_where_it_was(
        client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    unknown = elder()  # no position given for the home
    stayed, moved, elsewhere = await visits_on(client, settings, org, (DAY, DAY2, DAY3),
                                               person=unknown)
    somewhere = north_of(PROVIDER_AT, 5)  # 5 km from the provider: inside its 20 km
    done = await served(client, staff, stayed, "10:00", "11:00", where_in=somewhere,
                        where_out=north_of(somewhere, 0.95))
    assert done["verification"] == "verified"
    done = await served(client, staff, moved, "10:00", "11:00", day=DAY2, where_in=somewhere,
                        where_out=north_of(somewhere, 1.05))
    assert done["exceptions"] == ["location_mismatch"]
    beijing = {"lat": 39.9, "lon": 116.4}
    r = await check_in(client, staff, elsewhere, "10:00", day=DAY3, where=beijing)
    assert r["exceptions"] == ["location_mismatch"]


async def test_several_codes_at_once_in_a_fixed_order(client, admin_headers, settings):
    org, staff = await setup(client, admin_headers)
    v = await visit(client, settings, org)
    done = await served(client, staff, v, "10:30", "10:50", where_out=north_of(HOME, 3))
    assert done["exceptions"] == ["location_mismatch", "late_check_in", "short_visit"]


async def test_an_exception_holds_its_subsidy_and_pays_nothing(client, admin_headers,
                                                               settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    first = await visit(client, settings, org, person=person)
    second = await visit(client, settings, org, day=DAY2, person=person)
    done = await served(client, staff, first, "10:20", "11:20")
    assert done["verification"] == "exception"
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (0, None)
    assert done["subsidy_held_fen"] == PRICE
    # Nothing was taken: the next verified visit is paid in full from the allowance.
    assert await month_used(db) in (None, (10000, 0))
    paid = await served(client, staff, second, "10:00", "11:00", day=DAY2)
    assert (paid["subsidy_paid_fen"], paid["family_paid_fen"]) == (PRICE, 0)
    assert await month_used(db) == (10000, PRICE)
    # What is held is what the allowance would have paid when the exception was found
    # (not reserved: the allowance has 4000 left now, and the decision pays from that).
    r = await client.get(path(first), headers=staff)
    assert r.json()["subsidy_held_fen"] == PRICE
    r = await client.get(f"/v1/providers/{org['id']}/home-care-ledger",
                         params={"month": "2026-12"}, headers=staff)
    assert {e["booking_id"]: e["subsidy_paid_fen"] for e in r.json()["items"]} == {
        first["id"]: 0, second["id"]: PRICE}
    # The provider's ledger tells a held visit from one the family paid in full.
    ledger = {e["booking_id"]: e for e in r.json()["items"]}
    assert (ledger[first["id"]]["verification"], ledger[first["id"]]["family_paid_fen"],
            ledger[first["id"]]["subsidy_held_fen"]) == ("exception", None, PRICE)
    assert (ledger[second["id"]]["verification"],
            ledger[second["id"]]["family_paid_fen"]) == ("verified", 0)


async def test_missing_check_out_is_completed_by_the_worker_once(client, admin_headers,
                                                                 settings, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    v = await visit(client, settings, org, person=person)
    await check_in(client, staff, v, "10:00")
    at_time(DAY, "12:59")  # the visit ended at 11:00; two hours after is 13:00
    assert await run_jobs(db, settings) == 0
    assert (await client.get(path(v), headers=staff)).json()["status"] == "in_service"
    at_time(DAY, "13:00")
    assert await run_jobs(db, settings) == 1
    assert await run_jobs(db, settings) == 0  # run again: nothing more
    done = (await client.get(path(v), headers=staff)).json()
    assert done["status"] == "completed" and done["check_out_at"] is None
    assert done["completed_at"] is not None
    assert done["verification"] == "exception" and done["exceptions"] == ["missing_check_out"]
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (0, None)
    assert done["subsidy_held_fen"] == PRICE
    assert await month_used(db) in (None, (10000, 0))
    [completed] = await outbox(db, ".completed")
    assert completed.object_id == v["id"] and completed.data["verification"] == "exception"
    assert completed.data["exceptions"] == ["missing_check_out"]
    [row] = await audits(db, "home_care_booking.auto_complete", v["id"])
    assert row.actor_kind == "system"
    # A check-out after that is too late.
    r = await check_out(client, staff, v, "13:05", expect=409)
    assert r["code"] == "invalid_state"


async def test_two_nodes_completing_missing_check_outs_at_once_complete_each_once(
        client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers, caregivers=3)
    visits = [await visit(client, settings, org) for _ in range(3)]
    for v in visits:
        await check_in(client, staff, v, "10:00")
    at_time(DAY, "13:30")

    async def node() -> int:
        async with db.session() as session:
            n = await corrections.complete_missing_check_outs(session, settings, clock.now())
            await session.commit()
        return n

    results = await asyncio.gather(*(node() for _ in range(4)))
    assert sum(results) == 3, results
    assert len(await outbox(db, ".completed")) == 3
    assert len(await audits(db, "home_care_booking.auto_complete")) == 3
    for v in visits:
        assert (await client.get(path(v), headers=staff)).json()["exceptions"] == [
            "missing_check_out"]


async def test_the_worker_completion_keeps_the_check_ins_own_exceptions(
        client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    v = await visit(client, settings, org)
    await check_in(client, staff, v, "10:40", where=north_of(HOME, 2))
    at_time(DAY, "14:00")
    assert await run_jobs(db, settings) == 1
    done = (await client.get(path(v), headers=staff)).json()
    assert done["exceptions"] == ["location_mismatch", "late_check_in", "missing_check_out"]
    assert done["location_flagged"] is True


async def test_a_visit_not_checked_in_30_minutes_after_its_start_is_told_once(
        client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers, caregivers=2)
    missed = await visit(client, settings, org)
    attended = await visit(client, settings, org)
    await check_in(client, staff, attended, "10:20")
    at_time(DAY, "10:29")
    assert await run_jobs(db, settings) == 0
    at_time(DAY, "10:30")
    assert await run_jobs(db, settings) == 1
    at_time(DAY, "10:45")
    assert await run_jobs(db, settings) == 0
    [event] = await outbox(db, ".missed_check_in")
    assert event.object_id == missed["id"] and event.org_id == org["id"]
    assert event.division_code == "310101"  # the bureau's subscription hears of it
    assert event.data["status"] == "booked"
    # A late check-in afterwards is still possible, and no second event is written.
    await check_in(client, staff, missed, "10:50")
    assert await run_jobs(db, settings) == 0
    assert len(await outbox(db, ".missed_check_in")) == 1
