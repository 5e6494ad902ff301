"""Caregivers' own keys: the provider issues, lists and revokes them; with one, a
caregiver reads its day (the elders' addresses and phones in full), reads, checks in
and checks out its own visits, and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.clock import clock
from core.security import new_api_key
from schemas.organisation import ApiKey
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    provider,
    set_china_time,
)
from tests.factories import citizen_headers, make_phone, org_with_staff

HOME = {"lat": 31.235, "lon": 121.48}
NEXT_DAY = "2026-12-09"
ME = "/v1/caregivers/me/visits"


def _keys(org_id: str, caregiver_id: str, key_id: str = "") -> str:
    path = f"/v1/providers/{org_id}/caregivers/{caregiver_id}/api-keys"
    return f"{path}/{key_id}" if key_id else path


async def _issue(client, staff, org_id, caregiver_id, name="李秀英-手机") -> dict:
    r = await client.post(_keys(org_id, caregiver_id), json={"name": name}, headers=staff)
    assert r.status_code == 201, r.text
    return r.json()


def _as(created: dict) -> dict[str, str]:
    return {"X-API-Key": created["key"]}


async def _team(client, admin_headers):
    """A provider with two caregivers, each with a key of their own."""
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, lat=31.23, lon=121.47)
    li = await caregiver(client, staff, org["id"], name="李秀英")
    zhang = await caregiver(client, staff, org["id"], name="张桂兰")
    li_key = await _issue(client, staff, org["id"], li["id"], "李秀英-手机")
    zhang_key = await _issue(client, staff, org["id"], zhang["id"], "张桂兰-手机")
    return org, staff, li, zhang, li_key, zhang_key


async def _visit(client, settings, org, who, start, *, day=DAY, address=None,
                 family=None) -> dict:
    home = elder(phone=make_phone(), **HOME,
                 **({"address": address} if address is not None else {}))
    r = await book(client, settings, org["id"], at(day, start), caregiver_id=who["id"],
                   elder_=home, who=family)
    assert r.status_code == 201, r.text
    return {**r.json(), "_elder": home}


def _path(visit: dict, action: str = "") -> str:
    return f"/v1/home-care/bookings/{visit['id']}" + (f"/{action}" if action else "")


# --- issuing, listing, revoking ---------------------------------------------------------


async def test_provider_issues_a_caregiver_key_shown_once_that_authenticates(
        client, admin_headers, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    li = await caregiver(client, staff, org["id"])
    r = await client.post(_keys(org["id"], li["id"]), json={"name": "李秀英-手机"},
                          headers=staff)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["role"] == "caregiver" and created["caregiver_id"] == li["id"]
    assert created["org_id"] == org["id"] and created["name"] == "李秀英-手机"
    assert created["key"].startswith("hm_")
    assert r.headers["Location"] == _keys(org["id"], li["id"], created["id"])

    me = await client.get("/v1/me", headers=_as(created))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "caregiver" and me.json()["caregiver_id"] == li["id"]
    assert me.json()["org_id"] == org["id"] and me.json()["subject"] == created["id"]

    listed = await client.get(_keys(org["id"], li["id"]), headers=staff)
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
    assert listed.json()["items"][0]["caregiver_id"] == li["id"]
    assert created["key"] not in listed.text and "key" not in listed.json()["items"][0]
    async with db.session() as session:
        row = (await session.execute(select(ApiKey).where(ApiKey.id == created["id"]))
               ).scalar_one()
    assert row.caregiver_id == li["id"] and created["key"] not in (row.key_hash, row.lookup)

    audit = await client.get("/v1/admin/audit-events", headers=admin_headers,
                             params={"action": "api_key.create", "object_id": created["id"]})
    assert [e["org_id"] for e in audit.json()["items"]] == [org["id"]]


async def test_another_providers_or_an_unknown_caregiver_is_404(client, admin_headers):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    li = await caregiver(client, staff, org["id"])
    other, other_staff = await provider(client, admin_headers, name="静安区为老服务中心")
    for path, headers in ((_keys(other["id"], li["id"]), other_staff),  # its own org id
                          (_keys(org["id"], li["id"]), other_staff),    # the caregiver's
                          (_keys(org["id"], "hcg_nobody"), staff)):
        r = await client.post(path, json={"name": "x"}, headers=headers)
        assert r.status_code == 404, (path, r.text)
        assert (await client.get(path, headers=headers)).status_code == 404
    assert (await client.get(_keys(org["id"], li["id"]), headers=staff)).json()["items"] == []


async def test_a_deactivated_caregiver_gets_no_key(client, admin_headers):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    li = await caregiver(client, staff, org["id"])
    r = await client.post(f"/v1/providers/{org['id']}/caregivers/{li['id']}/deactivate",
                          headers=staff)
    assert r.status_code == 200, r.text
    r = await client.post(_keys(org["id"], li["id"]), json={"name": "x"}, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert r.json()["current_status"] == "inactive"


async def test_the_admin_cannot_mint_a_caregiver_key(client, admin_headers):
    org, _ = await org_with_staff(client, admin_headers, "home_care_provider")
    r = await client.post(f"/v1/admin/organisations/{org['id']}/api-keys",
                          json={"role": "caregiver", "name": "李秀英"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "role_not_allowed"
    listed = await client.get(f"/v1/admin/organisations/{org['id']}/api-keys",
                              headers=admin_headers)
    assert [k["role"] for k in listed.json()["items"]] == ["provider"]


async def test_a_caregiver_key_is_bound_to_a_caregiver_and_only_it(client, admin_headers,
                                                                   db):
    """The database's backstop under the two routes: no caregiver key without its
    caregiver, no other key with one."""
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    li = await caregiver(client, staff, org["id"])
    async with db.session() as session:
        for role, bound_to in (("caregiver", None), ("provider", li["id"])):
            _, lookup, key_hash = new_api_key()
            session.add(ApiKey(id=f"key_{role}", org_id=org["id"], name="x", role=role,
                               caregiver_id=bound_to, lookup=lookup, key_hash=key_hash,
                               created_at=clock.now()))
            with pytest.raises(IntegrityError, match="ck_api_key_caregiver_bound"):
                await session.flush()
            await session.rollback()


async def test_a_revoked_key_is_401_and_the_caregivers_other_keys_still_work(
        client, admin_headers):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    spare = await _issue(client, staff, org["id"], li["id"], "李秀英-备用手机")
    # Only this caregiver's keys can be revoked through its path.
    r = await client.delete(_keys(org["id"], li["id"], zhang_key["id"]), headers=staff)
    assert r.status_code == 404
    r = await client.delete(_keys(org["id"], li["id"], li_key["id"]), headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None and r.json()["caregiver_id"] == li["id"]
    r = await client.get(ME, headers=_as(li_key))
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    assert (await client.get(ME, headers=_as(spare))).status_code == 200
    assert (await client.get(ME, headers=_as(zhang_key))).status_code == 200
    again = await client.delete(_keys(org["id"], li["id"], li_key["id"]), headers=staff)
    assert again.status_code == 200 and again.json()["revoked_at"] is not None


async def test_a_deactivated_caregivers_keys_are_401(client, admin_headers):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    assert (await client.get(ME, headers=_as(li_key))).status_code == 200
    r = await client.post(f"/v1/providers/{org['id']}/caregivers/{li['id']}/deactivate",
                          headers=staff)
    assert r.status_code == 200, r.text
    r = await client.get(ME, headers=_as(li_key))
    assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    assert (await client.get("/v1/me", headers=_as(li_key))).status_code == 401
    assert (await client.get(ME, headers=_as(zhang_key))).status_code == 200


# --- the caregiver's own visits ---------------------------------------------------------


async def test_a_caregiver_checks_in_and_out_its_own_visit(client, admin_headers, settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    visit = await _visit(client, settings, org, li, "10:00")
    r = await client.get(_path(visit), headers=_as(li_key))
    assert r.status_code == 200 and r.json()["caregiver"]["id"] == li["id"]
    # The visit's own caregiver must be able to call the family: the phone in full.
    assert r.json()["elder"]["phone"] == visit["_elder"]["phone"]
    set_china_time(DAY, "09:55")
    r = await client.post(_path(visit, "check-in"), json=HOME, headers=_as(li_key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_service"
    set_china_time(DAY, "11:00")
    r = await client.post(_path(visit, "check-out"), json=HOME, headers=_as(li_key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["family_paid_fen"] == 6000


async def test_another_caregiver_even_of_the_same_provider_gets_404(client, admin_headers,
                                                                    settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    other, other_staff = await provider(client, admin_headers, name="静安区为老服务中心")
    wang = await caregiver(client, other_staff, other["id"], name="王淑芬")
    wang_key = await _issue(client, other_staff, other["id"], wang["id"])
    visit = await _visit(client, settings, org, li, "10:00")
    set_china_time(DAY, "09:55")
    for stranger in (zhang_key, wang_key):
        assert (await client.get(_path(visit), headers=_as(stranger))).status_code == 404
        for action in ("check-in", "check-out"):
            r = await client.post(_path(visit, action), json=HOME, headers=_as(stranger))
            assert r.status_code == 404 and r.json()["code"] == "not_found", (action, r.text)
    r = await client.get(_path(visit), headers=staff)
    assert r.json()["status"] == "booked"


async def test_a_caregiver_may_not_use_the_providers_operations(client, admin_headers,
                                                                settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    visit = await _visit(client, settings, org, li, "10:00")
    p, c = f"/v1/providers/{org['id']}", f"/v1/providers/{org['id']}/caregivers/{li['id']}"
    calls = [
        ("PUT", f"{p}/offerings/cleaning", {"price_fen": 1, "duration_minutes": 60}),
        ("POST", f"{p}/caregivers", {"name": "x", "skills": ["cleaning"], "weekly_hours": []}),
        ("GET", f"{p}/caregivers", None),
        ("GET", c, None),
        ("POST", f"{c}/deactivate", None),
        ("POST", f"{c}/time-off", {"date": DAY}),
        ("GET", f"{c}/time-off", None),
        ("POST", _keys(org["id"], li["id"]), {"name": "another phone"}),
        ("GET", _keys(org["id"], li["id"]), None),
        ("DELETE", _keys(org["id"], li["id"], li_key["id"]), None),
        ("POST", f"{p}/centre-sessions", {"service_code": "meal_assist", "date": DAY,
                                          "start": "11:00", "end": "13:00", "capacity": 1,
                                          "price_fen": 1}),
        ("GET", f"{p}/home-care-ledger?month=2026-12", None),
        ("GET", "/v1/home-care/bookings", None),
        ("GET", "/v1/home-care/centre-bookings", None),
        ("POST", _path(visit, "cancel"), {"reason": "x"}),
        ("POST", _path(visit, "no-show"), None),
        ("POST", _path(visit, "rate"), {"stars": 5}),
        ("GET", "/v1/webhook-subscriptions", None),
        ("GET", "/v1/admin/audit-events", None),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=_as(li_key))
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path, r.text)
    r = await client.get(_path(visit), headers=staff)
    assert r.json()["status"] == "booked"
    assert (await client.get(ME, headers=_as(li_key))).status_code == 200  # the key works


async def test_my_visits_are_my_own_of_that_day_in_order_with_the_full_address_and_phone(
        client, admin_headers, settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    afternoon = await _visit(client, settings, org, li, "14:00", address="上海市黄浦区福州路 8 号")
    morning = await _visit(client, settings, org, li, "09:00", address="上海市黄浦区九江路 2 号")
    await _visit(client, settings, org, li, "10:00", day=NEXT_DAY)
    await _visit(client, settings, org, zhang, "10:00")
    family = citizen_headers(settings)
    cancelled = await _visit(client, settings, org, li, "16:00", family=family)
    r = await client.post(_path(cancelled, "cancel"), headers=family)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    r = await client.get(ME, params={"date": DAY}, headers=_as(li_key))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [v["id"] for v in items] == [morning["id"], afternoon["id"]]
    first = items[0]
    assert first["elder"]["phone"] == morning["_elder"]["phone"]
    assert first["elder"]["address"] == "上海市黄浦区九江路 2 号"
    assert items[1]["elder"]["address"] == "上海市黄浦区福州路 8 号"
    assert first["elder"]["name"] == "王建国" and first["service_code"] == "cleaning"
    assert first["service_name"] == "助洁" and first["status"] == "booked"
    assert first["starts_at"] == "2026-12-08T09:00:00+08:00"
    assert first["ends_at"] == "2026-12-08T10:00:00+08:00"
    assert "id_number" not in r.text and "id_number_masked" not in r.text

    page = await client.get(ME, params={"date": DAY, "limit": 1}, headers=_as(li_key))
    assert [v["id"] for v in page.json()["items"]] == [morning["id"]]
    rest = await client.get(ME, params={"date": DAY, "cursor": page.json()["next_cursor"]},
                            headers=_as(li_key))
    assert [v["id"] for v in rest.json()["items"]] == [afternoon["id"]]
    assert rest.json()["next_cursor"] is None

    set_china_time(DAY, "07:00")  # without a date: today, China time
    r = await client.get(ME, headers=_as(li_key))
    assert [v["id"] for v in r.json()["items"]] == [morning["id"], afternoon["id"]]
    r = await client.get(ME, headers=_as(zhang_key))
    assert len(r.json()["items"]) == 1 and r.json()["items"][0]["id"] not in (
        morning["id"], afternoon["id"])

    audit = await client.get("/v1/admin/audit-events", headers=admin_headers,
                             params={"action": "home_care_booking.list",
                                     "object_id": li["id"]})
    rows = audit.json()["items"]
    assert len(rows) == 4  # each page read, each one the caregiver's
    assert {(e["actor_id"], e["actor_role"], e["org_id"]) for e in rows} == {
        (li_key["id"], "caregiver", org["id"])}


async def test_my_visits_are_for_caregivers_only(client, admin_headers, settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    for headers in (citizen_headers(settings), staff, admin_headers):
        r = await client.get(ME, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text


async def test_the_audit_row_of_a_caregivers_check_in_names_the_caregiver(
        client, admin_headers, settings):
    org, staff, li, zhang, li_key, zhang_key = await _team(client, admin_headers)
    visit = await _visit(client, settings, org, li, "10:00")
    set_china_time(DAY, "09:55")
    r = await client.post(_path(visit, "check-in"), json=HOME, headers=_as(li_key))
    assert r.status_code == 200, r.text
    audit = await client.get("/v1/admin/audit-events", headers=admin_headers,
                             params={"action": "home_care_booking.check_in",
                                     "object_id": visit["id"]})
    [row] = audit.json()["items"]
    assert row["actor_kind"] == "staff" and row["actor_role"] == "caregiver"
    assert row["actor_id"] == li_key["id"] and row["org_id"] == org["id"]
    assert row["actor_name"] == "李秀英-手机" and row["actor_caregiver_id"] == li["id"]


async def test_the_documented_times_are_date_times_in_china_time(app):
    """The caregiver's answers' times are `ChinaTime`: written at +08:00 (above) and
    documented as what they are."""
    schemas = app.openapi()["components"]["schemas"]
    for model, field in (("CaregiverVisitPublic", "starts_at"),
                         ("CaregiverVisitPublic", "check_in_at"),
                         ("CaregiverKeyPublic", "created_at")):
        prop = schemas[model]["properties"][field]
        branches = prop.get("anyOf", [prop])
        assert {"type": "string", "format": "date-time"} in [
            {k: b[k] for k in ("type", "format") if k in b} for b in branches], (model, prop)
