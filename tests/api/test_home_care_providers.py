"""Finding a provider: `GET /v1/home-care/providers`, nearest first or by name, by
service and division, with offerings and ratings, page by page."""

from __future__ import annotations

import base64
import json
import math

from schemas.home_care import ProviderPublic
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    hours,
    set_china_time,
)
from tests.factories import citizen_headers, create_org, org_with_staff

PATH = "/v1/home-care/providers"
PEOPLES_SQUARE = (31.2304, 121.4737)  # 人民广场, Shanghai
NEAR = f"{PEOPLES_SQUARE[0]},{PEOPLES_SQUARE[1]}"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle metres, mean earth radius 6,371,008.8 m (written out here, apart
    from the service's chord formula)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def offer(client, staff, org_id, service, price_fen=1500, duration=None) -> None:
    body = {"price_fen": price_fen}
    if duration is not None:
        body["duration_minutes"] = duration
    r = await client.put(f"/v1/providers/{org_id}/offerings/{service}", json=body,
                         headers=staff)
    assert r.status_code == 200, r.text


async def provider_at(client, admin_headers, lat, lon, *services, name="为老服务中心",
                      division_code="310101") -> tuple[dict, dict]:
    org, staff = await org_with_staff(client, admin_headers, "home_care_provider", name=name,
                                      lat=lat, lon=lon, division_code=division_code)
    for service in services:
        await offer(client, staff, org["id"], service)
    return org, staff


async def move(client, admin_headers, org_id, lat, lon) -> None:
    """The platform admin changes the organisation's location (PATCH, If-Match)."""
    r = await client.get(f"/v1/admin/organisations/{org_id}", headers=admin_headers)
    r = await client.patch(f"/v1/admin/organisations/{org_id}", json={"lat": lat, "lon": lon},
                           headers={**admin_headers, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text


async def search(client, **params) -> dict:
    """A page, held to the documented model: every field of `ProviderPublic`, no other,
    each of its type (the service writes the JSON itself)."""
    r = await client.get(PATH, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    page = r.json()
    assert set(page) == {"items", "next_cursor"}
    for item in page["items"]:
        assert set(item) == set(ProviderPublic.model_fields), item
        assert ProviderPublic.model_validate_json(json.dumps(item), strict=True) \
            .model_dump(mode="json") == item
    return page


async def every_page(client, limit: int, **params) -> list[dict]:
    """Every item, page by page; fails on a page longer than `limit`."""
    items, cursor = [], None
    for _ in range(50):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await search(client, **query)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("more than 50 pages")


async def test_nearest_first_with_the_great_circle_distance(client, admin_headers):
    spots = {"西藏中路": (31.2350, 121.4800), "外滩": (31.2400, 121.4900),
             "徐家汇": (31.1950, 121.4360), "浦东机场": (31.1443, 121.8083),
             "北京": (39.9042, 116.4074)}
    ids = {}
    for name, (lat, lon) in spots.items():
        org, _ = await provider_at(client, admin_headers, lat, lon, "meal_assist", name=name)
        ids[org["id"]] = name
    page = await search(client, service_code="meal_assist", near=NEAR)
    assert [ids[p["id"]] for p in page["items"]] == ["西藏中路", "外滩", "徐家汇", "浦东机场",
                                                      "北京"]
    for p in page["items"]:
        lat, lon = spots[ids[p["id"]]]
        assert (p["lat"], p["lon"]) == (lat, lon)
        assert abs(p["distance_m"] - haversine_m(*PEOPLES_SQUARE, lat, lon)) <= 1.0
    assert page["items"][-1]["distance_m"] > 1_000_000  # Beijing, about 1,070 km
    assert page["next_cursor"] is None


async def test_without_near_by_name_and_no_distance(client, admin_headers):
    for name in ("丙服务站", "甲服务站", "乙服务站"):
        await provider_at(client, admin_headers, 31.2, 121.4, "cleaning", name=name)
    page = await search(client)
    assert [p["name"] for p in page["items"]] == sorted(["丙服务站", "甲服务站", "乙服务站"])
    assert all(p["distance_m"] is None for p in page["items"])


async def test_only_providers_offering_the_service_and_all_their_offerings_asked_first(
        client, admin_headers):
    both, staff = await provider_at(client, admin_headers, 31.231, 121.474, "bathing",
                                    "cleaning", name="近")
    await offer(client, staff, both["id"], "meal_assist", price_fen=1800, duration=45)
    cleaner, _ = await provider_at(client, admin_headers, 31.232, 121.475, "cleaning",
                                   name="只做助洁")
    far, _ = await provider_at(client, admin_headers, 31.30, 121.50, "meal_assist", name="远")
    page = await search(client, service_code="meal_assist", near=NEAR)
    assert [p["id"] for p in page["items"]] == [both["id"], far["id"]]
    offerings = page["items"][0]["offerings"]
    assert [o["service_code"] for o in offerings] == ["meal_assist", "bathing", "cleaning"]
    assert offerings[0] == {"service_code": "meal_assist", "price_fen": 1800,
                            "duration_minutes": 45}
    # Another service asked for: that one first, the rest by code.
    page = await search(client, service_code="cleaning", near=NEAR)
    assert [p["id"] for p in page["items"]] == [both["id"], cleaner["id"]]
    assert [o["service_code"] for o in page["items"][0]["offerings"]] == [
        "cleaning", "bathing", "meal_assist"]
    # By name, too.
    page = await search(client, service_code="bathing")
    assert [p["id"] for p in page["items"]] == [both["id"]]


async def test_without_a_service_every_provider_and_no_other_kind(client, admin_headers):
    meals, _ = await provider_at(client, admin_headers, 31.231, 121.474, "meal_assist",
                                 name="助餐点")
    bath, _ = await provider_at(client, admin_headers, 31.24, 121.48, "bathing", name="助浴点")
    idle, _ = await provider_at(client, admin_headers, 31.25, 121.49, name="尚无服务")
    await create_org(client, admin_headers, "care_institution", lat=31.2304, lon=121.4737)
    await create_org(client, admin_headers, "registration_office", lat=31.2304, lon=121.4737)
    near = await search(client, near=NEAR)
    assert [p["id"] for p in near["items"]] == [meals["id"], bath["id"], idle["id"]]
    assert near["items"][2]["offerings"] == []
    by_name = await search(client)
    assert {p["id"] for p in by_name["items"]} == {meals["id"], bath["id"], idle["id"]}


async def test_a_provider_without_a_location_only_without_near(client, admin_headers):
    located, _ = await provider_at(client, admin_headers, 31.24, 121.48, "meal_assist")
    nowhere, _ = await provider_at(client, admin_headers, None, None, "meal_assist")
    page = await search(client, service_code="meal_assist", near=NEAR)
    assert [p["id"] for p in page["items"]] == [located["id"]]
    page = await search(client, near=NEAR)
    assert [p["id"] for p in page["items"]] == [located["id"]]
    page = await search(client, service_code="meal_assist")
    assert {p["id"] for p in page["items"]} == {located["id"], nowhere["id"]}
    assert next(p for p in page["items"] if p["id"] == nowhere["id"])["lat"] is None


async def test_a_division_covers_itself_and_what_lies_within_it(client, admin_headers):
    huangpu, _ = await provider_at(client, admin_headers, 31.23, 121.48, "meal_assist",
                                   division_code="310101")
    xuhui, _ = await provider_at(client, admin_headers, 31.19, 121.44, "meal_assist",
                                 division_code="310104")
    pudong, _ = await provider_at(client, admin_headers, 31.22, 121.54, "cleaning",
                                  division_code="310115")
    beijing, _ = await provider_at(client, admin_headers, 39.92, 116.44, "meal_assist",
                                   division_code="110105")
    everyone = {huangpu["id"], xuhui["id"], pudong["id"], beijing["id"]}

    async def found(**params) -> set[str]:
        return {p["id"] for p in (await search(client, **params))["items"]}

    assert await found() == everyone
    # A county (district) covers only itself; the city and the province all of theirs.
    assert await found(division_code="310101") == {huangpu["id"]}
    assert await found(division_code="310100") == {huangpu["id"], xuhui["id"], pudong["id"]}
    assert await found(division_code="310000") == {huangpu["id"], xuhui["id"], pudong["id"]}
    assert await found(division_code="110000") == {beijing["id"]}
    # With a service and a point, in every combination.
    assert await found(division_code="310100", service_code="meal_assist") == {
        huangpu["id"], xuhui["id"]}
    assert await found(division_code="310104", service_code="meal_assist", near=NEAR) == {
        xuhui["id"]}
    assert await found(division_code="310100", near=NEAR) == {
        huangpu["id"], xuhui["id"], pudong["id"]}
    assert await found(division_code="110105", service_code="cleaning") == set()
    # A provider put in another division (the admin's PATCH) is found there, and
    # only there, by every search.
    r = await client.get(f"/v1/admin/organisations/{pudong['id']}", headers=admin_headers)
    r = await client.patch(f"/v1/admin/organisations/{pudong['id']}",
                           json={"division_code": "310104"},
                           headers={**admin_headers, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text
    for params in ({"service_code": "cleaning", "near": NEAR}, {"near": NEAR},
                   {"service_code": "cleaning"}, {}):
        assert pudong["id"] in await found(division_code="310104", **params), params
        assert pudong["id"] not in await found(division_code="310115", **params), params


async def test_pages_of_nearest_first_miss_and_repeat_nothing_at_equal_distances(
        client, admin_headers):
    # Six at one spot, three at another as far in the other direction, and more
    # beyond: ties across page boundaries, which only the id breaks (the index scan
    # meets rows of equal distance in no particular order).
    spots = [(31.2404, 121.4737)] * 6 + [(31.2204, 121.4737)] * 3 + [
        (31.2504, 121.4737), (31.26, 121.50), (31.10, 121.30), PEOPLES_SQUARE]
    for i, (lat, lon) in enumerate(spots):
        await provider_at(client, admin_headers, lat, lon, "meal_assist", name=f"站{i}")
    whole = (await search(client, service_code="meal_assist", near=NEAR, limit=100))["items"]
    assert len(whole) == len(spots)
    assert whole[0]["distance_m"] == 0  # the one at the point itself
    keys = [(p["distance_m"], p["id"]) for p in whole]
    assert keys == sorted(keys)
    for limit in (1, 2, 3, 4):
        for params in ({"service_code": "meal_assist"}, {}):
            paged = await every_page(client, limit, near=NEAR, **params)
            assert [p["id"] for p in paged] == [p["id"] for p in whole], (limit, params)


async def test_pages_by_name_miss_and_repeat_nothing(client, admin_headers):
    # Names the same, and one with an ideographic space (U+3000, not "printable").
    for i, name in enumerate(["同名站", "同名站", "同名站", "甲站", "乙站\u3000东"]):
        await provider_at(client, admin_headers, 31.2 + i / 100, 121.4, "cleaning", name=name)
    whole = (await search(client, limit=100))["items"]
    assert len(whole) == 5
    for limit in (1, 2):
        paged = await every_page(client, limit)
        assert [p["id"] for p in paged] == [p["id"] for p in whole]
        paged = await every_page(client, limit, service_code="cleaning", division_code="310101")
        assert [p["id"] for p in paged] == [p["id"] for p in whole]


async def test_a_moved_provider_is_found_where_it_now_is(client, admin_headers):
    mover, _ = await provider_at(client, admin_headers, 31.2404, 121.4737, "meal_assist",
                                 name="搬家的")
    stayer, _ = await provider_at(client, admin_headers, 31.2504, 121.4737, "meal_assist",
                                  name="不动的")
    for params in ({"service_code": "meal_assist"}, {}):
        page = await search(client, near=NEAR, **params)
        assert [p["id"] for p in page["items"]] == [mover["id"], stayer["id"]]
    await move(client, admin_headers, mover["id"], 31.10, 121.30)
    for params in ({"service_code": "meal_assist"}, {}):
        page = await search(client, near=NEAR, **params)
        assert [p["id"] for p in page["items"]] == [stayer["id"], mover["id"]], params
        moved = page["items"][1]
        assert (moved["lat"], moved["lon"]) == (31.10, 121.30)
        assert abs(moved["distance_m"] - haversine_m(*PEOPLES_SQUARE, 31.10, 121.30)) <= 1.0
    # An offering added after the move is found where the provider is now, too.
    await move(client, admin_headers, mover["id"], 31.2305, 121.4737)
    page = await search(client, near=NEAR, service_code="meal_assist")
    assert [p["id"] for p in page["items"]] == [mover["id"], stayer["id"]]
    staff = await _provider_staff(client, admin_headers, mover["id"])
    await offer(client, staff, mover["id"], "bathing")
    page = await search(client, near=NEAR, service_code="bathing")
    assert [p["id"] for p in page["items"]] == [mover["id"]]
    assert page["items"][0]["distance_m"] == round(haversine_m(*PEOPLES_SQUARE, 31.2305,
                                                               121.4737))


async def _provider_staff(client, admin_headers, org_id) -> dict[str, str]:
    r = await client.post(f"/v1/admin/organisations/{org_id}/api-keys",
                          json={"role": "provider", "name": "second"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


async def test_the_mean_rating_shows_from_the_fifth_rated_visit(client, admin_headers,
                                                                 settings):
    set_china_time("2026-12-01")
    org, staff = await provider_at(client, admin_headers, 31.23, 121.47)
    await offer(client, staff, org["id"], "cleaning", duration=60)
    await caregiver(client, staff, org["id"], weekly=hours("08:00", "20:00"))
    family = "wx-family-of-zhao"
    visits = []
    starts = ["08:00", "09:30", "11:00", "12:30", "14:00"]
    for start in starts:
        r = await book(client, settings, org["id"], at(DAY, start),
                       who=citizen_headers(settings, family), elder_=elder())
        assert r.status_code == 201, r.text
        visits.append(r.json()["id"])
    home = {"lat": 31.23, "lon": 121.47}
    for visit, start, stars in zip(visits, starts, (5, 4, 4, 3, 5), strict=True):
        h, m = (int(x) for x in start.split(":"))
        set_china_time(DAY, start)
        path = f"/v1/home-care/bookings/{visit}"
        assert (await client.post(f"{path}/check-in", json=home,
                                  headers=staff)).status_code == 200
        set_china_time(DAY, f"{h + 1:02d}:{m:02d}")
        assert (await client.post(f"{path}/check-out", json=home,
                                  headers=staff)).status_code == 200
        mine = citizen_headers(settings, family)
        assert (await client.post(f"{path}/rate", json={"stars": stars},
                                  headers=mine)).status_code == 200
        rated = (await search(client, service_code="cleaning"))["items"][0]
        count = visits.index(visit) + 1
        assert rated["rating_count"] == count
        if count < 5:
            assert rated["rating_avg"] is None
    assert rated["rating_avg"] == 4.2  # (5 + 4 + 4 + 3 + 5) / 5
    # A second rating of a visit is refused and counts nothing.
    r = await client.post(f"/v1/home-care/bookings/{visits[0]}/rate", json={"stars": 1},
                          headers=citizen_headers(settings, family))
    assert r.status_code == 409
    rated = (await search(client, near=NEAR))["items"][0]
    assert (rated["rating_count"], rated["rating_avg"]) == (5, 4.2)


async def test_a_provider_nobody_rated_has_no_mean_and_a_count_of_zero(client, admin_headers):
    await provider_at(client, admin_headers, 31.23, 121.47, "cleaning")
    item = (await search(client, near=NEAR))["items"][0]
    assert (item["rating_count"], item["rating_avg"]) == (0, None)


async def test_refusals_are_problems_with_their_codes(client, admin_headers):
    await provider_at(client, admin_headers, 31.23, 121.47, "cleaning")
    await provider_at(client, admin_headers, 31.24, 121.47, "cleaning")
    for near in ("31.23", "91,121", "31.23,181", "abc,def", "31.23;121.47", "nan,1"):
        r = await client.get(PATH, params={"near": near})
        assert r.status_code == 422, near
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "validation_error"
        assert r.json()["errors"][0]["loc"] == ["query", "near"]
    for code in ("3101", "31010a", "3101011"):
        r = await client.get(PATH, params={"division_code": code})
        assert r.status_code == 422 and r.json()["code"] == "validation_error", code
    r = await client.get(PATH, params={"division_code": "990101"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_division_code"
    r = await client.get(PATH, params={"service_code": "massage"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    for cursor in ("garbage", _b64("[]"), _b64('[-1.0,"org_x"]'), _b64('["x","org_x"]'),
                   _b64('[1,"org_x"]'), _b64('[1.0,"key_x"]')):
        r = await client.get(PATH, params={"near": NEAR, "cursor": cursor})
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", cursor
    # Public, but credentials that are sent must be valid (the hot lane keeps the
    # router's dependencies).
    r = await client.get(PATH, headers={"X-API-Key": "hm_0000_bogus"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    # A cursor belongs to its order.
    by_distance = (await search(client, near=NEAR, limit=1))["next_cursor"]
    by_name = (await search(client, limit=1))["next_cursor"]
    assert by_distance and by_name
    r = await client.get(PATH, params={"cursor": by_distance})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
    r = await client.get(PATH, params={"near": NEAR, "cursor": by_name})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_the_operation_is_documented(app):
    op = app.openapi()["paths"][PATH]["get"]
    assert op["tags"] == ["home-care"] and op["summary"]
    assert op["operationId"] == "listHomeCareProviders"
    assert {"400", "422"} <= set(op["responses"])
    examples = op["responses"]["422"]["content"]["application/problem+json"]["examples"]
    assert {"validation_error", "invalid_division_code"} <= set(examples)
    schema = app.openapi()["components"]["schemas"]["ProviderPublic"]
    assert schema["examples"][0]["offerings"][0]["service_code"] == "meal_assist"
