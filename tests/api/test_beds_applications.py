"""Applications: who may apply, the limits, idempotency, who may see them."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import clock
from schemas.audit import AuditEvent
from schemas.beds import BedApplicant, BedApplication
from tests.api.test_beds_support import apply, elder_id, institution, read_app
from tests.factories import (
    born_years_ago,
    citizen_headers,
    idem,
    make_id_number,
    org_with_staff,
    staff_headers,
)


async def test_elder_must_be_sixty_by_the_identity_number(client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    too_young = make_id_number(born_years_ago(60, clock.today(), extra_days=-1))
    r, _ = await apply(client, settings, inst["id"], id_number=too_young, expect=422)
    assert r["code"] == "underage"
    assert "60" in r["detail"]
    just_sixty = make_id_number(born_years_ago(60, clock.today()))
    r, _ = await apply(client, settings, inst["id"], id_number=just_sixty)
    assert r["status"] == "submitted"


async def test_bad_identity_number_and_unknown_institution(client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    bad = elder_id()
    bad = bad[:-1] + ("0" if bad[-1] != "0" else "1")
    r, _ = await apply(client, settings, inst["id"], id_number=bad, expect=422)
    assert r["code"] == "invalid_id_number"
    r, _ = await apply(client, settings, "org_missing", expect=404)
    assert r["code"] == "not_found"
    office, _ = await org_with_staff(client, admin_headers, "registration_office")
    r, _ = await apply(client, settings, office["id"], expect=404)


async def test_one_active_application_per_elder_institution_and_category(
        client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    elder = elder_id(70)
    first, citizen = await apply(client, settings, inst["id"], id_number=elder)
    # Another family member's account, same elder: still refused (the blind index).
    r, _ = await apply(client, settings, inst["id"], id_number=elder, expect=409)
    assert r["code"] == "duplicate_application"
    await apply(client, settings, inst["id"], id_number=elder, category="self_care")
    r = await client.post(f"/v1/bed-applications/{first['id']}/withdraw", headers=citizen)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    await apply(client, settings, inst["id"], id_number=elder)


async def test_at_most_three_active_applications_per_elder(client, admin_headers, settings, db):
    insts = [(await institution(client, admin_headers, name=f"养老院{i}"))[0] for i in range(4)]
    elder = elder_id(82)
    apps = []
    for inst in insts[:3]:
        app, citizen = await apply(client, settings, inst["id"], id_number=elder)
        apps.append((app, citizen))
    r, _ = await apply(client, settings, insts[3]["id"], id_number=elder, expect=409)
    assert r["code"] == "too_many_active_applications"
    app, citizen = apps[0]
    assert (await client.post(f"/v1/bed-applications/{app['id']}/withdraw",
                              headers=citizen)).status_code == 200
    await apply(client, settings, insts[3]["id"], id_number=elder)
    async with db.session() as s:
        counter = (await s.execute(select(BedApplicant))).scalar_one()
    assert counter.active_count == 3


async def test_application_needs_an_idempotency_key_and_replays(client, admin_headers, settings,
                                                                db):
    inst, _ = await institution(client, admin_headers)
    citizen = citizen_headers(settings)
    body = {"institution_id": inst["id"], "category": "semi_care",
            "elder": {"name": "刘芳", "id_number": elder_id(66), "phone": "13900139000"},
            "priority_groups": ["low_income"], "ability_level": 2}
    r = await client.post("/v1/bed-applications", json=body, headers=citizen)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    key = idem()
    first = await client.post("/v1/bed-applications", json=body, headers={**citizen, **key})
    assert first.status_code == 201, first.text
    again = await client.post("/v1/bed-applications", json=body, headers={**citizen, **key})
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    other = {**body, "category": "full_care"}
    r = await client.post("/v1/bed-applications", json=other, headers={**citizen, **key})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    async with db.session() as s:
        assert len((await s.execute(select(BedApplication))).scalars().all()) == 1


async def test_server_owned_fields_are_refused(client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    for extra in ({"status": "offered"}, {"priority_class": 0}, {"bed_id": "bed_x"},
                  {"waitlist_position": 1}):
        body = {"institution_id": inst["id"], "category": "self_care",
                "elder": {"name": "x", "id_number": elder_id(), "phone": "13800138000"},
                **extra}
        r = await client.post("/v1/bed-applications", json=body,
                              headers={**citizen_headers(settings), **idem()})
        assert r.status_code == 422, extra
        assert r.json()["code"] == "validation_error"


async def test_applicant_data_is_visible_only_to_the_citizen_and_the_institution(
        client, admin_headers, settings, db):
    inst, staff = await institution(client, admin_headers)
    _, other_staff = await institution(client, admin_headers, name="别家")
    elder = elder_id(77)
    app, citizen = await apply(client, settings, inst["id"], id_number=elder)
    assert app["elder"]["id_number_masked"] == elder[:6] + "********" + elder[-4:]
    assert "id_number" not in app["elder"]

    mine = await read_app(client, citizen, app["id"])
    assert mine["status"] == "submitted" and mine["waitlist_position"] is None
    theirs = await read_app(client, staff, app["id"])
    assert theirs["elder"]["name"] == "张秀英"

    url = f"/v1/bed-applications/{app['id']}"
    assert (await client.get(url, headers=citizen_headers(settings))).status_code == 404
    assert (await client.get(url, headers=other_staff)).status_code == 404
    office, _ = await org_with_staff(client, admin_headers, "registration_office")
    office_staff = await staff_headers(client, admin_headers, office["id"], "office", "o2")
    assert (await client.get(url, headers=office_staff)).status_code == 403
    # Nor may anyone else act on it.
    r = await client.post(f"{url}/withdraw", headers=citizen_headers(settings))
    assert r.status_code == 404
    r = await client.post(f"{url}/assess", json={"ability_level": 1}, headers=other_staff)
    assert r.status_code == 404

    lists = await client.get("/v1/bed-applications", headers=citizen)
    assert [a["id"] for a in lists.json()["items"]] == [app["id"]]
    lists = await client.get("/v1/bed-applications", headers=other_staff)
    assert lists.json()["items"] == []

    async with db.session() as s:
        stored = (await s.execute(select(BedApplication))).scalar_one()
        reads = (await s.execute(select(AuditEvent).where(
            AuditEvent.action == "bed_application.read"))).scalars().all()
        created = (await s.execute(select(AuditEvent).where(
            AuditEvent.action == "bed_application.create"))).scalars().all()
    assert elder not in stored.elder_id_encrypted and elder not in stored.elder_id_blind
    assert len(reads) == 1 and reads[0].actor_role == "institution"
    assert len(created) == 1 and created[0].org_id == inst["id"]
