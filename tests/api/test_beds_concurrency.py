"""Real concurrent requests (on the embedded PostgreSQL and on TEST_DATABASE_URL's): the invariants
hold whatever the interleaving."""

from __future__ import annotations

import asyncio

from tests.api.test_beds_support import (
    add_bed,
    apply,
    assess,
    check_pool_invariants,
    elder_id,
    institution,
    read_app,
    waiting_applicant,
)
from tests.factories import citizen_headers, idem, staff_headers


async def test_twelve_assessments_at_once_for_two_free_beds(client, admin_headers, settings,
                                                            db):
    inst, staff = await institution(client, admin_headers)
    beds = [await add_bed(client, inst, staff, f"T-{i}") for i in range(2)]
    apps = [(await apply(client, settings, inst["id"], age=70 + i))[0] for i in range(12)]

    results = await asyncio.gather(*(
        client.post(f"/v1/bed-applications/{a['id']}/assess",
                    json={"ability_level": 2, "verified_priority_groups": []}, headers=staff)
        for a in apps))
    assert [r.status_code for r in results] == [200] * 12, [r.text for r in results]
    offered = [r.json() for r in results if r.json()["status"] == "offered"]
    assert len(offered) == 2
    assert sorted(o["bed_id"] for o in offered) == sorted(b["id"] for b in beds)
    now = [await read_app(client, staff, a["id"]) for a in apps]
    assert sum(a["status"] == "offered" for a in now) == 2
    assert sum(a["status"] == "waitlisted" for a in now) == 10
    listed = (await client.get(f"/v1/institutions/{inst['id']}/beds", headers=staff)).json()
    assert {b["status"] for b in listed["items"]} == {"held"}
    await check_pool_invariants(db, inst["id"])


async def test_two_staff_with_the_same_etag_one_wins(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    other = await staff_headers(client, admin_headers, inst["id"], "institution", "护理部-周")
    for round_ in range(4):
        bed = await add_bed(client, inst, staff, f"E-{round_}")
        url = f"/v1/institutions/{inst['id']}/beds/{bed['id']}"
        r1, r2 = await asyncio.gather(
            client.patch(url, json={"status": "maintenance"},
                         headers={**staff, "If-Match": bed["etag"]}),
            client.patch(url, json={"monthly_fee_fen": 1},
                         headers={**other, "If-Match": bed["etag"]}))
        assert sorted([r1.status_code, r2.status_code]) == [200, 412], (r1.text, r2.text)
        loser = r1 if r1.status_code == 412 else r2
        assert loser.json()["code"] == "precondition_failed"
        after = (await client.get(url, headers=staff)).json()
        assert after["etag"].endswith('.2"')
        # Only the winner's change is there.
        assert (after["status"] == "maintenance") != (after["monthly_fee_fen"] == 1)


async def test_discharge_racing_an_admission_loses_no_bed(client, admin_headers, settings, db):
    for round_ in range(3):
        inst, staff = await institution(client, admin_headers, name=f"竞态院{round_}")
        bed_a = await add_bed(client, inst, staff, "A")
        x, cx = await waiting_applicant(client, settings, inst, staff, age=90)
        assert (await client.post(f"/v1/bed-applications/{x['id']}/accept",
                                  headers=cx)).status_code == 200
        assert (await client.post(f"/v1/bed-applications/{x['id']}/admit",
                                  headers=staff)).status_code == 200
        bed_b = await add_bed(client, inst, staff, "B")
        y, cy = await waiting_applicant(client, settings, inst, staff, age=85)
        assert y["bed_id"] == bed_b["id"]
        assert (await client.post(f"/v1/bed-applications/{y['id']}/accept",
                                  headers=cy)).status_code == 200
        w1, _ = await waiting_applicant(client, settings, inst, staff, age=80)
        w2, _ = await waiting_applicant(client, settings, inst, staff, age=70)

        discharged, admitted = await asyncio.gather(
            client.post(f"/v1/institutions/{inst['id']}/beds/{bed_a['id']}/discharge",
                        headers=staff),
            client.post(f"/v1/bed-applications/{y['id']}/admit", headers=staff))
        assert discharged.status_code == 200, discharged.text
        assert admitted.status_code == 200, admitted.text
        assert (await read_app(client, staff, w1["id"]))["bed_id"] == bed_a["id"]
        assert (await read_app(client, staff, w1["id"]))["status"] == "offered"
        assert (await read_app(client, staff, w2["id"]))["status"] == "waitlisted"
        beds = {b["code"]: b for b in (await client.get(
            f"/v1/institutions/{inst['id']}/beds", headers=staff)).json()["items"]}
        assert beds["A"]["status"] == "held" and beds["A"]["application_id"] == w1["id"]
        assert beds["B"]["status"] == "occupied" and beds["B"]["application_id"] == y["id"]
        await check_pool_invariants(db, inst["id"])


async def test_one_elder_applying_everywhere_at_once_gets_three(client, admin_headers,
                                                                settings, db):
    insts = [(await institution(client, admin_headers, name=f"院{i}"))[0] for i in range(5)]
    elder = elder_id(80)

    def body(inst_id: str) -> dict:
        return {"institution_id": inst_id, "category": "full_care",
                "elder": {"name": "陈桂英", "id_number": elder, "phone": "13700137000"}}

    results = await asyncio.gather(*(
        client.post("/v1/bed-applications", json=body(i["id"]),
                    headers={**citizen_headers(settings), **idem()}) for i in insts))
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 201, 409, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {
        "too_many_active_applications"}
    # And twice at once to the same institution and category: one of them.
    elder2 = elder_id(81)
    same = {**body(insts[0]["id"]),
            "elder": {"name": "周玉兰", "id_number": elder2, "phone": "13700137001"}}
    results = await asyncio.gather(*(
        client.post("/v1/bed-applications", json=same,
                    headers={**citizen_headers(settings), **idem()}) for _ in range(3)))
    assert sorted(r.status_code for r in results) == [201, 409, 409]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {
        "duplicate_application"}
    staff = [await staff_headers(client, admin_headers, i["id"], "institution", "s2")
             for i in insts[:1]]
    created = [r.json() for r in results if r.status_code == 201]
    assert (await assess(client, staff[0], created[0]["id"]))["status"] == "waitlisted"
