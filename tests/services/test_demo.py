"""`huimin demo` loads organisations of each kind, schedules and beds, and can run twice."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from api.cli import app as cli
from core.clock import clock
from core.settings import get_settings
from services.demo import DEMO_ORGS, demo_org_id, load_demo


async def test_demo_data_is_usable_through_the_api(client, settings):
    printed: list[str] = []
    await load_demo(settings, printed.append)
    await load_demo(settings, lambda _line: None)  # a second run adds keys, not duplicates

    keys = [line.split("X-API-Key: ")[1] for line in printed if "X-API-Key: hm_" in line]
    # admin, 2 offices, 2 institutions, provider, reviewer, approver, identity verifier
    assert len(keys) == 9
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
    assert len(orgs["items"]) == 7


def _items(body):  # noqa: ANN001, ANN202 - a page or, for API keys, a bare list
    return body["items"] if isinstance(body, dict) else body


async def _user_office(client, admin_headers) -> str:  # noqa: ANN001
    """An organisation an admin made, named exactly like a demo one."""
    r = await client.post("/v1/admin/organisations", headers=admin_headers, json={
        "kind": "registration_office", "name": "朝阳区婚姻登记处", "division_code": "110105"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _demo_keys(run) -> list[str]:  # noqa: ANN001
    printed: list[str] = []
    await run(printed.append)
    return [line.split("X-API-Key: ")[1] for line in printed if "X-API-Key: hm_" in line]


async def test_demo_runs_again_after_someone_made_an_organisation_with_a_demo_name(
        client, settings, admin_headers):
    assert len(await _demo_keys(lambda echo: load_demo(settings, echo))) == 9
    user_office = await _user_office(client, admin_headers)

    # Before: two organisations named 朝阳区婚姻登记处 -> MultipleResultsFound.
    keys = await _demo_keys(lambda echo: load_demo(settings, echo))
    assert len(keys) == 9  # new keys for every demo role again

    offices = _items((await client.get("/v1/marriage/offices?division_code=110105")).json())
    assert sorted(o["id"] for o in offices) == sorted([demo_org_id("office-110105"),
                                                       user_office])
    orgs = (await client.get("/v1/admin/organisations?limit=100", headers=admin_headers)).json()
    assert len(orgs["items"]) == 8
    user_keys = await client.get(f"/v1/admin/organisations/{user_office}/api-keys",
                                 headers=admin_headers)
    assert _items(user_keys.json()) == []  # the demo never touches it
    r = await client.get("/v1/me", headers={"X-API-Key": keys[1]})
    assert r.json()["org_id"] == demo_org_id("office-110105")


async def test_demo_does_not_take_over_an_organisation_that_only_shares_a_demo_name(
        client, settings, admin_headers):
    user_office = await _user_office(client, admin_headers)
    await load_demo(settings, lambda _line: None)

    user_keys = await client.get(f"/v1/admin/organisations/{user_office}/api-keys",
                                 headers=admin_headers)
    assert _items(user_keys.json()) == []
    orgs = (await client.get("/v1/admin/organisations?limit=100", headers=admin_headers)).json()
    assert len(orgs["items"]) == 8
    assert {demo_org_id(key) for key, _fields, _keys in DEMO_ORGS} <= \
        {o["id"] for o in orgs["items"]}


def test_huimin_demo_twice_on_one_database_prints_keys_both_times(fresh_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    try:
        runs = [CliRunner().invoke(cli, ["demo", "--base-url", "http://127.0.0.1:8101"])
                for _ in range(2)]
    finally:
        get_settings.cache_clear()
    for result in runs:
        assert result.exit_code == 0, result.output
        assert result.output.count("X-API-Key: hm_") == 9
        assert "new keys on every run" in result.output
        assert "curl -s http://127.0.0.1:8101/v1/me" in result.output
    first, second = ({line.split("X-API-Key: ")[1] for line in r.output.splitlines()
                      if "X-API-Key: hm_" in line} for r in runs)
    assert len(first) == len(second) == 9
    assert not first & second, first & second  # fresh keys: only their hashes are stored


async def test_demo_home_care_provider_has_offerings_and_caregivers(client, settings):
    await load_demo(settings, lambda _line: None)
    await load_demo(settings, lambda _line: None)  # a second run adds no caregivers
    provider_id = demo_org_id("provider-310101")
    offerings = (await client.get(f"/v1/providers/{provider_id}/offerings")).json()
    assert len(offerings["items"]) == 4
    day = clock.today() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    r = await client.get("/v1/home-care/availability", params={
        "provider_id": provider_id, "service_code": "cleaning", "date": str(day)})
    assert r.status_code == 200 and r.json()["start_times"]
