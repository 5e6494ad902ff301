"""Catalogue and offerings."""

from __future__ import annotations

from tests.api.test_home_care_support import provider
from tests.factories import org_with_staff


async def test_catalogue_is_public_with_eight_services_and_durations(client):
    r = await client.get("/v1/home-care/services")
    assert r.status_code == 200
    assert r.json()["next_cursor"] is None
    items = {s["code"]: s for s in r.json()["items"]}
    assert set(items) == {"meal_assist", "cleaning", "bathing", "medical_escort",
                          "mobility_assist", "emergency_help", "day_care", "rehab_nursing"}
    assert items["meal_assist"]["name"] == "助餐"
    assert all(s["default_duration_minutes"] > 0 for s in items.values())


async def test_offering_is_created_then_changed_only_under_if_match(client, admin_headers):
    org, staff = await org_with_staff(client, admin_headers, "home_care_provider")
    path = f"/v1/providers/{org['id']}/offerings/bathing"
    r = await client.put(path, json={"price_fen": 8000}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["duration_minutes"] == 90  # the catalogue's default
    tag = r.headers["ETag"]
    assert r.json()["etag"] == tag
    r = await client.put(path, json={"price_fen": 9000}, headers=staff)
    assert r.status_code == 428
    r = await client.put(path, json={"price_fen": 9000, "duration_minutes": 60},
                         headers={**staff, "If-Match": tag})
    assert r.status_code == 200 and r.json()["price_fen"] == 9000
    new_tag = r.headers["ETag"]
    r = await client.put(path, json={"price_fen": 1}, headers={**staff, "If-Match": tag})
    assert r.status_code == 412 and r.headers["ETag"] == new_tag
    r = await client.get(path, headers={"If-None-Match": new_tag})
    assert r.status_code == 304
    r = await client.get(f"/v1/providers/{org['id']}/offerings")
    assert [o["service_code"] for o in r.json()["items"]] == ["bathing"]


async def test_another_providers_offering_is_not_found(client, admin_headers):
    org, _ = await provider(client, admin_headers)
    _, other = await org_with_staff(client, admin_headers, "home_care_provider")
    r = await client.put(f"/v1/providers/{org['id']}/offerings/cleaning",
                         json={"price_fen": 1}, headers=other)
    assert r.status_code == 404


async def test_unknown_service_code_is_a_validation_error(client, admin_headers):
    org, staff = await org_with_staff(client, admin_headers, "home_care_provider")
    r = await client.put(f"/v1/providers/{org['id']}/offerings/massage",
                         json={"price_fen": 1}, headers=staff)
    assert r.status_code == 422


async def test_two_editors_with_one_etag_get_one_200_and_one_412(client, admin_headers):
    import asyncio

    org, staff = await org_with_staff(client, admin_headers, "home_care_provider")
    path = f"/v1/providers/{org['id']}/offerings/cleaning"
    tag = (await client.put(path, json={"price_fen": 100}, headers=staff)).headers["ETag"]
    results = await asyncio.gather(*(
        client.put(path, json={"price_fen": p}, headers={**staff, "If-Match": tag})
        for p in (200, 300)))
    assert sorted(r.status_code for r in results) == [200, 412]
