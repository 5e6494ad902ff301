"""Institution profiles, beds and their statuses, outside admissions, occupancy."""

from __future__ import annotations

from sqlalchemy import select

from schemas.audit import AuditEvent
from schemas.beds import BedOccupancy
from tests.api.test_beds_support import add_bed, check_pool_invariants, institution
from tests.factories import citizen_headers, make_id_number


async def test_institution_edits_its_own_profile_under_if_match(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    url = f"/v1/institutions/{inst['id']}"
    r = await client.get(url)
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert r.json()["vacancies"] == {"self_care": 0, "semi_care": 0, "full_care": 0,
                                     "dementia": 0}

    r = await client.patch(url, json={"phone": "028-85550009"}, headers=staff)
    assert r.status_code == 428
    assert r.json()["code"] == "precondition_required"
    r = await client.patch(url, json={"phone": "028-85550009", "medical_care": False},
                           headers={**staff, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "028-85550009" and r.json()["medical_care"] is False
    assert r.headers["etag"] != etag
    assert (await client.get(url)).headers["etag"] == r.headers["etag"]

    r = await client.patch(url, json={"phone": "028-85550003"},
                           headers={**staff, "If-Match": etag})
    assert r.status_code == 412
    assert r.json()["code"] == "precondition_failed"
    r = await client.patch(url, json={"lat": 91}, headers={**staff, "If-Match": etag})
    assert r.status_code == 422


async def test_other_institution_and_other_roles_cannot_edit(client, admin_headers, settings):
    inst, _ = await institution(client, admin_headers)
    _, other_staff = await institution(client, admin_headers, name="另一家养老院")
    url = f"/v1/institutions/{inst['id']}"
    etag = (await client.get(url)).headers["etag"]
    r = await client.patch(url, json={"phone": "028-85550001"},
                           headers={**other_staff, "If-Match": etag})
    assert r.status_code == 404
    r = await client.get(f"{url}/beds", headers=other_staff)
    assert r.status_code == 404
    r = await client.patch(url, json={"phone": "028-85550001"},
                           headers={**citizen_headers(settings), "If-Match": etag})
    assert r.status_code == 403
    r = await client.patch(url, json={"phone": "028-85550001"}, headers={"If-Match": etag})
    assert r.status_code == 401


async def test_unknown_institution_is_404(client):
    r = await client.get("/v1/institutions/org_nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_beds_are_added_listed_and_counted_as_vacancies(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "3-301-1", category="full_care")
    assert bed["status"] == "available" and bed["etag"].endswith('.1"')
    await add_bed(client, inst, staff, "3-301-2", category="full_care", status="maintenance")
    await add_bed(client, inst, staff, "1-101-1", category="self_care")

    r = await client.get(f"/v1/institutions/{inst['id']}/beds", headers=staff)
    assert r.status_code == 200
    assert {b["code"]: b["status"] for b in r.json()["items"]} == {
        "3-301-1": "available", "3-301-2": "maintenance", "1-101-1": "available"}
    assert all(b["etag"] for b in r.json()["items"])
    r = await client.get(f"/v1/institutions/{inst['id']}")
    assert r.json()["vacancies"] == {"self_care": 1, "semi_care": 0, "full_care": 1,
                                     "dementia": 0}


async def test_bed_code_is_unique_per_institution(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    other, other_staff = await institution(client, admin_headers, name="另一家")
    await add_bed(client, inst, staff, "A-1")
    await add_bed(client, other, other_staff, "A-1")
    r = await client.post(f"/v1/institutions/{inst['id']}/beds",
                          json={"code": "A-1", "category": "self_care", "monthly_fee_fen": 1},
                          headers=staff)
    assert r.status_code == 409
    assert r.json()["code"] == "duplicate_bed_code"


async def test_server_owned_bed_fields_are_refused(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    for extra in ({"status": "held"}, {"status": "occupied"}, {"version": 7}, {"id": "bed_x"},
                  {"institution_id": "org_x"}):
        body = {"code": "X", "category": "self_care", "monthly_fee_fen": 1, **extra}
        r = await client.post(f"/v1/institutions/{inst['id']}/beds", json=body, headers=staff)
        assert r.status_code == 422, extra
    bed = await add_bed(client, inst, staff, "X")
    url = f"/v1/institutions/{inst['id']}/beds/{bed['id']}"
    for status in ("held", "occupied"):
        r = await client.patch(url, json={"status": status},
                               headers={**staff, "If-Match": bed["etag"]})
        assert r.status_code == 422, status


async def test_bed_status_changes_need_if_match_and_move_vacancies(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "B-1", category="semi_care")
    url = f"/v1/institutions/{inst['id']}/beds/{bed['id']}"
    r = await client.patch(url, json={"status": "maintenance"}, headers=staff)
    assert r.status_code == 428
    r = await client.patch(url, json={"status": "maintenance"},
                           headers={**staff, "If-Match": bed["etag"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "maintenance"
    new_etag = r.headers["etag"]
    assert new_etag == r.json()["etag"] != bed["etag"]
    assert (await client.get(f"/v1/institutions/{inst['id']}")
            ).json()["vacancies"]["semi_care"] == 0

    r = await client.patch(url, json={"status": "available"},
                           headers={**staff, "If-Match": bed["etag"]})
    assert r.status_code == 412
    r = await client.patch(url, json={"status": "available", "monthly_fee_fen": 250000},
                           headers={**staff, "If-Match": new_etag})
    assert r.status_code == 200
    assert r.json()["monthly_fee_fen"] == 250000
    r = await client.get(url, headers=staff)
    assert r.headers["etag"] == r.json()["etag"]
    assert (await client.get(f"/v1/institutions/{inst['id']}")
            ).json()["vacancies"]["semi_care"] == 1


async def test_outside_resident_occupies_a_bed_and_discharge_frees_it(client, admin_headers,
                                                                      db):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "C-1", category="dementia")
    id_number = make_id_number("19400505", sex="male")
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"bed_id": bed["id"], "name": "王建国", "id_number": id_number},
                          headers=staff)
    assert r.status_code == 201, r.text
    occ = r.json()
    assert occ["outside_huimin"] is True and occ["application_id"] is None
    assert occ["resident_id_number_masked"] == id_number[:6] + "********" + id_number[-4:]
    assert id_number not in r.text
    assert (await client.get(f"/v1/institutions/{inst['id']}")
            ).json()["vacancies"]["dementia"] == 0

    # A held or occupied bed cannot take an outside resident; nor can an empty category.
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"bed_id": bed["id"], "name": "李四"}, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"category": "dementia", "name": "李四"}, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "no_bed_available"
    # An occupied bed's status is not the institution's to set.
    current = (await client.get(f"/v1/institutions/{inst['id']}/beds/{bed['id']}",
                                headers=staff)).json()
    r = await client.patch(f"/v1/institutions/{inst['id']}/beds/{bed['id']}",
                           json={"status": "available"},
                           headers={**staff, "If-Match": current["etag"]})
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          json={"reason": "moved"}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "available"
    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          headers=staff)
    assert r.status_code == 409

    r = await client.get(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/occupancies",
                         headers=staff)
    assert r.status_code == 200
    [hist] = r.json()["items"]
    assert hist["ended_at"] is not None and hist["end_reason"] == "moved"
    assert hist["resident_name"] == "王建国"
    async with db.session() as s:
        stored = (await s.execute(select(BedOccupancy))).scalar_one()
        assert id_number not in (stored.resident_id_encrypted or "")
        reads = (await s.execute(select(AuditEvent).where(
            AuditEvent.action == "bed_occupancy.read"))).scalars().all()
        assert len(reads) == 1
        writes = {e.action for e in (await s.execute(select(AuditEvent))).scalars()}
    assert {"bed.create", "bed.admit_outside", "bed.discharge"} <= writes
    await check_pool_invariants(db, inst["id"])


async def test_outside_resident_by_category_takes_a_maintenance_free_bed(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "M-1", category="self_care", status="maintenance")
    free = await add_bed(client, inst, staff, "M-2", category="self_care")
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"category": "self_care", "name": "赵六"}, headers=staff)
    assert r.status_code == 201
    assert r.json()["bed_id"] == free["id"]
    r = await client.get(f"/v1/institutions/{inst['id']}/occupancies", headers=staff)
    assert [o["bed_code"] for o in r.json()["items"]] == ["M-2"]
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"bed_id": free["id"], "category": "self_care", "name": "x"},
                          headers=staff)
    assert r.status_code == 422
