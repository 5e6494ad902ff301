"""Hostile input an outside security check sent (issue 25): every one is answered
with a 4xx problem, never a 500, and the rule that refuses it is one shared piece.

- dates at the edges (years 1 and 9999, offsets that carry them over a year's
  bound): every request date, datetime and month is bounded to 2000-2099
  (`schemas.common.Day`, `Instant`, `MONTH_PATTERN`) before any arithmetic;
- a body sent to a write that takes none is 422, not ignored (`api.route.no_body`);
- integers, numbers and booleans of a request body are taken as JSON gives them,
  never coerced (`schemas.common.StrictModel`);
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from fastapi.responses import JSONResponse

from api import app as app_module
from api.hotpath import _plans, hot
from api.route import Router
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

def _date_kind(schema: dict) -> str | None:
    if schema.get("format") in ("date-time", "date"):
        return schema["format"]
    if schema.get("type") == "string" and "YYYY-MM`" in schema.get("description", ""):
        return "month"
    return None


def _scalar_kind(schema: dict) -> str | None:
    return schema.get("type") if schema.get("type") in ("integer", "number", "boolean") \
        else None


def _fields(doc: dict, schema: dict, loc: list, kind_of) -> list[tuple[list, str]]:
    """(loc, kind) of every field inside `schema` that `kind_of` names; `loc` as the
    validation error names it (an array's item is index 0)."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    found = [(loc, kind_of(schema))] if kind_of(schema) else []
    for branch in schema.get("anyOf", []):
        found += _fields(doc, branch, loc, kind_of)
    for name, prop in schema.get("properties", {}).items():
        found += _fields(doc, prop, [*loc, name], kind_of)
    if isinstance(schema.get("items"), dict):
        found += _fields(doc, schema["items"], [*loc, "0"], kind_of)
    return found


def _body_with(loc: list, value: object):
    """The smallest JSON that puts `value` at `loc` (after "body")."""
    body: object = value
    for part in reversed(loc[1:]):
        body = [body] if part == "0" else {part: body}
    return body


async def _callers(client, admin_headers, settings):
    """Someone of every role, and the ids their paths need."""
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
    return who, ids


async def _sweep(client, who, ids, *, kind_of, values: dict, query: bool) -> int:
    """Every request field of the document that `kind_of` names (bodies; queries and
    paths too if `query`), sent with each of `values[kind]`: 422 `validation_error`
    naming that field, whatever else the request lacks (by the first caller whose role
    may call it); never a 500. Returns how many requests were checked."""
    doc = (await client.get("/openapi.json")).json()
    swept = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            fields = []
            if query:
                for p in op.get("parameters", []):
                    fields += _fields(doc, p["schema"], [p["in"], p["name"]], kind_of)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                fields += _fields(doc, body["schema"], ["body"], kind_of)
            path_names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            for loc, kind in fields:
                for value in values[kind]:
                    given = {**ids, **({loc[1]: value} if loc[0] == "path" else {})}
                    url = path.format_map({k: given.get(k, "x") for k in path_names})
                    kwargs: dict = {"params": {loc[1]: value}} if loc[0] == "query" else {}
                    if loc[0] == "body":
                        kwargs["json"] = _body_with(loc, value)
                    for headers in who:
                        r = await client.request(method.upper(), url, **kwargs,
                                                 headers={**headers, **idem()})
                        assert r.status_code != 500, (method, path, loc, value, r.text)
                        if r.status_code not in (401, 403):
                            break
                    assert r.status_code == 422, (method, path, loc, value, r.status_code,
                                                  r.text)
                    errs = r.json()["errors"]
                    assert any(e["loc"] == loc for e in errs), (method, path, loc, value, errs)
                    swept += 1
    return swept


async def test_every_request_date_datetime_and_month_is_bounded(client, admin_headers, settings):
    """Walks the OpenAPI document: every date, date-time and `YYYY-MM` month of a request
    body, query or path, sent at year 1 or 9999 (with the offsets that carry them past
    Python's and PostgreSQL's limits), is 422 `validation_error` naming that field,
    whatever else the request lacks; never a 500."""
    who, ids = await _callers(client, admin_headers, settings)
    swept = await _sweep(client, who, ids, kind_of=_date_kind, query=True, values={
        "date-time": ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"],
        "date": ["0001-01-01", "9999-12-31"], "month": ["0000-01", "9999-12"]})
    # The fields listed in issue 25 and every other one of these kinds in the document.
    print("swept", swept)
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



async def test_a_hot_command_without_a_body_refuses_one(settings, monkeypatch):
    """No hot command takes no body today; one that did would refuse a body alike: the
    rule is a dependency of the route, and the hot lane serves the route's own
    dependency tree (api/hotpath.py)."""
    probe = Router(public=True)

    @probe.post("/v1/test-only/hot-no-body")
    @hot
    async def hot_no_body() -> JSONResponse:
        return JSONResponse({"served": True})

    monkeypatch.setattr(app_module, "ROUTERS", [*app_module.ROUTERS, probe])
    application = app_module.create_app(settings)
    try:
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.post("/v1/test-only/hot-no-body", json={"reason": "x"})
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["type"] == "body_not_allowed"
            r = await c.post("/v1/test-only/hot-no-body")
            assert r.status_code == 200 and r.json() == {"served": True}, r.text
        assert any(route.path == "/v1/test-only/hot-no-body" for route, _plan in
                   _plans(application)), "served by the hot lane"
    finally:
        await application.state.db.dispose()

# --- integers, numbers and booleans as JSON gives them ------------------------------------

async def test_every_request_integer_number_and_boolean_is_strict(client, admin_headers,
                                                                   settings):
    """Walks the OpenAPI document: every integer, number and boolean of a request body,
    sent as another JSON type (`true` for an integer, `1` or `"true"` for a boolean,
    `"5"` for either number, `5.5` for an integer), is 422 `validation_error` naming
    that field. (`5.0` is an integer to JSON Schema, and is taken as 5.)"""
    who, ids = await _callers(client, admin_headers, settings)
    swept = await _sweep(client, who, ids, kind_of=_scalar_kind, query=False, values={
        "integer": [True, "5", 5.5], "number": [True, "5"], "boolean": [1, 0, "true"]})
    print("swept", swept)
    assert swept >= 3 * 30, swept


async def test_a_centre_session_of_capacity_true_is_refused(client, admin_headers):
    """The security check's case end to end: `"capacity": true` was a session of one."""
    prov, staff = await provider(client, admin_headers)
    body = {"service_code": "day_care", "date": "2026-12-08", "start": "11:00",
            "end": "13:00", "capacity": 40, "price_fen": 1500}
    url = f"/v1/providers/{prov['id']}/centre-sessions"
    for field, value in (("capacity", True), ("capacity", "40"), ("capacity", 40.5),
                         ("price_fen", False)):
        r = await client.post(url, headers=staff, json={**body, field: value})
        _refused_at(r, ["body", field])
        assert r.json()["errors"][0]["type"] in ("int_type", "int_from_float")
    r = await client.get("/v1/home-care/centre-sessions",
                         params={"provider_id": prov["id"], "from": "2026-12-08",
                                 "to": "2026-12-08"})
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    # 40.0 is a JSON Schema integer (schemathesis sends such): taken as 40.
    r = await client.post(url, headers=staff, json={**body, "capacity": 40.0})
    assert r.status_code == 201 and r.json()["capacity"] == 40, r.text


async def test_a_hot_booking_takes_no_coerced_values(client, admin_headers, settings):
    """The hot lane (api/hotpath.py) validates with the same models: a booking whose
    elder's nested fields come as other JSON types is refused alike."""
    set_china_time("2026-12-01")
    prov, staff = await provider(client, admin_headers)
    await caregiver(client, staff, prov["id"])
    good = {"provider_id": prov["id"], "service_code": "cleaning",
            "start_at": at("2026-12-08", "09:00"), "elder": elder()}
    for lat in (True, "31.2"):
        r = await client.post("/v1/home-care/bookings",
                              json={**good, "elder": {**good["elder"], "lat": lat}},
                              headers={**citizen_headers(settings), **idem()})
        _refused_at(r, ["body", "elder", "lat"])
        assert r.json()["errors"][0]["type"] == "float_type"
    r = await client.post("/v1/home-care/bookings",
                          json={**good, "elder": {**good["elder"], "lat": 31}},
                          headers={**citizen_headers(settings), **idem()})
    assert r.status_code == 201, r.text


# --- bodies that are not UTF-8 --------------------------------------------------------------

# Broken UTF-8; UTF-16 with and without its byte-order mark; a NUL byte.
NOT_UTF8 = [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"kind": "marriage\x80"}',
            b"\xff\xfe{\x00}\x00", b"{\x00}\x00", b'{"kind": "\x00"}']


