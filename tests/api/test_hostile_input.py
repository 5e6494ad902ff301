"""Hostile input an outside security check sent (issue 25): every one is answered
with a 4xx problem, never a 500, and the rule that refuses it is one shared piece.

- dates at the edges (years 1 and 9999, offsets that carry them over a year's
  bound): every request date, datetime and month is bounded to 2000-2099
  (`schemas.common.Day`, `Instant`, `MONTH_PATTERN`) before any arithmetic;
- a body sent to a write that takes none is 422, not ignored (`api.route.no_body`);
"""

from __future__ import annotations

import pytest

from tests.api.test_home_care_support import at, caregiver, elder, provider, set_china_time
from tests.api.test_marriage_lottery_support import lottery_office, schedule_lottery
from tests.factories import citizen_headers, idem, org_with_staff

EDGE_DATETIMES = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                  "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]
EDGE_DATES = ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"]
EDGE_MONTHS = ["0000-01", "9999-12", "1999-12", "2100-01"]


def _refused_at(r, loc: list[str]) -> None:
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    assert body["code"] == "validation_error", body
    assert any(e["loc"] == loc for e in body["errors"]), body["errors"]


@pytest.mark.parametrize("start_at", EDGE_DATETIMES)
async def test_a_home_care_booking_at_the_edge_of_time_is_422(client, admin_headers, settings,
                                                              start_at):
    """The hot command (api/hotpath.py) validates with the same model."""
    set_china_time("2026-12-01")
    prov, staff = await provider(client, admin_headers)
    await caregiver(client, staff, prov["id"])
    r = await client.post("/v1/home-care/bookings", headers={**citizen_headers(settings), **idem()},
                          json={"provider_id": prov["id"], "service_code": "cleaning",
                                "start_at": start_at, "elder": elder()})
    _refused_at(r, ["body", "start_at"])


@pytest.mark.parametrize("edge", EDGE_DATETIMES)
async def test_a_lottery_opening_at_the_edge_of_time_is_422(client, admin_headers, edge):
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    r = await schedule_lottery(client, office, staff, opens=edge)
    _refused_at(r, ["body", "entries_open_at"])
    r = await schedule_lottery(client, office, staff, closes=edge)
    _refused_at(r, ["body", "entries_close_at"])


@pytest.mark.parametrize("edge", EDGE_DATETIMES)
async def test_time_off_at_the_edge_of_time_is_422(client, admin_headers, edge):
    set_china_time("2026-12-01")
    prov, staff = await provider(client, admin_headers)
    cg = await caregiver(client, staff, prov["id"])
    url = f"/v1/providers/{prov['id']}/caregivers/{cg['id']}/time-off"
    r = await client.post(url, headers=staff,
                          json={"starts_at": edge, "ends_at": at("2026-12-08", "17:00")})
    _refused_at(r, ["body", "starts_at"])
    r = await client.post(url, headers=staff,
                          json={"starts_at": at("2026-12-08", "13:00"), "ends_at": edge})
    _refused_at(r, ["body", "ends_at"])


@pytest.mark.parametrize("edge", EDGE_DATES)
async def test_time_off_days_and_a_centre_session_at_the_edge_of_time_are_422(
        client, admin_headers, edge):
    set_china_time("2026-12-01")
    prov, staff = await provider(client, admin_headers)
    cg = await caregiver(client, staff, prov["id"])
    r = await client.post(f"/v1/providers/{prov['id']}/caregivers/{cg['id']}/time-off",
                          headers=staff, json={"date": edge})
    _refused_at(r, ["body", "date"])
    r = await client.post(f"/v1/providers/{prov['id']}/centre-sessions", headers=staff,
                          json={"service_code": "day_care", "date": edge, "start": "11:00",
                                "end": "13:00", "capacity": 40, "price_fen": 1500})
    _refused_at(r, ["body", "date"])


@pytest.mark.parametrize("month", EDGE_MONTHS)
async def test_a_ledger_month_at_the_edge_of_time_is_422(client, admin_headers, month):
    prov, staff = await provider(client, admin_headers)
    r = await client.get("/v1/admin/home-care-ledger", params={"month": month},
                         headers=admin_headers)
    _refused_at(r, ["query", "month"])
    r = await client.get(f"/v1/providers/{prov['id']}/home-care-ledger",
                         params={"month": month}, headers=staff)
    _refused_at(r, ["query", "month"])


# --- the sweep: every date, datetime and month a request takes, at the edges -----------

EDGES = {"date-time": ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"],
         "date": ["0001-01-01", "9999-12-31"], "month": ["0000-01", "9999-12"]}


def _kind(schema: dict) -> str | None:
    if schema.get("format") in ("date-time", "date"):
        return schema["format"]
    if schema.get("type") == "string" and "YYYY-MM`" in schema.get("description", ""):
        return "month"
    return None


