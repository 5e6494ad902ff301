"""The document says what the server accepts (issue 25: schemathesis sent values the
document allowed and the server refused). For each field found, a value the server
refuses is refused by the document too, and a value the document allows gets past
the server's validation.

- `notice` (and every field with a pattern of its own, `^\\S(.*\\S)?$`): control
  characters are refused by StrictModel, now stated beside the field's pattern;
- phones are stripped before their pattern: the document's pattern is the one of the
  value as sent (`+62300 ` matched the document, and is `+62300`, too short);
- identity numbers: the form of GB 11643 (`0` was valid by the document);
- division codes: six digits of an existing province and city (`740606`, `900331`);
- webhook URLs: http(s) and a host;
- free text stripped by the server (names, reasons, notes, identity numbers): its
  `maxLength` counts the value as sent, as the document says (counted after
  stripping, a padded value the document refuses was accepted).
"""

from __future__ import annotations

import jsonschema_rs  # schemathesis' validator

from tests.api.test_marriage_support import citizen
from tests.factories import citizen_headers, idem

APPT = "/v1/marriage/appointments"


def _field(doc: dict, model: str, field: str) -> dict:
    schema = doc["components"]["schemas"][model]["properties"][field]
    return jsonschema_rs.Draft202012Validator(schema)


async def test_notice_states_that_control_characters_are_refused(app, client, admin_headers):
    notice = _field(app.openapi(), "OfficialCalendarIn", "notice")
    assert notice.is_valid("国办发明电〔2026〕1号")
    assert not notice.is_valid("国办发明电\u0005〔2026〕1号")
    r = await client.put("/v1/official-calendar/2068", headers=admin_headers,
                         json={"holidays": [], "notice": "国办发明电\u0005〔2026〕1号"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_phones_are_documented_as_sent(app, client, settings):
    doc = app.openapi()
    phone = doc["components"]["schemas"]["PartyIn"]["properties"]["phone"]
    valid = jsonschema_rs.Draft202012Validator(phone)
    for value, ok in (("13800138000", True), (" 13800138000 ", True), ("+86 138-0013-8000", True),
                      ("+62300 ", False), ("+6230", False), ("12345 ", False)):
        assert valid.is_valid(value) is ok, value
        r = await client.post(APPT, headers={**citizen(settings), **idem()}, json={
            "slot_id": "ms_x", "kind": "marriage",
            "parties": [{"name": "张伟", "id_number": "440305198503151238", "phone": value}]})
        # past validation, a made-up slot is 404; refused, the phone is the field
        assert (r.status_code == 404) is ok, (value, r.text)


async def test_identity_numbers_have_their_form(app, client, admin_headers):
    number = _field(app.openapi(), "PartyIn", "id_number")
    for value, ok in (("440305198503151238", True), ("11010519491231002x", True),
                      (" 11010519491231002X ", True), ("0", False),
                      ("440305198513151238", False), ("040305198503151238", False)):
        assert number.is_valid(value) is ok, value
    r = await client.put("/v1/admin/home-care-subsidies", headers=admin_headers, json={
        "id_number": "0", "monthly_allowance_fen": 0, "valid_from": "2026-01-01",
        "valid_to": "2026-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"


async def test_division_codes_name_an_existing_province_and_city(app, client):
    doc = app.openapi()
    code = _field(doc, "PolicyCreate", "division_code")
    query = next(p for p in doc["paths"]["/v1/burial/policies/applicable"]["get"]["parameters"]
                 if p["name"] == "division_code")
    in_query = jsonschema_rs.Draft202012Validator(query["schema"])
    for value, ok in (("110105", True), ("510107", True), ("740606", False),
                      ("900331", False), ("000000", False)):
        assert code.is_valid(value) is ok and in_query.is_valid(value) is ok, value
        r = await client.get("/v1/burial/policies/applicable", params={
            "division_code": value, "method": "sea", "burial_date": "2026-11-20"})
        assert (r.json().get("code") != "invalid_division_code") is ok, (value, r.text)


async def test_webhook_urls_are_http_with_a_host(app, client, admin_headers):
    url = _field(app.openapi(), "SubscriptionCreate", "url")
    for value, ok in (("https://push.example.cn/huimin/webhooks", True),
                      ("http://127.0.0.1:9000/x", True), ("ftp://push.example.cn/x", False),
                      ("https:///x", False), ("\U000f0000¥@Vq/x", False)):
        assert url.is_valid(value) is ok, value
    r = await client.post("/v1/webhook-subscriptions", headers=admin_headers,
                          json={"url": "ftp://push.example.cn/x", "events": ["*"]})
    assert r.status_code == 422 and r.json()["code"] == "webhook_url_not_allowed"


async def test_free_text_is_bounded_as_sent(app, client, settings):
    """A name of 100 characters with spaces around it is 104 as sent: the document's
    `maxLength` 100 refuses it, so the server does too; within the bound, padding is
    accepted and stripped."""
    doc = app.openapi()
    name = _field(doc, "PartyIn", "name")
    number = _field(doc, "PartyIn", "id_number")
    reason = _field(doc, "AppealCreate", "reason")
    for value, ok in (("张" * 100, True), ("  " + "张" * 96 + "  ", True),
                      ("  " + "张" * 100 + "  ", False)):
        assert name.is_valid(value) is ok, len(value)
        r = await client.post(APPT, headers={**citizen(settings), **idem()}, json={
            "slot_id": "ms_x", "kind": "marriage",
            "parties": [{"name": value, "id_number": "440305198503151238"}]})
        # past validation, a made-up slot is 404; refused, the name is the field
        assert (r.status_code == 404) is ok, (len(value), r.text)
    padded_number = " " * 8 + "440305198503151238" + " " * 8  # 34 as sent, 18 stripped
    assert not number.is_valid(padded_number)
    r = await client.post(APPT, headers={**citizen(settings), **idem()}, json={
        "slot_id": "ms_x", "kind": "marriage",
        "parties": [{"name": "张伟", "id_number": padded_number}]})
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    for value, ok in (("复" * 1000, True), (" " + "复" * 998 + " ", True),
                      ("复" * 1000 + " ", False)):
        assert reason.is_valid(value) is ok, len(value)
        r = await client.post("/v1/appeals", headers={**citizen_headers(settings), **idem()},
                              json={"subject": {"type": "burial_claim", "id": "bcl_x"},
                                    "reason": value})
        assert (r.status_code == 404) is ok, (len(value), r.text)


DIVISION_PREFIX_FILTERS = ("/v1/admin/organisations", "/v1/institutions",
                           "/v1/marriage/offices", "/v1/burial/policies")


async def test_division_prefix_filters_take_ascii_digits_alike(app, client, admin_headers):
    """Every `division_code` prefix filter is one parameter: one to six ASCII digits.
    Other scripts' digits (`١١`, fullwidth `１１`) are digits to a regex's `\\d` and to
    `str.isdigit`, and were let through by one filter of the four."""
    doc = app.openapi()
    schemas = set()
    for path in DIVISION_PREFIX_FILTERS:
        param = next(p for p in doc["paths"][path]["get"]["parameters"]
                     if p["name"] == "division_code")
        schemas.add(repr({k: v for k, v in param["schema"].items()
                          if k not in ("description", "examples", "title")}))
        in_query = jsonschema_rs.Draft202012Validator(param["schema"])
        for value, ok in (("11", True), ("110105", True), ("1101050", False), ("", False),
                          ("١١", False), ("１１", False), ("11a", False)):
            assert in_query.is_valid(value) is ok, (path, value)
            r = await client.get(path, params={"division_code": value}, headers=admin_headers)
            assert (r.status_code == 200) is ok, (path, value, r.text)
            if not ok:
                assert r.json()["code"] == "validation_error", (path, value, r.text)
    assert len(schemas) == 1, schemas