async def _hot_and_plain_writes(client, admin_headers, settings) -> list[tuple[str, dict]]:
    """Writes served by the hot lane (a marriage booking, a lottery entry, a home-care
    booking) and one that is not (an organisation), each with a caller allowed to use it."""
    set_china_time("2026-12-01")
    office, staff = await lottery_office(client, admin_headers)
    lottery = (await schedule_lottery(client, office, staff)).json()
    return [("/v1/marriage/appointments", citizen_headers(settings)),
            (f"/v1/marriage/lotteries/{lottery['id']}/entries", citizen_headers(settings)),
            ("/v1/home-care/bookings", citizen_headers(settings)),
            ("/v1/admin/organisations", admin_headers)]


async def test_a_body_that_is_not_utf8_is_malformed_json_everywhere(client, admin_headers,
                                                                     settings):
    """A JSON body must be UTF-8 (API.md): bytes that are not are 400 `malformed_json`, on
    the hot lane (a marriage booking, a lottery entry, a home-care booking) as on every
    other write (an organisation)."""
    targets = await _hot_and_plain_writes(client, admin_headers, settings)
    for url, who in targets:
        for raw in NOT_UTF8:
            r = await client.post(url, content=raw, headers={
                **who, **idem(), "Content-Type": "application/json"})
            assert r.status_code == 400, (url, raw, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "malformed_json", (url, raw, r.text)


# --- Allow: the methods of the path, exactly ----------------------------------------------

async def test_options_and_405_allow_exactly_the_methods_of_the_path(client, app):
    """For every path of the route table (a value for each parameter), OPTIONS is 405
    with `Allow` naming exactly the methods the document gives that path: a static
    segment (`/appointments/lookup`) is its own path, not a value of a parameter
    (`/appointments/{appointment_id}`)."""
    doc = app.openapi()
    checked = 0
    for path, item in doc["paths"].items():
        url = re.sub(r"\{[^}]+\}", "x1", path)
        methods = {m.upper() for m in item}
        r = await client.options(url)
        assert r.status_code == 405, (path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert allowed == methods, (path, allowed, methods)
        checked += 1
    assert checked >= 100, checked
    r = await client.options("/v1/marriage/appointments/lookup")
    assert r.headers["allow"] == "POST"


# --- other hostile values: huge numbers, over-long strings ------------------------------------

HOSTILE = {"integer": [str(2**63), str(-2**63), "9" * 40], "number": ["1e400", "-1e400", "nan"],
           "string": ["x" * 5000, "a\x00b", "\u202e" * 3], "boolean": ["2"]}


async def test_no_query_or_path_value_is_a_server_error(client, admin_headers, settings):
    """Every query and path parameter of the document, sent huge (integers past 64 bits,
    numbers past a double, strings of 5000 characters), by every role: a 4xx, never a
    500 (PostgreSQL refused integers past its int4 and int8)."""
    who, ids = await _callers(client, admin_headers, settings)
    doc = (await client.get("/openapi.json")).json()
    checked = 0
    failures = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            for p in params:
                if p["in"] not in ("query", "path"):
                    continue
                schema = p["schema"]
                kind = schema.get("type") or next(
                    (b.get("type") for b in schema.get("anyOf", []) if b.get("type") != "null"),
                    "string")
                for value in HOSTILE.get(kind, HOSTILE["string"]):
                    given = {**ids, **({p["name"]: quote(value, safe="")}
                                       if p["in"] == "path" else {})}
                    url = path.format_map({q["name"]: given.get(q["name"], "x")
                                           for q in params if q["in"] == "path"})
                    query = {p["name"]: value} if p["in"] == "query" else {}
                    for headers in who:
                        r = await client.request(method.upper(), url, params=query,
                                                 headers={**headers, **idem()})
                        if r.status_code >= 500:
                            failures.append((method, path, p["name"], value[:12],
                                             r.status_code))
                        checked += 1
    assert not failures, "\n".join(map(str, failures))
    assert checked > 500, checked


async def test_json_the_parser_cannot_take_is_malformed_json_everywhere(client, admin_headers,
                                                                         settings):
    """JSON nested deeper than the parser goes, or a number of more digits than Python
    converts (4300), is 400 `malformed_json` on the hot lane as on every other route."""
    targets = await _hot_and_plain_writes(client, admin_headers, settings)
    for url, who in targets:
        for raw in (b"[" * 50_000 + b"]" * 50_000, b'{"kind": ' + b"9" * 5000 + b"}",
                    b'{"lat": 1' + b"0" * 5000 + b"}"):
            r = await client.post(url, content=raw, headers={
                **who, **idem(), "Content-Type": "application/json"})
            assert r.status_code == 400, (url, raw[:20], r.status_code, r.text)
            assert r.json()["code"] == "malformed_json", (url, raw[:20], r.text)


def test_a_request_model_handed_out_again_and_again_keeps_its_integer_rule():
    """Every app (tests build hundreds) makes new TypeAdapters of the same request models,
    and pydantic hands each the model's cached core schema: the integer rule must be
    put on it once, not once more each time (which nested it past the recursion limit
    and broke every app built after)."""
    from typing import Annotated

    from fastapi import Body
    from pydantic import TypeAdapter, ValidationError

    from schemas.home_care import RatingIn

    for _ in range(1200):  # as FastAPI makes one for each route of each app
        adapter = TypeAdapter(Annotated[RatingIn, Body()])
    assert adapter.validate_python({"stars": 5.0}).stars == 5
    with pytest.raises(ValidationError):
        adapter.validate_python({"stars": True})