def _time_fields(doc: dict, schema: dict, loc: list) -> list[tuple[list, str]]:
    """(loc, kind) of every date, date-time and month inside `schema`; `loc` as the
    validation error names it (an array's item is index 0)."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    found = [(loc, _kind(schema))] if _kind(schema) else []
    for branch in schema.get("anyOf", []):
        found += _time_fields(doc, branch, loc)
    for name, prop in schema.get("properties", {}).items():
        found += _time_fields(doc, prop, [*loc, name])
    if isinstance(schema.get("items"), dict):
        found += _time_fields(doc, schema["items"], [*loc, "0"])
    return found


def _body_with(loc: list, value: str):
    """The smallest JSON that puts `value` at `loc` (after "body")."""
    body: object = value
    for part in reversed(loc[1:]):
        body = [body] if part == "0" else {part: body}
    return body


async def test_every_request_date_datetime_and_month_is_bounded(client, admin_headers, settings):
    """Walks the OpenAPI document: every date, date-time and `YYYY-MM` month of a request
    body, query or path, sent at year 1 or 9999 (with the offsets that carry them past
    Python's and PostgreSQL's limits), is 422 `validation_error` naming that field,
    whatever else the request lacks; never a 500."""
    set_china_time("2026-12-01")
    office, office_staff = await lottery_office(client, admin_headers)
    prov, provider_staff = await provider(client, admin_headers)
    cg = await caregiver(client, provider_staff, prov["id"])
    reviewer = await org_with_staff(client, admin_headers, "civil_affairs_bureau")
    institution = await org_with_staff(client, admin_headers, "care_institution")
    r = await client.post(f"/v1/providers/{prov['id']}/caregivers/{cg['id']}/api-keys",
                          json={"name": "李秀英-手机"}, headers=provider_staff)
    assert r.status_code == 201, r.text
    who = [admin_headers, citizen_headers(settings), office_staff, provider_staff,
           reviewer[1], institution[1], {"X-API-Key": r.json()["key"]}]
    ids = {"office_id": office["id"], "provider_id": prov["id"], "caregiver_id": cg["id"],
           "year": "2027"}
    doc = (await client.get("/openapi.json")).json()
    swept = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            fields = []
            for p in op.get("parameters", []):
                fields += _time_fields(doc, p["schema"], [p["in"], p["name"]])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                fields += _time_fields(doc, body["schema"], ["body"])
            for loc, kind in fields:
                for edge in EDGES[kind]:
                    values = {**ids, **({loc[1]: edge} if loc[0] == "path" else {})}
                    url = path.format_map({k: values.get(k, "x") for k in
                                           [p["name"] for p in op.get("parameters", [])
                                            if p["in"] == "path"]})
                    kwargs = {"params": {loc[1]: edge}} if loc[0] == "query" else {}
                    if loc[0] == "body":
                        kwargs["json"] = _body_with(loc, edge)
                    answers = []
                    for headers in who:
                        r = await client.request(method.upper(), url, **kwargs,
                                                 headers={**headers, **idem()})
                        assert r.status_code != 500, (method, path, loc, edge, r.text)
                        answers.append(r)
                        if r.status_code not in (401, 403):
                            break
                    r = answers[-1]
                    assert r.status_code == 422, (method, path, loc, edge, r.status_code, r.text)
                    errs = r.json()["errors"]
                    assert any(e["loc"] == loc for e in errs), (method, path, loc, edge, errs)
                    swept += 1
    # The fields listed in issue 25 and every other one of these kinds in the document.
    assert swept >= 2 * 40, swept


# --- a body sent to a write that takes none ---------------------------------------------

UNWANTED_BODIES = [b'{"reason": "\xe6\x9c\x89\xe4\xba\x8b"}', b"{}", b"null", b"[]", b"0"]


async def test_every_write_without_a_body_refuses_one(client, admin_headers):
    """Every write the document gives no request body refuses any body, `{}` and `null`
    included, with 422 `validation_error` at `body` (after authentication: 401 first);
    with no body at all it goes on to its own answer."""
    doc = (await client.get("/openapi.json")).json()
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("post", "put", "patch", "delete") or "requestBody" in op:
                continue
            url = path.replace("{", "x").replace("}", "")
            for body in UNWANTED_BODIES:
                r = await client.request(method.upper(), url, content=body, headers={
                    **admin_headers, **idem(), "Content-Type": "application/json"})
                assert r.status_code == 422, (method, path, body, r.status_code, r.text)
                assert r.json()["code"] == "validation_error"
                assert r.json()["errors"] == [{"loc": ["body"], "type": "body_not_allowed",
                                               "msg": "此操作不接受请求体"}], r.json()
            r = await client.request(method.upper(), url, content=b"{}",
                                     headers={"Content-Type": "application/json"})
            assert r.status_code == 401, (method, path, r.text)
            for empty in ({}, {"Content-Length": "0"}):
                r = await client.request(method.upper(), url, headers={
                    **admin_headers, **idem(), **empty})
                assert r.status_code != 422 or r.json()["errors"][0]["type"] != "body_not_allowed"
            checked += 1
    assert checked >= 15, checked


async def test_a_cancel_with_a_reason_is_refused_not_done_without_it(client, admin_headers):
    """A lottery's cancel takes no body: one sent with a reason changes nothing (the
    office learns the reason was not read); without a body the cancel is done."""
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lottery = (await schedule_lottery(client, office, staff)).json()
    url = f"/v1/marriage/lotteries/{lottery['id']}"
    r = await client.post(f"{url}/cancel", json={"reason": "场地维修"}, headers=staff)
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "body_not_allowed"
    assert (await client.get(url)).json()["status"] == "scheduled"
    r = await client.post(f"{url}/cancel", headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
