"""The OpenAPI document tells the truth (issue 7, part 8): required headers are
marked required, dependencies bring their own errors, response headers are
documented where sent, 405 names what is allowed, bad credentials are 401,
query values are bounded, and the citizen's booking has its check-in code."""

from __future__ import annotations

from api.conditional import Conditional
from api.deps import Idempotent, IfMatch, Paging
from tests.api.test_marriage_support import (
    book,
    citizen,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import idem, org_with_staff

APPT = "/v1/marriage/appointments"


def _ops(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def _codes(op: dict, status: str) -> set[str]:
    content = op["responses"].get(status, {}).get("content", {})
    return set(content.get("application/problem+json", {}).get("examples", {}))


def _param(op: dict, name: str) -> dict | None:
    return next((p for p in op.get("parameters", []) if p["name"] == name), None)


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


# --- 1. required headers, and the errors their dependencies bring ----------------


async def test_idempotency_key_is_required_with_its_constraints(app):
    doc = app.openapi()
    for path in (APPT, "/v1/bed-applications"):
        p = _param(doc["paths"][path]["post"], "Idempotency-Key")
        assert p["required"] is True, path
        assert p["schema"] == {"type": "string", "minLength": 1, "maxLength": 255,
                               "pattern": "^[ -~]+$", "examples": [p["schema"]["examples"][0]]}
    optional = _param(doc["paths"]["/v1/admin/organisations"]["post"], "Idempotency-Key")
    assert optional["required"] is False and optional["schema"]["maxLength"] == 255


async def test_if_match_is_required_except_on_a_schedule_not_yet_published(app):
    doc = app.openapi()
    for method, path, op in _ops(doc):
        p = _param(op, "If-Match")
        if p is None:
            continue
        if path.endswith("/weekly-schedule"):
            assert p["required"] is False and "once it exists" in p["description"]
        else:
            assert p["required"] is True, f"{method} {path}"
        assert {"precondition_failed"} <= _codes(op, "412")
        assert op["responses"]["412"]["headers"]["ETag"]["required"] is True
        assert {"precondition_required"} <= _codes(op, "428")
    patches = [path for method, path, op in _ops(doc) if method == "PATCH"]
    assert patches and all(_param(doc["paths"][p]["patch"], "If-Match") for p in patches)


async def test_every_idempotent_create_documents_the_idempotency_errors(app):
    doc = app.openapi()
    seen = 0
    for method, path, op in _ops(doc):
        if _param(op, "Idempotency-Key") is None:
            continue
        seen += 1
        where = f"{method} {path}"
        assert "idempotency_key_required" in _codes(op, "400"), where
        assert "idempotency_in_flight" in _codes(op, "409"), where
        assert "idempotency_key_reused" in _codes(op, "422"), where
    assert seen >= 3


async def test_every_list_documents_invalid_cursor(app):
    doc = app.openapi()
    lists = []
    for method, path, op in _ops(doc):
        media = op["responses"].get("200", {}).get("content", {}).get("application/json")
        if media is None:
            continue
        props = _resolve(doc, media["schema"]).get("properties", {})
        # A list that takes a cursor (every list but the one-page catalogue).
        if "next_cursor" in props and _param(op, "cursor") is not None:
            lists.append(path)
            assert "invalid_cursor" in _codes(op, "400"), f"{method} {path}"
            assert _param(op, "limit") is not None
    assert len(lists) >= 10


async def test_a_new_route_cannot_forget_the_errors_of_its_dependencies(app):
    """Nothing listed by hand: the dependencies alone put their errors in."""
    @app.post("/v1/test-only/things", status_code=201, summary="test", tags=["system"])
    async def create_thing(_idem: Idempotent, if_match: IfMatch, paging: Paging) -> None:
        return None

    op = app.openapi()["paths"]["/v1/test-only/things"]["post"]
    assert "idempotency_key_required" in _codes(op, "400")
    assert "invalid_cursor" in _codes(op, "400")
    assert "idempotency_in_flight" in _codes(op, "409")
    assert "idempotency_key_reused" in _codes(op, "422")
    assert "precondition_failed" in _codes(op, "412")
    assert "precondition_required" in _codes(op, "428")
    assert {"unauthenticated", "conflicting_credentials"} <= _codes(op, "401")
    assert _param(op, "Idempotency-Key")["required"] is True

    @app.get("/v1/test-only/things/{thing_id}", summary="test", tags=["system"])
    async def read_thing(thing_id: str, cond: Conditional) -> dict:
        return cond.respond({"id": thing_id}, '"t.1"')

    app.openapi_schema = None
    op = app.openapi()["paths"]["/v1/test-only/things/{thing_id}"]["get"]
    assert op["responses"]["200"]["headers"]["ETag"]["required"] is True


async def test_public_operations_document_401_for_bad_credentials_and_staff_ones_403(app):
    doc = app.openapi()
    for method, path, op in _ops(doc):
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        assert {"invalid_token", "malformed_credentials"} <= _codes(op, "401"), path
        if op.get("security") and path != "/v1/me":
            assert "forbidden" in _codes(op, "403"), f"{method} {path}"


# --- 2. ETag and Location ------------------------------------------------------


async def test_etag_and_location_are_documented_where_sent(app):
    doc = app.openapi()

    def headers(method: str, path: str, status: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"][status].get("headers", {}))

    etag_ops = [("get", "/v1/admin/organisations/{org_id}", "200"),
                ("patch", "/v1/admin/organisations/{org_id}", "200"),
                ("get", "/v1/institutions/{institution_id}", "200"),
                ("patch", "/v1/institutions/{institution_id}", "200"),
                ("get", "/v1/institutions/{institution_id}/beds/{bed_id}", "200"),
                ("patch", "/v1/institutions/{institution_id}/beds/{bed_id}", "200"),
                ("post", "/v1/institutions/{institution_id}/beds/{bed_id}/discharge", "200"),
                ("get", "/v1/marriage/offices/{office_id}/weekly-schedule", "200"),
                ("put", "/v1/marriage/offices/{office_id}/weekly-schedule", "200"),
                ("post", "/v1/institutions/{institution_id}/beds", "201"),
                ("post", "/v1/admin/organisations", "201")]
    for method, path, status in etag_ops:
        assert "ETag" in headers(method, path, status), f"{method} {path}"
    # A centre session has no path of its own (it is listed by provider and dates).
    no_own_path = {"/v1/providers/{provider_id}/centre-sessions"}
    creates = [(m, p) for m, p, op in _ops(doc) if m == "POST" and "201" in op["responses"]
               and p not in no_own_path]
    assert len(creates) >= 8
    for _method, path in creates:
        assert "Location" in headers("post", path, "201"), path


async def test_creates_send_location_and_a_replay_repeats_it(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    r = await client.post(f"/v1/marriage/offices/{office['id']}/closures", headers=staff,
                          json={"date": "2026-12-24", "reason": "升级"})
    assert r.status_code == 201
    assert r.headers["location"] == f"/v1/marriage/offices/{office['id']}/closures/2026-12-24"
    r = await client.post(f"/v1/marriage/offices/{office['id']}/special-days", headers=staff,
                          json={"date": "2026-12-26", "sessions": [
                              {"start": "09:00", "end": "12:00", "capacity": 5}]})
    assert r.status_code == 201
    assert r.headers["location"].endswith(f"/offices/{office['id']}/special-days/2026-12-26")
    r = await client.post(f"/v1/admin/organisations/{office['id']}/api-keys",
                          headers=admin_headers, json={"role": "office", "name": "窗口-二号"})
    assert r.status_code == 201
    assert r.headers["location"] == \
        f"/v1/admin/organisations/{office['id']}/api-keys/{r.json()['id']}"

    me = citizen(settings)
    key = idem()
    body = {"slot_id": slot_id(office["id"], "2026-12-08"), "kind": "marriage",
            "parties": [{"name": "张伟", "id_number": "440305198503151238"},
                        {"name": "李娜", "id_number": "440305198707222464"}]}
    first = await client.post(APPT, json=body, headers={**me, **key})
    again = await client.post(APPT, json=body, headers={**me, **key})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"] == \
        f"{APPT}/{first.json()['id']}"


async def test_recording_an_outside_resident_sends_location(client, admin_headers):
    inst, staff = await org_with_staff(client, admin_headers, "care_institution")
    r = await client.post(f"/v1/institutions/{inst['id']}/beds", headers=staff, json={
        "code": "A-1", "category": "self_care", "monthly_fee_fen": 100000,
        "reserved_for_destitute": False})
    assert r.status_code == 201 and r.headers["location"].endswith(r.json()["id"])
    bed = r.json()
    from tests.factories import make_id_number
    r = await client.post(f"/v1/institutions/{inst['id']}/residents", headers=staff, json={
        "bed_id": bed["id"], "name": "王秀英", "id_number": make_id_number("19450301")})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == \
        f"/v1/institutions/{inst['id']}/beds/{bed['id']}/occupancies"


# --- 3. 405 names every method of the path ---------------------------------------


async def test_wrong_method_is_405_with_every_allowed_method(client):
    r = await client.request("OPTIONS", APPT)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "method_not_allowed"
    r = await client.delete("/v1/institutions/org_x")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"
    r = await client.put("/v1/marriage/offices")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


# --- 4. credentials ------------------------------------------------------------------


async def test_both_kinds_of_credentials_at_once_are_401(client, admin_headers, settings):
    r = await client.get("/v1/me", headers={**admin_headers, **citizen(settings)})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "conflicting_credentials"
    # Each alone works.
    assert (await client.get("/v1/me", headers=admin_headers)).status_code == 200
    assert (await client.get("/v1/me", headers=citizen(settings))).status_code == 200


async def test_malformed_credentials_are_401_not_anonymous(client, admin_headers):
    for headers in ({"Authorization": "Basic eHl6"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer "}, {"Authorization": "Token abc"},
                    {"Authorization": "Bearer a b"}, {"X-API-Key": ""}, {"X-API-Key": "  "}):
        r = await client.get("/v1/me", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "malformed_credentials", headers
        assert r.headers["content-type"] == "application/problem+json"
    # A malformed Authorization beside a valid key does not let the key through.
    r = await client.get("/v1/me", headers={**admin_headers, "Authorization": "Basic eHl6"})
    assert r.status_code == 401 and r.json()["code"] == "conflicting_credentials"
    r = await client.get("/v1/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


async def test_public_routes_refuse_bad_credentials_and_take_good_or_none(
        client, admin_headers, settings):
    for path in ("/v1/marriage/offices", "/v1/institutions"):
        assert (await client.get(path)).status_code == 200
        assert (await client.get(path, headers=citizen(settings))).status_code == 200
        assert (await client.get(path, headers=admin_headers)).status_code == 200
        for bad in ({"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic eHl6"},
                    {"X-API-Key": "hm_000000000000_nope"},
                    {**admin_headers, **citizen(settings)}):
            r = await client.get(path, headers=bad)
            assert r.status_code == 401, (path, bad)
            assert r.headers["content-type"] == "application/problem+json"


# --- 5. the check-in code ---------------------------------------------------------


async def test_citizen_views_require_check_in_code_and_the_office_view_has_none(app):
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    citizen_model = schemas["CitizenAppointmentPublic"]
    assert "check_in_code" in citizen_model["required"]
    assert citizen_model["properties"]["check_in_code"]["type"] == "string"
    assert "check_in_code" not in schemas["AppointmentPublic"]["properties"]
    created = doc["paths"][APPT]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/CitizenAppointmentPublic"}
    # Read or cancelled (the citizen, or the office with a reason): either view.
    for path, method in (("/{appointment_id}", "get"), ("/{appointment_id}/cancel", "post")):
        one = doc["paths"][APPT + path][method]["responses"]["200"]
        refs = {b["$ref"].rsplit("/", 1)[-1]
                for b in one["content"]["application/json"]["schema"]["anyOf"]}
        assert refs == {"CitizenAppointmentPublic", "AppointmentPublic"}


async def test_staff_never_get_a_check_in_code_field(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=me)
    assert r.status_code == 201 and isinstance(r.json()["check_in_code"], str)
    appt = r.json()["id"]
    assert isinstance((await client.get(f"{APPT}/{appt}", headers=me)).json()["check_in_code"],
                      str)
    theirs = (await client.get(f"{APPT}/{appt}", headers=staff)).json()
    assert "check_in_code" not in theirs
    listed = (await client.get(APPT, headers=staff)).json()["items"]
    assert listed and all("check_in_code" not in a for a in listed)


# --- 6. bounded query values -----------------------------------------------------


async def test_out_of_range_query_values_are_422_not_500(client, admin_headers):
    for query in ("max_fee_fen=2147483648", "max_fee_fen=-1", "min_rating=6", "limit=101",
                  "limit=0"):
        r = await client.get(f"/v1/institutions?{query}")
        assert r.status_code == 422, (query, r.text)
        assert r.json()["code"] == "validation_error"
    for value in ("2026-12-01T00:00:00", "9999-12-31T23:59:59+00:00",
                  "0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
                  "9999-12-31T23:59:59-14:00"):
        for name in ("since", "until"):
            r = await client.get("/v1/admin/audit-events", params={name: value},
                                 headers=admin_headers)
            assert r.status_code == 422, (name, value, r.text)
            assert r.json()["code"] == "validation_error"
    r = await client.get("/v1/admin/audit-events", headers=admin_headers,
                         params={"since": "2026-01-01T00:00:00+08:00",
                                 "until": "2099-12-31T23:59:59Z"})
    assert r.status_code == 200


async def test_every_number_date_and_datetime_query_value_is_bounded_in_the_document(app):
    problems = []
    for method, path, op in _ops(app.openapi()):
        for p in op.get("parameters", []):
            if p["in"] not in ("query", "path"):
                continue
            schema = p["schema"]
            branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
            for b in branches:
                where = f"{method} {path} {p['name']}"
                if b.get("type") in ("integer", "number") and not (
                        "minimum" in b and "maximum" in b):
                    problems.append(f"{where}: unbounded number")
                if b.get("format") in ("date", "date-time") and "pattern" not in b:
                    problems.append(f"{where}: unbounded {b['format']}")
    assert not problems, "\n".join(problems)


# --- 7. every operation: summary, tags, examples -------------------------------------


# Home care's responses are checked apart (test_home_care_responses_have_examples),
# with their examples validated against their own schemas.
HOME_CARE = ("/v1/home-care", "/v1/providers", "/v1/admin/home-care", "/v1/caregivers")


def _missing_examples(doc: dict, *, home_care_responses: bool) -> list[str]:
    problems = []

    def has_example(media: dict) -> bool:
        if media.get("example") is not None or media.get("examples"):
            return True
        schema = _resolve(doc, media.get("schema", {}))
        if schema.get("examples"):
            return True
        props = schema.get("properties", {})
        if props and "items" not in props and all(
                p.get("examples") or p.get("default") is not None or "enum" in _resolve(doc, p)
                or "$ref" in p for p in props.values()):
            return True  # the convention of tests/api/test_openapi.py: each field has one
        if "anyOf" in schema:
            return all(has_example({"schema": b}) for b in schema["anyOf"])
        items = schema.get("properties", {}).get("items")
        if items and items.get("type") == "array":
            return has_example({"schema": items["items"]})
        if schema.get("type") == "array":
            return has_example({"schema": schema["items"]})
        return False

    for method, path, op in _ops(doc):
        where = f"{method} {path}"
        if not op.get("summary"):
            problems.append(f"{where}: no summary")
        if not op.get("tags"):
            problems.append(f"{where}: no tags")
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if not has_example(media):
                problems.append(f"{where}: request {media_type} has no example")
        if path.startswith(HOME_CARE) != home_care_responses:
            continue
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if not has_example(media):
                    problems.append(f"{where}: {status} {media_type} has no example")
    return problems


async def test_every_operation_has_summary_tags_and_examples(app):
    problems = _missing_examples(app.openapi(), home_care_responses=False)
    assert not problems, "\n".join(problems)


async def test_home_care_responses_have_examples(app):
    problems = _missing_examples(app.openapi(), home_care_responses=True)
    assert not problems, "\n".join(problems)


async def test_home_care_response_examples_are_what_the_schemas_describe(app):
    """An example that its own schema refuses (a wrong type, a status not in the
    enum, a missing required field) misleads whoever codes against it."""
    import jsonschema_rs

    doc = app.openapi()
    checked, problems = set(), []
    for method, path, op in _ops(doc):
        if not path.startswith(HOME_CARE):
            continue
        for status, response in op["responses"].items():
            media = response.get("content", {}).get("application/json")
            if media is None:
                continue
            ref = media["schema"].get("$ref")
            if ref is None:
                continue
            name = ref.rsplit("/", 1)[-1]
            schema = doc["components"]["schemas"][name]
            if "items" in schema.get("properties", {}):  # a page: its items' model
                name = schema["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]
            if name in checked:
                continue
            checked.add(name)
            validator = jsonschema_rs.Draft202012Validator(
                {"$ref": f"#/components/schemas/{name}", "components": doc["components"]})
            examples = doc["components"]["schemas"][name].get("examples", [])
            if not examples:
                problems.append(f"{name} ({method} {path} {status}): no examples")
            for example in examples:
                for error in validator.iter_errors(example):
                    problems.append(f"{name}: {error.message} at {list(error.instance_path)}")
    assert len(checked) >= 10, checked
    assert not problems, "\n".join(problems)


# --- 8. regressions for what the fuzzer found (bench/fuzz.py) -----------------------


def _strings(doc: dict, schema: dict, where: str, seen: set[str]):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
        schema = doc["components"]["schemas"][name]
    for branch in schema.get("anyOf", [schema]):
        if "$ref" in branch:
            yield from _strings(doc, branch, where, seen)
        elif branch.get("type") == "string":
            yield where, branch
        elif branch.get("type") == "array":
            yield from _strings(doc, branch.get("items", {}), where + "[]", seen)
        for name, prop in branch.get("properties", {}).items():
            yield from _strings(doc, prop, f"{where}.{name}", seen)


async def test_request_strings_state_the_rules_the_models_enforce(app):
    """Found: schema-valid names, addresses and identity numbers with control
    characters (or blank) refused as `validation_error`; NULs in ids refused as
    `bad_request`. Every string a request carries now has a pattern and a length."""
    doc = app.openapi()
    problems = []
    for method, path, op in _ops(doc):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            for where, s in _strings(doc, body["schema"], f"{method} {path} body", set()):
                if not ({"pattern", "enum", "format", "const"} & set(s)):
                    problems.append(f"{where}: no pattern")
                if "maxLength" not in s and "enum" not in s:
                    problems.append(f"{where}: no maxLength")
        for p in op.get("parameters", []):
            if p["in"] in ("path", "query"):
                for where, s in _strings(doc, p["schema"], f"{method} {path} {p['name']}",
                                         set()):
                    if not ({"pattern", "enum", "format", "const"} & set(s)):
                        problems.append(f"{where}: no pattern")
    assert not problems, "\n".join(problems)


async def test_control_characters_and_blank_names_are_refused_as_the_document_says(
        app, client, admin_headers):
    import re

    name = app.openapi()["components"]["schemas"]["OrganisationCreate"]["properties"]["name"]
    pattern = re.compile(name["pattern"])
    # Found later: U+0085 (which str.strip() removes, and an ECMA `\s` does not name).
    for value, ok in (("朝阳区民政局", True), ("a\u0012b", False), ("   ", False),
                      ("a\tb", True), ("\u0085", False), (" \u3000 ", False)):
        assert bool(pattern.match(value)) is ok, value
        r = await client.post("/v1/admin/organisations", headers=admin_headers, json={
            "kind": "civil_affairs_bureau", "name": value, "division_code": "110105"})
        assert (r.status_code == 201) is ok, (value, r.text)
        if not ok:
            assert r.json()["code"] == "validation_error"


async def test_near_follows_its_documented_pattern(client):
    """Found: `near=000...0` matched the document (a free string) and was refused."""
    for near, status in (("30.65,104.05", 200), ("-90,180", 200), ("90.0,-180.00", 200),
                         ("91,0", 422), ("0,181", 422), ("30.65, 104.05", 422),
                         ("1e1,2", 422), ("000000000000", 422)):
        r = await client.get("/v1/institutions", params={"near": near})
        assert r.status_code == status, (near, r.text)
    r = await client.get("/v1/institutions", params={"sort": "distance"})
    assert r.status_code == 422 and r.json()["code"] == "near_required"


async def test_cursors_outside_the_issued_alphabet_are_invalid_cursor(client):
    """Found: a cursor with a NUL was `bad_request`, one of the document's alphabet
    `invalid_cursor`; the document now gives the alphabet and both are 400
    `invalid_cursor` or the first page (empty)."""
    assert (await client.get("/v1/marriage/offices", params={"cursor": ""})).status_code == 200
    for cursor in ("a b", "%%", "é", "abc"):
        r = await client.get("/v1/marriage/offices", params={"cursor": cursor})
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", cursor


async def test_any_if_match_is_compared_so_the_document_bounds_none(client, admin_headers):
    """Found: an If-Match longer than the documented maxLength was answered 412 (it
    is compared, never refused): the document no longer claims a bound."""
    inst, _ = await org_with_staff(client, admin_headers, "care_institution")
    r = await client.patch(f"/v1/admin/organisations/{inst['id']}", headers={
        **admin_headers, "If-Match": '"' + "x" * 600 + '"'}, json={"phone": "010-65090001"})
    assert r.status_code == 412 and r.json()["code"] == "precondition_failed"
    # Found next: the 412 carries the current ETag, now documented on every 412.
    current = await client.get(f"/v1/admin/organisations/{inst['id']}", headers=admin_headers)
    assert r.headers["etag"] == current.headers["etag"]


async def test_rules_between_fields_are_in_the_document(app, client, settings):
    """Found: `kind=divorce_confirmation` without `divorce_case_id` was valid by the
    document and refused as `validation_error`. The body schemas now carry the
    rules of their model validators."""
    import jsonschema_rs  # schemathesis' validator

    doc = app.openapi()

    def valid(model: str, body: dict) -> bool:
        return jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{model}", "components": doc["components"]}
        ).is_valid(body)

    parties = [{"name": "张伟", "id_number": "440305198503151238"}]
    for body, ok in (({"kind": "divorce_confirmation"}, False),
                     ({"kind": "divorce_confirmation", "divorce_case_id": ""}, False),
                     ({"kind": "divorce_confirmation", "divorce_case_id": "mdc_1"}, True),
                     ({"kind": "marriage", "divorce_case_id": "mdc_1"}, False),
                     ({"kind": "marriage"}, True)):
        full = {"slot_id": "ms_x", "parties": parties, **body}
        assert valid("AppointmentCreate", full) is ok, body
        if not ok:
            r = await client.post(APPT, json=full, headers={**citizen(settings), **idem()})
            assert r.status_code == 422 and r.json()["code"] == "validation_error", body
    for body, ok in (({"bed_id": "bed_1"}, True), ({"category": "self_care"}, True),
                     ({}, False), ({"bed_id": "bed_1", "category": "self_care"}, False)):
        assert valid("OutsideResidentIn", {"name": "王秀英", **body}) is ok, body
