"""Finding an office (nearest first, and whether it takes bookings) and a
citizen's list of divorce cases."""

from __future__ import annotations

import math

from tests.api.test_marriage_divorce import _complete
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import create_org, org_with_staff

OFFICES = "/v1/marriage/offices"
CASES = "/v1/marriage/divorce-cases"

# Around Tiananmen (39.9087, 116.3975): four offices at known places.
ORIGIN = (39.9087, 116.3975)
PLACES = {
    "东城区婚姻登记处": (39.9288, 116.4160),
    "朝阳区婚姻登记处": (39.9219, 116.4436),
    "海淀区婚姻登记处": (39.9590, 116.2980),
    "通州区婚姻登记处": (39.9020, 116.6560),
}


def _km(lat1, lon1, lat2, lon2):
    """Great-circle distance, written out here so the test does not trust the service."""
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * r * math.asin(math.sqrt(a))


async def _directory(client, admin_headers):
    ids = {}
    for name, (lat, lon) in PLACES.items():
        ids[name] = (await create_org(client, admin_headers, "registration_office", name=name,
                                      lat=lat, lon=lon))["id"]
    nowhere = await create_org(client, admin_headers, "registration_office", name="无坐标登记处",
                               lat=None, lon=None)
    return ids, nowhere["id"]


async def test_offices_nearest_first_with_their_distance(client, admin_headers):
    ids, nowhere = await _directory(client, admin_headers)
    near = f"{ORIGIN[0]},{ORIGIN[1]}"
    expected = sorted((_km(*ORIGIN, *PLACES[n]), ids[n]) for n in PLACES)
    r = await client.get(OFFICES, params={"near": near, "sort": "distance"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["id"] for i in items] == [oid for _, oid in expected]  # no location: left out
    for item, (d, _oid) in zip(items, expected, strict=True):
        assert abs(item["distance_km"] - d) < 0.01
    # Page by page, the same order, nothing twice.
    seen, cursor = [], None
    while True:
        params = {"near": near, "sort": "distance", "limit": 1, **(
            {"cursor": cursor} if cursor else {})}
        page = (await client.get(OFFICES, params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [oid for _, oid in expected]
    # Without sort=distance, by id as before, with distances where there is a location.
    r = await client.get(OFFICES, params={"near": near, "limit": 100})
    by_id = {i["id"]: i for i in r.json()["items"]}
    assert set(by_id) == {*ids.values(), nowhere}
    assert by_id[nowhere]["distance_km"] is None
    assert by_id[ids["通州区婚姻登记处"]]["distance_km"] > 20
    # A division filter still applies.
    r = await client.get(OFFICES, params={"near": near, "sort": "distance",
                                          "division_code": "3101"})
    assert r.json()["items"] == []


async def test_nearest_needs_a_well_formed_point(client, admin_headers):
    await _directory(client, admin_headers)
    r = await client.get(OFFICES, params={"sort": "distance"})
    assert r.status_code == 422 and r.json()["code"] == "near_required"
    for bad in ("39.9", "91,116", "39.9,181", "a,b", "39.9;116.4"):
        r = await client.get(OFFICES, params={"near": bad, "sort": "distance"})
        assert r.status_code == 422 and r.json()["code"] == "validation_error", bad
    r = await client.get(OFFICES, params={"sort": "nearest"})
    assert r.status_code == 422


async def test_the_list_says_whether_an_office_takes_bookings(client, admin_headers, settings):
    set_china_time("2026-12-01")
    open_office, open_staff = await office_with_schedule(client, admin_headers)
    no_schedule, _ = await org_with_staff(client, admin_headers, "registration_office")
    empty, empty_staff = await office_with_schedule(client, admin_headers, sessions=[])
    special, special_staff = await office_with_schedule(client, admin_headers, sessions=[])
    r = await client.post(f"{OFFICES}/{special['id']}/special-days", headers=special_staff,
                          json={"date": "2026-12-12", "sessions": [
                              {"start": "09:00", "end": "12:00", "capacity": 10}]})
    assert r.status_code == 201, r.text
    past, past_staff = await office_with_schedule(client, admin_headers, sessions=[])
    r = await client.post(f"{OFFICES}/{past['id']}/special-days", headers=past_staff,
                          json={"date": "2026-12-02", "sessions": [
                              {"start": "09:00", "end": "12:00", "capacity": 10}]})
    assert r.status_code == 201, r.text

    async def taking() -> dict[str, bool]:
        items = (await client.get(OFFICES, params={"limit": 100})).json()["items"]
        return {i["id"]: i["takes_bookings"] for i in items}

    assert await taking() == {open_office["id"]: True, no_schedule["id"]: False,
                              empty["id"]: False, special["id"]: True, past["id"]: True}
    set_china_time("2026-12-03")  # the special day is over
    assert (await taking())[past["id"]] is False
    # An office that empties its schedule stops taking bookings.
    url = f"{OFFICES}/{open_office['id']}/weekly-schedule"
    current = await client.get(url, headers=open_staff)
    r = await client.put(url, headers={**open_staff, "If-Match": current.headers["ETag"]},
                         json={"sessions": []})
    assert r.status_code == 200, r.text
    assert (await taking())[open_office["id"]] is False


async def test_a_citizen_lists_their_divorce_cases(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    other, other_staff = await org_with_staff(client, admin_headers, "registration_office")
    me = citizen(settings)
    cases = []
    for day in ("2026-12-08", "2026-12-09"):
        set_china_time("2026-12-01")
        r = await book(client, settings, slot_id(office["id"], day), couple(), kind="divorce",
                       headers=me)
        assert r.status_code == 201, r.text
        cases.append((await _complete(client, staff, r.json(), day))["divorce_case_id"])
    # Someone else's case.
    set_china_time("2026-12-01")
    r = await book(client, settings, slot_id(office["id"], "2026-12-10"), couple(),
                   kind="divorce")
    stranger_case = (await _complete(client, staff, r.json(), "2026-12-10"))["divorce_case_id"]

    r = await client.get(CASES, headers=me)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["id"] for c in page["items"]] == cases[::-1] and page["next_cursor"] is None
    assert {c["status"] for c in page["items"]} == {"cooling_off"}
    assert all("********" in p["id_number_masked"] for c in page["items"]
               for p in c["parties"])
    # Page by page, newest first.
    first = (await client.get(CASES, headers=me, params={"limit": 1})).json()
    assert [c["id"] for c in first["items"]] == [cases[1]] and first["next_cursor"]
    rest = (await client.get(CASES, headers=me, params={"limit": 1,
                                                        "cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in rest["items"]] == [cases[0]] and rest["next_cursor"] is None
    r = await client.get(CASES, headers=me, params={"cursor": "bogus"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    # Another citizen sees none of them; the receiving office all three, audited;
    # another office none.
    assert (await client.get(CASES, headers=citizen(settings))).json()["items"] == []
    r = await client.get(CASES, headers=staff, params={"limit": 100})
    assert [c["id"] for c in r.json()["items"]] == [stranger_case, *cases[::-1]]
    assert (await client.get(CASES, headers=other_staff)).json()["items"] == []
    events = (await client.get("/v1/admin/audit-events", headers=admin_headers, params={
        "action": "marriage_divorce_case.list", "limit": 100})).json()["items"]
    assert {e["org_id"] for e in events} == {office["id"], other["id"]}
