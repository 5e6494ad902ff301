"""Lists: a citizen's own visits; a provider's by date and by caregiver (the roster)."""

from __future__ import annotations

from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    provider,
    set_china_time,
)
from tests.factories import citizen_headers


async def test_citizen_sees_only_own_visits_provider_its_roster(client, admin_headers,
                                                                settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    a = await caregiver(client, staff, org["id"], name="甲")
    b = await caregiver(client, staff, org["id"], name="乙")
    mine, theirs = citizen_headers(settings), citizen_headers(settings)
    v1 = (await book(client, settings, org["id"], at(DAY, "09:00"), who=mine,
                     caregiver_id=a["id"])).json()
    v2 = (await book(client, settings, org["id"], at(DAY, "13:00"), who=mine,
                     caregiver_id=a["id"])).json()
    v3 = (await book(client, settings, org["id"], at(DAY, "09:00"), who=theirs,
                     caregiver_id=b["id"])).json()
    v4 = (await book(client, settings, org["id"], at("2026-12-09", "09:00"), who=theirs,
                     caregiver_id=b["id"])).json()
    r = await client.get("/v1/home-care/bookings", headers=mine)
    assert [x["id"] for x in r.json()["items"]] == [v1["id"], v2["id"]]
    r = await client.get("/v1/home-care/bookings", params={"date": DAY}, headers=staff)
    assert {x["id"] for x in r.json()["items"]} == {v1["id"], v2["id"], v3["id"]}
    r = await client.get("/v1/home-care/bookings", params={"date": DAY,
                                                           "caregiver_id": a["id"]},
                         headers=staff)
    roster = r.json()["items"]
    assert [x["id"] for x in roster] == [v1["id"], v2["id"]]
    assert roster[0]["caregiver"]["name"] == "甲"
    # Pages by start time with a cursor.
    r = await client.get("/v1/home-care/bookings", params={"limit": 1}, headers=theirs)
    assert [x["id"] for x in r.json()["items"]] == [v3["id"]]
    r = await client.get("/v1/home-care/bookings",
                         params={"limit": 1, "cursor": r.json()["next_cursor"]},
                         headers=theirs)
    assert [x["id"] for x in r.json()["items"]] == [v4["id"]]
    assert r.json()["next_cursor"] is None
    _, other = await provider(client, admin_headers)
    r = await client.get("/v1/home-care/bookings", headers=other)
    assert r.json()["items"] == []
    r = await client.get("/v1/home-care/bookings", params={"cursor": "nope"}, headers=staff)
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"
