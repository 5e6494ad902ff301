"""Assessment, the priority waiting list, offers, expiry, admission and discharge."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from core.clock import CHINA_TZ, clock, utc
from schemas.audit import AuditEvent
from schemas.beds import BedOccupancy
from services.beds import pool, priority
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
from tests.factories import make_id_number


async def test_assessment_orders_the_waiting_list_by_priority_class(client, admin_headers,
                                                                    settings, db):
    inst, staff = await institution(client, admin_headers)
    plain, _ = await waiting_applicant(client, settings, inst, staff, age=70, ability=1)
    low_mild, _ = await waiting_applicant(client, settings, inst, staff, age=70, ability=1,
                                          groups=("low_income",))
    old, _ = await waiting_applicant(client, settings, inst, staff, age=85, ability=0)
    lost, _ = await waiting_applicant(client, settings, inst, staff, age=65, ability=0,
                                      groups=("lost_only_child",))
    low_moderate, _ = await waiting_applicant(client, settings, inst, staff, age=70, ability=2,
                                              groups=("minimum_living",))
    severe, _ = await waiting_applicant(client, settings, inst, staff, age=62, ability=3)
    destitute, citizen = await waiting_applicant(client, settings, inst, staff, age=75,
                                                 ability=0, groups=("destitute",))
    # Claimed but not verified by the institution: no priority.
    claimed, _ = await apply(client, settings, inst["id"], age=70, groups=("destitute",))
    claimed = await assess(client, staff, claimed["id"], ability=0, groups=())

    assert [a["priority_class"] for a in (destitute, low_moderate, lost, old, severe, plain,
                                          low_mild, claimed)] == [0, 1, 2, 3, 3, 4, 4, 4]
    r = await client.get(f"/v1/institutions/{inst['id']}/waitlist?category=full_care",
                         headers=staff)
    assert r.status_code == 200
    order = [a["id"] for a in r.json()["items"]]
    expected = [destitute, low_moderate, lost, old, severe, plain, low_mild, claimed]
    assert order == [a["id"] for a in expected]
    assert [a["waitlist_position"] for a in r.json()["items"]] == list(range(1, 9))
    assert (await read_app(client, citizen, destitute["id"]))["waitlist_position"] == 1

    # Paged, the order holds across pages.
    r1 = await client.get(f"/v1/institutions/{inst['id']}/waitlist?limit=3", headers=staff)
    r2 = await client.get(f"/v1/institutions/{inst['id']}/waitlist?limit=3&cursor="
                          f"{r1.json()['next_cursor']}", headers=staff)
    assert [a["id"] for a in r1.json()["items"] + r2.json()["items"]] == order[:6]
    async with db.session() as s:
        reads = (await s.execute(select(AuditEvent).where(
            AuditEvent.action == "bed_application.waitlist_read"))).scalars().all()
    assert len(reads) == 3


async def test_assessment_offers_a_free_bed_at_once_and_holds_it(client, admin_headers,
                                                                 settings, db):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "F-1")
    app, citizen = await waiting_applicant(client, settings, inst, staff, ability=3)
    assert app["status"] == "offered" and app["bed_id"] == bed["id"]
    assert app["bed_code"] == "F-1" and app["waitlist_position"] is None
    expires = utc(datetime.fromisoformat(app["offer_expires_at"]))
    assert abs(expires - clock.now() - timedelta(hours=72)) < timedelta(seconds=5)
    r = await client.get(f"/v1/institutions/{inst['id']}/beds/{bed['id']}", headers=staff)
    assert r.json()["status"] == "held" and r.json()["application_id"] == app["id"]
    assert (await client.get(f"/v1/institutions/{inst['id']}")
            ).json()["vacancies"]["full_care"] == 0
    # A held bed is not the institution's to set.
    r = await client.patch(f"/v1/institutions/{inst['id']}/beds/{bed['id']}",
                           json={"status": "maintenance"},
                           headers={**staff, "If-Match": r.json()["etag"]})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await check_pool_invariants(db, inst["id"])


async def test_a_new_bed_goes_to_the_first_in_line(client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    later, _ = await waiting_applicant(client, settings, inst, staff, age=70, ability=0)
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=88, ability=0)
    assert later["status"] == first["status"] == "waitlisted"
    bed = await add_bed(client, inst, staff, "N-1")
    assert bed["status"] == "held" and bed["application_id"] == first["id"]
    offered = await read_app(client, citizen, first["id"])
    assert offered["status"] == "offered" and offered["offer_expires_at"]
    assert (await read_app(client, staff, later["id"]))["waitlist_position"] == 1
    await check_pool_invariants(db, inst["id"])


async def test_reserved_beds_go_only_to_the_destitute(client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    ordinary, _ = await waiting_applicant(client, settings, inst, staff, age=90, ability=4)
    reserved = await add_bed(client, inst, staff, "R-1", reserved=True)
    assert reserved["status"] == "available"
    assert (await read_app(client, staff, ordinary["id"]))["status"] == "waitlisted"
    destitute, _ = await waiting_applicant(client, settings, inst, staff, ability=0,
                                           groups=("destitute",))
    assert destitute["status"] == "offered" and destitute["bed_id"] == reserved["id"]
    # With an ordinary and a reserved bed free, the destitute elder takes the reserved one.
    inst2, staff2 = await institution(client, admin_headers, name="二院")
    plain_bed = await add_bed(client, inst2, staff2, "P-1")
    res_bed = await add_bed(client, inst2, staff2, "R-2", reserved=True)
    d2, _ = await waiting_applicant(client, settings, inst2, staff2, groups=("destitute",))
    o2, _ = await waiting_applicant(client, settings, inst2, staff2, age=70)
    assert (await read_app(client, staff2, d2["id"]))["bed_id"] == res_bed["id"]
    assert (await read_app(client, staff2, o2["id"]))["bed_id"] == plain_bed["id"]
    await check_pool_invariants(db, inst["id"])
    await check_pool_invariants(db, inst2["id"])


async def test_an_offer_expires_by_the_clock_and_the_bed_passes_on(client, admin_headers,
                                                                   settings, db):
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "E-1")
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=85)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    assert first["status"] == "offered" and second["status"] == "waitlisted"

    clock.advance(timedelta(hours=72) - timedelta(seconds=1))
    citizen, citizen2 = renewed(settings, citizen), renewed(settings, citizen2)
    assert (await read_app(client, citizen, first["id"]))["status"] == "offered"
    clock.advance(timedelta(seconds=1))
    # Nothing has been swept: the reads are right all the same.
    expired = await read_app(client, citizen, first["id"])
    assert expired["status"] == "expired" and expired["offer_expires_at"] is None
    bed = (await client.get(f"/v1/institutions/{inst['id']}/beds", headers=staff)
           ).json()["items"][0]
    assert bed["status"] == "available" and bed["application_id"] is None
    assert (await client.get(f"/v1/institutions/{inst['id']}")
            ).json()["vacancies"]["full_care"] == 1
    r = await client.post(f"/v1/bed-applications/{first['id']}/accept", headers=citizen)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    # The next write on the pool passes the bed on, with a fresh hold.
    third, _ = await waiting_applicant(client, settings, inst, staff, age=70)
    assert third["status"] == "waitlisted"
    now_second = await read_app(client, citizen2, second["id"])
    assert now_second["status"] == "offered" and now_second["bed_id"] == bed["id"]
    fresh_expiry = utc(datetime.fromisoformat(now_second["offer_expires_at"]))
    assert abs(fresh_expiry - clock.now() - timedelta(hours=72)) < timedelta(seconds=5)
    assert (await read_app(client, citizen, first["id"]))["status"] == "expired"
    await check_pool_invariants(db, inst["id"])
    # The expired application no longer counts against the elder.
    async with db.session() as s:
        actions = [e.action for e in (await s.execute(
            select(AuditEvent).where(AuditEvent.object_id == first["id"]))).scalars()]
    assert "bed_application.expire" in actions


async def test_the_sweep_passes_expired_offers_on(client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "S-1")
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=85)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    clock.advance(timedelta(hours=100))
    citizen, citizen2 = renewed(settings, citizen), renewed(settings, citizen2)
    async with db.session() as s:
        assert await pool.sweep(s, settings) == 1
        await s.commit()
    assert (await read_app(client, citizen2, second["id"]))["status"] == "offered"
    assert (await read_app(client, citizen, first["id"]))["status"] == "expired"
    await check_pool_invariants(db, inst["id"])


async def test_accept_admit_discharge_and_the_bed_moves_on(client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "A-1")
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=90)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    url = f"/v1/bed-applications/{first['id']}"
    assert (await client.post(f"{url}/admit", headers=staff)).status_code == 409
    r = await client.post(f"{url}/accept", headers=citizen)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    # Accepting keeps the hold past the offer's expiry, until admission.
    clock.advance(timedelta(hours=200))
    citizen, citizen2 = renewed(settings, citizen), renewed(settings, citizen2)
    assert (await read_app(client, citizen, first["id"]))["status"] == "accepted"
    r = await client.post(f"{url}/accept", headers=citizen)
    assert r.status_code == 409
    r = await client.post(f"{url}/admit", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "admitted"
    r = await client.get(f"/v1/institutions/{inst['id']}/beds/{bed['id']}", headers=staff)
    assert r.json()["status"] == "occupied" and r.json()["application_id"] == first["id"]
    assert (await read_app(client, citizen2, second["id"]))["status"] == "waitlisted"

    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          headers=staff)
    assert r.status_code == 200
    assert r.json()["status"] == "held"  # offered on at once
    assert (await read_app(client, citizen2, second["id"]))["status"] == "offered"
    r = await client.get(f"/v1/institutions/{inst['id']}/occupancies", headers=staff)
    [occ] = r.json()["items"]
    assert occ["application_id"] == first["id"] and occ["ended_at"] is not None
    assert occ["outside_huimin"] is False
    async with db.session() as s:
        assert (await s.execute(select(BedOccupancy))).scalar_one().ended_at is not None
    await check_pool_invariants(db, inst["id"])


async def test_decline_and_withdraw_pass_the_bed_to_the_next(client, admin_headers, settings,
                                                            db):
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "D-1")
    a, ca = await waiting_applicant(client, settings, inst, staff, age=90)
    b, cb = await waiting_applicant(client, settings, inst, staff, age=80)
    c, cc = await waiting_applicant(client, settings, inst, staff, age=70)
    assert (await client.post(f"/v1/bed-applications/{b['id']}/decline",
                              headers=cb)).status_code == 409  # not offered
    r = await client.post(f"/v1/bed-applications/{a['id']}/decline", headers=ca)
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert (await read_app(client, cb, b["id"]))["status"] == "offered"
    r = await client.post(f"/v1/bed-applications/{b['id']}/withdraw", headers=cb)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert (await read_app(client, cc, c["id"]))["status"] == "offered"
    r = await client.post(f"/v1/bed-applications/{c['id']}/reject", headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    beds = (await client.get(f"/v1/institutions/{inst['id']}/beds", headers=staff)).json()
    assert beds["items"][0]["status"] == "available"
    # Finished applications cannot be acted on again.
    for app, action, who in ((a, "withdraw", ca), (b, "accept", cb), (c, "decline", cc)):
        r = await client.post(f"/v1/bed-applications/{app['id']}/{action}", headers=who)
        assert r.status_code == 409, action
    await check_pool_invariants(db, inst["id"])


async def test_reassessment_moves_a_waiting_application(client, admin_headers, settings):
    inst, staff = await institution(client, admin_headers)
    a, _ = await waiting_applicant(client, settings, inst, staff, age=70, ability=1)
    b, cb = await waiting_applicant(client, settings, inst, staff, age=70, ability=1)
    assert (await read_app(client, cb, b["id"]))["waitlist_position"] == 2
    b = await assess(client, staff, b["id"], ability=4)
    assert b["priority_class"] == 3 and b["waitlist_position"] == 1
    assert (await read_app(client, staff, a["id"]))["waitlist_position"] == 2


async def test_an_expired_offer_no_longer_counts_against_the_elder(client, admin_headers,
                                                                   settings):
    insts = [await institution(client, admin_headers, name=f"限额院{i}") for i in range(4)]
    elder = elder_id(83)
    inst0, staff0 = insts[0]
    await add_bed(client, inst0, staff0, "X-1")
    offered, citizen = await waiting_applicant(client, settings, inst0, staff0, id_number=elder)
    assert offered["status"] == "offered"
    for inst, _ in insts[1:3]:
        await apply(client, settings, inst["id"], id_number=elder, citizen=citizen)
    r, _ = await apply(client, settings, insts[3][0]["id"], id_number=elder, citizen=citizen,
                       expect=409)
    assert r["code"] == "too_many_active_applications"

    clock.advance(timedelta(hours=73))
    citizen = renewed(settings, citizen)
    r = await client.get("/v1/bed-applications?status=expired", headers=citizen)
    assert [a["id"] for a in r.json()["items"]] == [offered["id"]]
    r = await client.get("/v1/bed-applications?status=offered", headers=citizen)
    assert r.json()["items"] == []
    # Not swept yet, and still the elder may apply again, even to the same bed pool.
    again, _ = await apply(client, settings, inst0["id"], id_number=elder, citizen=citizen)
    assert again["status"] == "submitted"
    r, _ = await apply(client, settings, insts[3][0]["id"], id_number=elder, citizen=citizen,
                       expect=409)
    assert r["code"] == "too_many_active_applications"


async def test_an_elder_who_turns_80_while_waiting_moves_up(client, admin_headers, settings,
                                                            db):
    """The class is the one on today's date (China time), not frozen at assessment:
    in the waiting list, in `waitlist_position`, and in who is offered a freed bed."""
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ))
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "T-1")
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"bed_id": bed["id"], "name": "王建国"}, headers=staff)
    assert r.status_code == 201, r.text
    a, citizen_a = await waiting_applicant(
        client, settings, inst, staff, ability=0, id_number=make_id_number(date(1946, 12, 15)))
    assert a["status"] == "waitlisted"
    assert a["priority_class"] == 4 and a["waitlist_position"] == 1
    b, citizen_b = await waiting_applicant(client, settings, inst, staff, age=85, ability=0)
    assert b["priority_class"] == 3 and b["waitlist_position"] == 1
    assert (await read_app(client, citizen_a, a["id"]))["waitlist_position"] == 2

    async def waitlist() -> list[tuple[str, int, int]]:
        r = await client.get(f"/v1/institutions/{inst['id']}/waitlist", headers=staff)
        assert r.status_code == 200, r.text
        return [(x["id"], x["priority_class"], x["waitlist_position"])
                for x in r.json()["items"]]

    # The last day at 79, to the second in China time: still class 4.
    clock.set(datetime(2026, 12, 14, 23, 59, 59, tzinfo=CHINA_TZ))
    assert await waitlist() == [(b["id"], 3, 1), (a["id"], 4, 2)]
    clock.set(datetime(2026, 12, 15, 0, 0, tzinfo=CHINA_TZ))
    assert await waitlist() == [(a["id"], 3, 1), (b["id"], 3, 2)]

    clock.set(datetime(2027, 1, 10, 10, 0, tzinfo=CHINA_TZ))
    now_a = await read_app(client, citizen_a, a["id"], settings)
    assert now_a["priority_class"] == 3 and now_a["waitlist_position"] == 1
    assert (await read_app(client, citizen_b, b["id"], settings))["waitlist_position"] == 2
    assert await waitlist() == [(a["id"], 3, 1), (b["id"], 3, 2)]

    # The freed bed goes to A: same class as B now, and applied first.
    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "held" and r.json()["application_id"] == a["id"]
    assert (await read_app(client, citizen_a, a["id"], settings))["status"] == "offered"
    later_b = await read_app(client, citizen_b, b["id"], settings)
    assert later_b["status"] == "waitlisted" and later_b["waitlist_position"] == 1
    await check_pool_invariants(db, inst["id"])


async def test_a_reassessment_replaces_the_age_schedule(client, admin_headers, settings):
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ))
    inst, staff = await institution(client, admin_headers)
    a, citizen_a = await waiting_applicant(
        client, settings, inst, staff, ability=0, id_number=make_id_number(date(1946, 12, 15)))
    a = await assess(client, staff, a["id"], ability=1, groups=("lost_only_child",))
    assert a["priority_class"] == 2
    clock.set(datetime(2027, 1, 10, 10, 0, tzinfo=CHINA_TZ))
    # Turning 80 (class 3) does not push a class-2 elder down.
    assert (await read_app(client, citizen_a, a["id"], settings))["priority_class"] == 2
    a = await assess(client, staff, a["id"], ability=0)
    assert a["priority_class"] == 3  # reassessed when already 80


async def test_a_city_with_several_priority_ages_moves_an_elder_up_at_each(
        client, admin_headers, settings, monkeypatch):
    rules = (*priority.DEFAULT_RULES, priority.PriorityRule(2, min_age=90, note="aged 90+"))
    monkeypatch.setitem(priority.RULES_BY_DIVISION, "5101", rules)
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=CHINA_TZ))
    inst, staff = await institution(client, admin_headers)  # division 510107
    a, citizen = await waiting_applicant(
        client, settings, inst, staff, ability=0, id_number=make_id_number(date(1947, 6, 1)))
    assert a["priority_class"] == 4
    for day, expected in ((date(2027, 5, 31), 4), (date(2027, 6, 1), 3),
                          (date(2037, 5, 31), 3), (date(2037, 6, 1), 2)):
        clock.set(datetime(day.year, day.month, day.day, 12, 0, tzinfo=CHINA_TZ))
        assert (await read_app(client, citizen, a["id"], settings))["priority_class"] == expected
