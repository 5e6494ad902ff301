"""The public institution search: filters, vacancies, distance, pagination."""

from __future__ import annotations

import math

from services.beds.institutions import haversine_km
from tests.api.test_beds_support import add_bed, institution

# Chengdu: Wuhou district, Jinjiang district, Chenghua district; Beijing Chaoyang.
ORIGIN = (30.6570, 104.0660)  # 天府广场
PLACES = {
    "武侯": {"division_code": "510107", "lat": 30.6460, "lon": 104.0480, "rating": 4,
             "ownership": "public"},
    "锦江": {"division_code": "510104", "lat": 30.6570, "lon": 104.0830, "rating": 3,
             "ownership": "private"},
    "成华": {"division_code": "510108", "lat": 30.6600, "lon": 104.1030, "rating": 5,
             "ownership": "public_private"},
    "朝阳": {"division_code": "110105", "lat": 39.9960, "lon": 116.4700, "rating": 2,
             "ownership": "private"},
}


async def _city(client, admin_headers) -> dict[str, tuple[dict, dict]]:
    out = {}
    for name, fields in PLACES.items():
        out[name] = await institution(client, admin_headers, name=f"{name}养老院", **fields)
    wuhou, s1 = out["武侯"]
    await add_bed(client, wuhou, s1, "1", category="full_care", fee=420000)
    await add_bed(client, wuhou, s1, "2", category="self_care", fee=180000,
                  status="maintenance")
    jinjiang, s2 = out["锦江"]
    await add_bed(client, jinjiang, s2, "1", category="self_care", fee=220000)
    await add_bed(client, jinjiang, s2, "2", category="self_care", fee=260000)
    chenghua, s3 = out["成华"]
    await add_bed(client, chenghua, s3, "1", category="dementia", fee=500000)
    return out


def _names(r) -> list[str]:
    return [i["name"].removesuffix("养老院") for i in r.json()["items"]]


async def test_search_filters_and_vacancies(client, admin_headers):
    await _city(client, admin_headers)
    r = await client.get("/v1/institutions")
    assert r.status_code == 200
    assert set(_names(r)) == set(PLACES)
    by_name = {i["name"]: i for i in r.json()["items"]}
    assert by_name["武侯养老院"]["vacancies"] == {"self_care": 0, "semi_care": 0,
                                               "full_care": 1, "dementia": 0}
    assert by_name["锦江养老院"]["vacancies"]["self_care"] == 2
    assert by_name["武侯养老院"]["division_name"] == "四川省成都市武侯区"
    assert by_name["武侯养老院"]["distance_km"] is None

    assert set(_names(await client.get("/v1/institutions?division_code=5101"))) == {
        "武侯", "锦江", "成华"}
    assert _names(await client.get("/v1/institutions?division_code=510107")) == ["武侯"]
    assert set(_names(await client.get("/v1/institutions?min_rating=4"))) == {"武侯", "成华"}
    assert set(_names(await client.get("/v1/institutions?has_vacancy=true"))) == {
        "武侯", "锦江", "成华"}
    assert _names(await client.get("/v1/institutions?has_vacancy=false")) == ["朝阳"]
    # Wuhou's self-care bed is in maintenance: it has such beds, but none vacant.
    assert set(_names(await client.get("/v1/institutions?category=self_care"))) == {
        "武侯", "锦江"}
    assert _names(await client.get(
        "/v1/institutions?category=self_care&has_vacancy=true")) == ["锦江"]
    assert set(_names(await client.get("/v1/institutions?max_fee_fen=200000"))) == {"武侯"}
    assert _names(await client.get(
        "/v1/institutions?max_fee_fen=200000&has_vacancy=true")) == []
    assert _names(await client.get(
        "/v1/institutions?max_fee_fen=230000&has_vacancy=true&category=self_care")) == ["锦江"]


async def test_search_by_distance_returns_kilometres_nearest_first(client, admin_headers):
    await _city(client, admin_headers)
    near = f"{ORIGIN[0]},{ORIGIN[1]}"
    r = await client.get(f"/v1/institutions?near={near}&sort=distance")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    expected = {n: haversine_km(*ORIGIN, f["lat"], f["lon"]) for n, f in PLACES.items()}
    assert _names(r) == ["锦江", "武侯", "成华", "朝阳"] == sorted(expected, key=expected.get)
    for item in items:
        name = item["name"].removesuffix("养老院")
        assert math.isclose(item["distance_km"], expected[name], abs_tol=0.001)
    assert 1.5 < items[0]["distance_km"] < 2.5
    assert 1500 < items[-1]["distance_km"] < 1600  # Chengdu to Beijing

    # Page by page, the same order and nothing twice.
    seen, cursor = [], None
    while True:
        url = f"/v1/institutions?near={near}&sort=distance&limit=1"
        r = await client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        seen += _names(r)
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["锦江", "武侯", "成华", "朝阳"]

    r = await client.get(f"/v1/institutions?near={near}&sort=distance&has_vacancy=true"
                         "&division_code=5101&limit=2")
    assert _names(r) == ["锦江", "武侯"] and r.json()["next_cursor"]


async def test_search_refuses_bad_parameters(client):
    for query in ("near=91,10&sort=distance", "near=abc", "min_rating=6",
                  "division_code=51x", "category=luxury", "max_fee_fen=-1", "limit=101"):
        r = await client.get(f"/v1/institutions?{query}")
        assert r.status_code == 422, query
        assert r.json()["code"] == "validation_error"
    # A rule between two parameters, not a field's shape: its own code.
    r = await client.get("/v1/institutions?sort=distance")
    assert r.status_code == 422 and r.json()["code"] == "near_required"
    r = await client.get("/v1/institutions?near=30,104&sort=distance&cursor=!!!")
    assert r.status_code == 400


async def test_search_pages_by_id_and_only_lists_care_institutions(client, admin_headers):
    for i in range(5):
        await institution(client, admin_headers, name=f"院{i}")
    await client.post("/v1/admin/organisations", headers=admin_headers, json={
        "kind": "registration_office", "name": "登记处", "division_code": "510107"})
    names, cursor = [], None
    for _ in range(3):
        r = await client.get("/v1/institutions?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        names += [i["name"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
    assert names == [f"院{i}" for i in range(5)] and cursor is None
