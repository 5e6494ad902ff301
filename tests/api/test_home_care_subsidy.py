"""The service subsidy: the admin's monthly allowance, paid first, the family the rest;
cancelled and no-show visits cost nothing; the month's ledger for admin and provider."""

from __future__ import annotations

from tests.api.test_home_care_support import (
    at,
    book,
    caregiver,
    elder,
    provider,
    set_china_time,
)

HOME = {"lat": 31.235, "lon": 121.48}


async def _complete(client, staff, visit_id, day, start="10:00", end="11:00"):
    set_china_time(day, start)
    r = await client.post(f"/v1/home-care/bookings/{visit_id}/check-in", json=HOME,
                          headers=staff)
    assert r.status_code == 200, r.text
    set_china_time(day, end)
    r = await client.post(f"/v1/home-care/bookings/{visit_id}/check-out", json=HOME,
                          headers=staff)
    assert r.status_code == 200, r.text
    return r.json()


async def test_admin_sets_an_allowance_identity_in_masked_out(client, admin_headers):
    person = elder()
    body = {"id_number": person["id_number"], "monthly_allowance_fen": 10000,
            "valid_from": "2026-01-01", "valid_to": "2026-12-31"}
    r = await client.put("/v1/admin/home-care-subsidies", json=body, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["id_number_masked"].count("*") == 8
    assert "id_number" not in r.json()
    r = await client.put("/v1/admin/home-care-subsidies",
                         json={**body, "monthly_allowance_fen": 20000}, headers=admin_headers)
    assert r.json()["monthly_allowance_fen"] == 20000
    r = await client.put("/v1/admin/home-care-subsidies",
                         json={**body, "valid_to": "2025-01-01"}, headers=admin_headers)
    assert r.status_code == 422


async def test_visits_are_paid_from_the_allowance_first_then_by_the_family(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, price_fen=6000)
    await caregiver(client, staff, org["id"])
    person = elder()
    r = await client.put("/v1/admin/home-care-subsidies", json={
        "id_number": person["id_number"], "monthly_allowance_fen": 10000,
        "valid_from": "2026-12-01", "valid_to": "2027-01-31"}, headers=admin_headers)
    assert r.status_code == 200
    days = ["2026-12-08", "2026-12-09", "2026-12-10"]
    visits = []
    for d in days:
        r = await book(client, settings, org["id"], at(d, "10:00"), elder_=person)
        assert r.status_code == 201, r.text
        visits.append(r.json()["id"])
    # A cancelled visit costs nothing.
    r = await book(client, settings, org["id"], at("2026-12-11", "10:00"), elder_=person)
    cancelled = r.json()["id"]
    r = await client.post(f"/v1/home-care/bookings/{cancelled}/cancel",
                          json={"reason": "家属改期"}, headers=staff)
    assert r.status_code == 200 and r.json()["subsidy_paid_fen"] is None
    paid = [await _complete(client, staff, v, d) for v, d in zip(visits, days, strict=True)]
    assert [(p["subsidy_paid_fen"], p["family_paid_fen"]) for p in paid] == [
        (6000, 0), (4000, 2000), (0, 6000)]
    r = await client.get("/v1/admin/home-care-ledger", params={"month": "2026-12"},
                         headers=admin_headers)
    assert r.status_code == 200
    [row] = r.json()["items"]
    assert (row["allowance_fen"], row["used_fen"], row["remaining_fen"]) == (10000, 10000, 0)
    r = await client.get(f"/v1/providers/{org['id']}/home-care-ledger",
                         params={"month": "2026-12"}, headers=staff)
    assert r.status_code == 200
    entries = r.json()["items"]
    assert [e["subsidy_paid_fen"] for e in entries] == [6000, 4000, 0]
    assert all(e["subsidy_paid_fen"] + e["family_paid_fen"] == 6000 for e in entries)
    r = await client.get(f"/v1/providers/{org['id']}/home-care-ledger",
                         params={"month": "2026-11"}, headers=staff)
    assert r.json()["items"] == []


async def test_an_allowance_outside_its_validity_pays_nothing(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, price_fen=6000)
    await caregiver(client, staff, org["id"])
    person = elder()
    await client.put("/v1/admin/home-care-subsidies", json={
        "id_number": person["id_number"], "monthly_allowance_fen": 10000,
        "valid_from": "2026-01-01", "valid_to": "2026-12-07"}, headers=admin_headers)
    r = await book(client, settings, org["id"], at("2026-12-08", "10:00"), elder_=person)
    done = await _complete(client, staff, r.json()["id"], "2026-12-08")
    assert (done["subsidy_paid_fen"], done["family_paid_fen"]) == (0, 6000)


async def test_only_admin_sets_allowances_and_reads_the_ledger(client, admin_headers,
                                                              settings):
    org, staff = await provider(client, admin_headers)
    body = {"id_number": elder()["id_number"], "monthly_allowance_fen": 1,
            "valid_from": "2026-01-01", "valid_to": "2026-12-31"}
    assert (await client.put("/v1/admin/home-care-subsidies", json=body,
                             headers=staff)).status_code == 403
    assert (await client.get("/v1/admin/home-care-ledger", params={"month": "2026-12"},
                             headers=staff)).status_code == 403
    _, other = await provider(client, admin_headers)
    assert (await client.get(f"/v1/providers/{org['id']}/home-care-ledger",
                             params={"month": "2026-12"}, headers=other)).status_code == 404
