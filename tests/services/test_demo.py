"""`huimin demo` loads organisations of each kind, schedules and beds, and can run twice."""

from __future__ import annotations

from datetime import timedelta

from core.clock import clock
from services.demo import load_demo


async def test_demo_data_is_usable_through_the_api(client, settings):
    printed: list[str] = []
    await load_demo(settings, printed.append)
    await load_demo(settings, lambda _line: None)  # a second run adds keys, not duplicates

    keys = [line.split("X-API-Key: ")[1] for line in printed if "X-API-Key: hm_" in line]
    assert len(keys) == 8  # admin, 2 offices, 2 institutions, provider, reviewer, approver
    assert any(line.strip().startswith("citizen") for line in printed)

    offices = (await client.get("/v1/marriage/offices?division_code=110105")).json()["items"]
    assert len(offices) == 1
    today = clock.today()
    slots = (await client.get(
        f"/v1/marriage/offices/{offices[0]['id']}/slots",
        params={"from": str(today + timedelta(days=3)), "to": str(today + timedelta(days=10))},
    )).json()["items"]
    assert slots and all(s["capacity"] == 20 for s in slots)

    institutions = (await client.get("/v1/institutions?division_code=510107")).json()["items"]
    assert len(institutions) == 1
    assert institutions[0]["vacancies"] == {"self_care": 3, "semi_care": 3, "full_care": 4,
                                            "dementia": 2}
    admin = {"X-API-Key": keys[0]}
    orgs = (await client.get("/v1/admin/organisations?limit=100", headers=admin)).json()
    assert len(orgs["items"]) == 6
