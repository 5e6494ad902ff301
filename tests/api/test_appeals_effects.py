"""What an overturned appeal does to the record: a bed application regains its
place in the waiting list (offered before a later applicant), a home-care visit
becomes `corrected` and draws its subsidy as an approved correction does; a record
of the wrong kind or state is 422 `not_appealable`, another citizen's 404."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.clock import clock
from schemas.beds import BedApplicant, BedApplication
from tests.api.test_appeals_support import appeal, decide, rejected_claim
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
from tests.api.test_burial_support import bureau, claim_body, file_claim
from tests.api.test_home_care_support import DAY, at, book, elder
from tests.api.test_home_care_verification_support import (
    HOME,
    PRICE,
    allowance,
    correction,
    month_used,
    outbox,
    path,
    served,
    setup,
    submit,
)
from tests.api.test_home_care_verification_support import set_china_time as at_time
from tests.factories import citizen_headers, random_subject


async def _reject(client, staff, app_id: str) -> dict:
    r = await client.post(f"/v1/bed-applications/{app_id}/reject", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    return r.json()


async def test_an_overturned_bed_application_regains_its_place(client, settings,
                                                               admin_headers, db):
    inst, staff = await institution(client, admin_headers)
    b = await bureau(client, admin_headers, division="510107")
    first, citizen = await waiting_applicant(client, settings, inst, staff)
    assert first["status"] == "waitlisted"
    clock.set(clock.now() + timedelta(minutes=10))
    await _reject(client, staff, first["id"])
    clock.set(clock.now() + timedelta(minutes=10))
    later, _later_citizen = await waiting_applicant(client, settings, inst, staff)
    assert later["waitlist_position"] == 1
    # Not appealable while waiting; another citizen's application is not found.
    await appeal(client, renewed(settings, _later_citizen), "bed_application", later["id"],
                 expect=422, code="not_appealable")
    await appeal(client, citizen_headers(settings), "bed_application", first["id"],
                 expect=404, code="not_found")
    a = await appeal(client, renewed(settings, citizen), "bed_application", first["id"])
    assert a["division_code"] == "510107"
    await decide(client, b.reviewer, a["id"], expect=403, code="forbidden")
    assert (await decide(client, b.approver, a["id"]))["status"] == "overturned"
    back = await read_app(client, citizen, first["id"], settings)
    assert back["status"] == "waitlisted" and back["closed_at"] is None
    assert back["applied_at"] == first["applied_at"]
    assert back["waitlist_position"] == 1
    assert (await read_app(client, staff, later["id"]))["waitlist_position"] == 2
    # A bed comes free: offered to the restored application, not the later one.
    await add_bed(client, inst, staff, "101-1")
    assert (await read_app(client, staff, first["id"]))["status"] == "offered"
    assert (await read_app(client, staff, later["id"]))["status"] == "waitlisted"
    await check_pool_invariants(db, inst["id"])


async def test_an_overturn_supersedes_the_elders_newer_application(client, settings,
                                                                   admin_headers, db):
    inst, staff = await institution(client, admin_headers)
    b = await bureau(client, admin_headers, division="510107")
    person = elder_id()
    first, citizen = await waiting_applicant(client, settings, inst, staff, id_number=person)
    await _reject(client, staff, first["id"])
    again, _ = await waiting_applicant(client, settings, inst, staff, id_number=person,
                                       citizen=citizen)
    a = await appeal(client, citizen, "bed_application", first["id"])
    await decide(client, b.approver, a["id"])
    assert (await read_app(client, citizen, first["id"]))["status"] == "waitlisted"
    assert (await read_app(client, citizen, again["id"]))["status"] == "withdrawn"
    # One active application for the elder: a third is still refused as a duplicate.
    r = await client.post("/v1/bed-applications", json={
        "institution_id": inst["id"], "category": "full_care",
        "elder": {"name": "张秀英", "id_number": person, "phone": "13800138000"},
        "priority_groups": []}, headers={**citizen, "Idempotency-Key": random_subject()})
    assert r.status_code == 409, r.text
    await check_pool_invariants(db, inst["id"])
    async with db.session() as s:  # the elder's count of active applications: one
        counts = (await s.execute(select(BedApplicant.active_count))).scalars().all()
    assert counts == [1]


async def test_an_overturn_never_takes_a_bed_the_elders_newer_application_holds(
        client, settings, admin_headers, db):
    """Rejected, the family applied again and was offered a bed (then accepted it, or
    moved in): overturning the first refusal leaves that bed with the elder, and the
    refused application is closed as superseded, not put back on the waiting list."""
    b = await bureau(client, admin_headers, division="510107")
    for step in ("offered", "accepted", "admitted"):
        inst, staff = await institution(client, admin_headers, name=f"复核院{step}")
        person = elder_id()
        first, citizen = await waiting_applicant(client, settings, inst, staff,
                                                 id_number=person)
        await _reject(client, staff, first["id"])
        bed = await add_bed(client, inst, staff, "201-1")
        again, _ = await waiting_applicant(client, settings, inst, staff, id_number=person,
                                           citizen=citizen)
        assert again["status"] == "offered" and again["bed_id"] == bed["id"]
        if step in ("accepted", "admitted"):
            r = await client.post(f"/v1/bed-applications/{again['id']}/accept", headers=citizen)
            assert r.status_code == 200, r.text
        if step == "admitted":
            r = await client.post(f"/v1/bed-applications/{again['id']}/admit", headers=staff)
            assert r.status_code == 200, r.text
        a = await appeal(client, citizen, "bed_application", first["id"])
        assert (await decide(client, b.approver, a["id"]))["status"] == "overturned"
        kept = await read_app(client, citizen, again["id"])
        assert kept["status"] == step and kept["bed_id"] == bed["id"], (step, kept)
        closed = await read_app(client, citizen, first["id"])
        assert closed["status"] == "withdrawn" and closed["closed_at"] is not None, step
        await check_pool_invariants(db, inst["id"])
        async with db.session() as s:  # the elder's active applications: the newer one
            count = (await s.execute(select(BedApplicant.active_count).where(
                BedApplicant.elder_id_blind == (await _blind(s, again["id"]))))).scalar_one()
        assert count == (1 if step != "admitted" else 0), (step, count)


async def test_an_overturned_visit_is_corrected_and_draws_its_subsidy(client, settings,
                                                                      admin_headers, db):
    org, staff = await setup(client, admin_headers)
    person = elder(**HOME)
    await allowance(client, admin_headers, person, 10000)
    subject = random_subject()
    now = clock.now()
    at_time("2026-12-01")
    r = await book(client, settings, org["id"], at(DAY, "10:00"),
                   who=citizen_headers(settings, subject), elder_=person)
    assert r.status_code == 201, r.text
    clock.set(now)
    v = await served(client, staff, r.json(), "10:20", "11:20")
    assert v["verification"] == "exception"
    at_time(DAY, "16:00")
    await submit(client, staff, v, correction("10:00", "11:00"))
    b = await bureau(client, admin_headers, division="310101")
    # Not appealable before the bureau refused the correction.
    await appeal(client, citizen_headers(settings, subject), "home_care_visit", v["id"],
                 expect=422, code="not_appealable")
    r = await client.post(path(v, "corrections/reject"), json={"note": "无法核实"},
                          headers=b.reviewer)
    assert r.status_code == 200 and r.json()["family_paid_fen"] == PRICE
    assert await month_used(db) in (None, (10000, 0))
    a = await appeal(client, citizen_headers(settings, subject), "home_care_visit", v["id"])
    # The reviewer who rejected it, through his approver key, may not decide.
    await decide(client, b.reviewer_as_approver, a["id"], expect=403,
                 code="separation_of_duties")
    await decide(client, b.approver, a["id"])
    done = (await client.get(path(v), headers=citizen_headers(settings, subject))).json()
    assert done["verification"] == "corrected"
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (PRICE, 0)
    assert await month_used(db) == (10000, PRICE)
    corrected = await outbox(db, ".corrected")
    assert [e.object_id for e in corrected] == [v["id"]]


async def test_an_application_rejected_before_assessment_returns_to_be_assessed(
        client, settings, admin_headers, db):
    inst, staff = await institution(client, admin_headers)
    b = await bureau(client, admin_headers, division="510107")
    app, citizen = await apply(client, settings, inst["id"])
    await add_bed(client, inst, staff, "101-1")
    await _reject(client, staff, app["id"])
    a = await appeal(client, citizen, "bed_application", app["id"])
    await decide(client, b.approver, a["id"])
    back = await read_app(client, citizen, app["id"])
    # No class yet: not waiting (nor offered the free bed) until the institution assesses.
    assert back["status"] == "submitted" and back["closed_at"] is None
    assert back["applied_at"] == app["applied_at"]
    assessed = await assess(client, staff, app["id"])
    assert assessed["status"] == "offered"
    await check_pool_invariants(db, inst["id"])


async def test_an_overturn_refused_while_another_claim_for_the_deceased_is_live(
        client, settings, admin_headers):
    body = claim_body()
    claim, citizen, b = await rejected_claim(client, settings, admin_headers, body=body)
    a = await appeal(client, citizen, "burial_claim", claim["id"])
    await file_claim(client, settings, body)  # a rejected claim is not live: a new one
    r = await decide(client, b.reviewer_as_approver, a["id"], expect=403)
    r = await decide(client, b.approver, a["id"], expect=409, code="duplicate_claim")
    # Nothing moved: the appeal is still open, the claim still rejected.
    r = await client.get(f"/v1/appeals/{a['id']}", headers=citizen)
    assert r.json()["status"] == "submitted"
    r = await client.get(f"/v1/burial/claims/{claim['id']}", headers=citizen)
    assert r.json()["status"] == "rejected"
    assert (await decide(client, b.approver, a["id"], "upheld"))["status"] == "upheld"


async def _blind(s, application_id: str) -> str:
    return (await s.execute(select(BedApplication.elder_id_blind).where(
        BedApplication.id == application_id))).scalar_one()
