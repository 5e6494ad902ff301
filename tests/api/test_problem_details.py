"""One problem builder: one language negotiation (with q-values) for the middleware's
problems and the handlers' alike, `Content-Language` on every problem, zh-CN text
without English words, and details that say how to fix the request."""

from __future__ import annotations

import re

import pytest

from tests.api.test_beds_support import add_bed, institution
from tests.api.test_marriage_support import (
    WEEKDAY_SESSIONS,
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.factories import create_org, idem, make_id_number, org_with_staff

PROBLEM = "application/problem+json"
ORGS = "/v1/admin/organisations"
APPT = "/v1/marriage/appointments"
MIXED = {"Accept-Language": "en;q=0.3, zh-CN;q=0.8"}
EN = {"Accept-Language": "en"}
ASCII_LETTERS = re.compile(r"[A-Za-z]")


def problem(r, status: int, code: str, language: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["content-language"] == language
    body = r.json()
    assert body["code"] == code and body["status"] == status
    return body


# --- one negotiation, everywhere ----------------------------------------------------------


async def test_q_values_choose_chinese_on_a_middleware_415(client, admin_headers):
    r = await client.post(ORGS, content=b"kind=registration_office",
                          headers={**admin_headers, **MIXED,
                                   "Content-Type": "application/x-www-form-urlencoded"})
    body = problem(r, 415, "unsupported_media_type", "zh-CN")
    assert body["title"] == "不支持的内容类型"
    assert body["detail"] == "请求体须为 application/json。"


async def test_q_values_choose_chinese_on_a_domain_409(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=me)
    appt = r.json()["id"]
    assert (await client.post(f"{APPT}/{appt}/cancel", headers=me)).status_code == 200
    r = await client.post(f"{APPT}/{appt}/cancel", headers={**me, **MIXED})
    body = problem(r, 409, "invalid_state", "zh-CN")
    assert body["title"] == "当前状态不允许此操作"
    assert not ASCII_LETTERS.search(body["title"] + body["detail"])


@pytest.mark.parametrize(("header", "language"), [
    ("en", "en"), ("en-GB", "en"), ("EN-us;q=0.5", "en"), ("fr-FR, en;q=0.4", "en"),
    ("zh-CN, en;q=0.9", "zh-CN"), ("en;q=0.3, zh-CN;q=0.8", "zh-CN"), ("zh-TW", "zh-CN"),
    ("en, zh", "en"), ("zh, en", "zh-CN"), ("fr", "zh-CN"), ("english", "zh-CN"),
    ("en;q=0", "zh-CN"), ("*", "zh-CN"), ("en;q=abc", "zh-CN"), ("", "zh-CN"),
])
async def test_one_negotiation_for_middleware_and_handler_problems(client, header, language):
    headers = {"Accept-Language": header}
    # A handler's 404 and the middleware's 400 (a NUL in the path) agree.
    r = await client.get("/v1/nowhere", headers=headers)
    title = problem(r, 404, "not_found", language)["title"]
    assert title == ("Not found" if language == "en" else "资源不存在")
    r = await client.get("/v1/nowhere%00", headers=headers)
    title = problem(r, 400, "bad_request", language)["title"]
    assert title == ("Malformed request" if language == "en" else "请求格式错误")


async def test_content_language_on_413_415_400_and_500(app, client, admin_headers):
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    for headers, language in (({}, "zh-CN"), (EN, "en")):
        r = await client.post(ORGS, content=big, headers={
            **admin_headers, **headers, "Content-Type": "application/json"})
        body = problem(r, 413, "payload_too_large", language)
        assert str(1024 * 1024) in body["detail"]
        r = await client.post(ORGS, content=b"x", headers={
            **admin_headers, **headers, "Content-Type": "text/plain"})
        problem(r, 415, "unsupported_media_type", language)
        r = await client.post(ORGS, content=b"{}", headers={
            **admin_headers, **headers, "Content-Type": "application/json",
            "Content-Length": "abc"})
        problem(r, 400, "bad_request", language)
    assert r.headers["vary"] == "Accept-Language"

    @app.get("/boom-for-language-test")
    async def boom() -> None:
        raise RuntimeError("internals")

    r = await client.get("/boom-for-language-test", headers=MIXED)
    assert problem(r, 500, "internal_error", "zh-CN")["title"] == "服务器内部错误"
    r = await client.get("/boom-for-language-test", headers=EN)
    assert problem(r, 500, "internal_error", "en")["title"] == "Internal server error"
    assert "internals" not in r.text


# --- zh-CN text carries no English words -----------------------------------------------


async def test_invalid_state_names_status_and_action_in_each_language(client, admin_headers,
                                                                       settings):
    set_china_time("2026-12-08", "08:00")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    appt = (await book(client, settings, slot_id(office["id"], "2026-12-09"),
                       headers=me)).json()["id"]
    await client.post(f"{APPT}/{appt}/cancel", headers=me)
    r = await client.post(f"{APPT}/{appt}/cancel", headers=me)
    zh = problem(r, 409, "invalid_state", "zh-CN")
    assert zh["detail"] == "当前状态为“已取消”，不能取消。"
    assert not ASCII_LETTERS.search(zh["detail"])
    assert zh["current_status"] == "cancelled"
    r = await client.post(f"{APPT}/{appt}/cancel", headers={**me, **EN})
    en = problem(r, 409, "invalid_state", "en")
    assert en["detail"] == "Cannot cancel while the status is cancelled."
    r = await client.post(f"{APPT}/{appt}/check-in", json={"check_in_code": "00000000"},
                          headers=staff)
    assert problem(r, 409, "invalid_state", "zh-CN")["detail"] == "当前状态为“已取消”，不能签到。"
    r = await client.post(f"{APPT}/{appt}/no-show", headers=staff)
    assert problem(r, 409, "invalid_state", "zh-CN")["detail"] == \
        "当前状态为“已取消”，不能标记为未到。"


async def test_forbidden_names_the_role_in_chinese(client, admin_headers, settings):
    office, _ = await office_with_schedule(client, admin_headers)
    url = f"/v1/marriage/offices/{office['id']}/weekly-schedule"
    r = await client.get(url, headers=citizen(settings))
    body = problem(r, 403, "forbidden", "zh-CN")
    assert body["detail"] == "该操作需要以下角色之一：婚姻登记机关工作人员。"
    r = await client.get(url, headers={**citizen(settings), **EN})
    assert problem(r, 403, "forbidden", "en")["detail"] == \
        "This operation needs one of the roles: office."


async def test_role_not_allowed_names_kind_and_role_in_chinese(client, admin_headers):
    office = await create_org(client, admin_headers, "registration_office")
    r = await client.post(f"{ORGS}/{office['id']}/api-keys",
                          json={"role": "institution", "name": "x"}, headers=admin_headers)
    body = problem(r, 422, "role_not_allowed", "zh-CN")
    assert body["detail"] == "婚姻登记机关不能持有“养老机构工作人员”角色的密钥。"


async def test_not_found_nouns_are_chinese(client, admin_headers, settings):
    set_china_time("2026-12-01")
    r = await book(client, settings, "ms_org_nowhere_20261208_0900")
    assert problem(r, 404, "not_found", "zh-CN")["detail"] == "找不到该时段。"


async def test_field_errors_follow_the_language(client, admin_headers):
    secret = "y" * 150
    body = {"kind": "nursery", "name": secret, "division_code": "1101"}
    r = await client.post(ORGS, json=body, headers=admin_headers)
    zh = problem(r, 422, "validation_error", "zh-CN")
    msgs = {tuple(e["loc"]): e["msg"] for e in zh["errors"]}
    assert msgs[("body", "name")] == "长度不能超过 100 个字符"
    assert msgs[("body", "division_code")] == r"格式不正确，应符合模式 ^[0-9]{6}$"
    assert msgs[("body", "kind")].startswith("应为以下取值之一：'registration_office'、")
    assert secret not in r.text and "nursery" not in r.text
    r = await client.post(ORGS, json=body, headers={**admin_headers, **EN})
    en = problem(r, 422, "validation_error", "en")
    msgs = {tuple(e["loc"]): e["msg"] for e in en["errors"]}
    assert msgs[("body", "name")] == "String should have at most 100 characters"
    assert secret not in r.text and "nursery" not in r.text
    r = await client.post(ORGS, json={"kind": "registration_office"}, headers=admin_headers)
    zh = problem(r, 422, "validation_error", "zh-CN")
    assert {tuple(e["loc"]): e["msg"] for e in zh["errors"]}[("body", "name")] == "缺少必填字段"


async def test_a_request_models_own_refusal_is_chinese_too(client, admin_headers):
    office, staff = await org_with_staff(client, admin_headers, "registration_office")
    sessions = [{"weekday": 1, "start": "12:00", "end": "09:00", "capacity": 5}]
    r = await client.put(f"/v1/marriage/offices/{office['id']}/weekly-schedule",
                         json={"sessions": sessions}, headers=staff)
    zh = problem(r, 422, "validation_error", "zh-CN")
    assert [e["msg"] for e in zh["errors"]] == ["结束时刻须晚于开始时刻"]
    r = await client.get("/v1/institutions", params={"near": "north"})
    zh = problem(r, 422, "validation_error", "zh-CN")
    assert zh["errors"][0]["msg"] == "near 须为“纬度,经度”（单位为度）"
    r = await client.get("/v1/institutions", params={"near": "north"}, headers=EN)
    assert problem(r, 422, "validation_error", "en")["errors"][0]["msg"] == \
        "near must be 'lat,lon' in degrees"


# --- details that help the caller fix the request ---------------------------------------


async def test_capacity_below_booked_names_cancel_affected(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    for _ in range(3):
        assert (await book(client, settings, slot_id(office["id"], "2026-12-08"))
                ).status_code == 201
    url = f"/v1/marriage/offices/{office['id']}/weekly-schedule"
    etag = (await client.get(url, headers=staff)).headers["etag"]
    smaller = [dict(s, capacity=1) for s in WEEKDAY_SESSIONS]
    for headers, language in (({}, "zh-CN"), (EN, "en")):
        r = await client.put(url, json={"sessions": smaller},
                             headers={**staff, **headers, "If-Match": etag})
        body = problem(r, 409, "capacity_below_booked", language)
        assert "cancel_affected" in body["detail"] and "2" in body["detail"]


async def test_outside_booking_window_says_when_the_slot_opens(client, admin_headers,
                                                               settings):
    set_china_time("2026-12-01", "07:30")
    office, _ = await office_with_schedule(client, admin_headers, booking_opens_days_ahead=10,
                                           min_notice_hours=2)
    r = await book(client, settings, slot_id(office["id"], "2026-12-14"))
    body = problem(r, 422, "outside_booking_window", "zh-CN")
    assert body["opens_at"] == "2026-12-04T00:00:00+08:00"
    assert "closed_at" not in body
    assert "北京时间 2026-12-04 00:00 开放预约" in body["detail"]
    r = await client.post(APPT, json={"slot_id": slot_id(office["id"], "2026-12-14"),
                                      "kind": "marriage", "parties": couple()},
                          headers={**citizen(settings), **idem(), **EN})
    body = problem(r, 422, "outside_booking_window", "en")
    assert "opens for booking at 2026-12-04 00:00 China time" in body["detail"]
    # And the slot does open then.
    set_china_time("2026-12-04", "00:00")
    assert (await book(client, settings, slot_id(office["id"], "2026-12-14"))).status_code == 201


async def test_outside_booking_window_says_when_the_minimum_notice_passed(
        client, admin_headers, settings):
    set_china_time("2026-12-01", "07:30")
    office, _ = await office_with_schedule(client, admin_headers, booking_opens_days_ahead=10,
                                           min_notice_hours=2)
    r = await book(client, settings, slot_id(office["id"], "2026-12-01", "09:00"))
    body = problem(r, 422, "outside_booking_window", "zh-CN")
    assert body["closed_at"] == "2026-12-01T07:00:00+08:00"
    assert "opens_at" not in body
    assert "已于北京时间 2026-12-01 07:00 停止预约" in body["detail"]
    assert "2 小时" in body["detail"]


def _bad_numbers() -> dict[str, str]:
    good = make_id_number("19900101", sex="male")
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    no_date = make_id_number("19901301", sex="male")  # there is no 13th month
    return {"length": good[:17], "format": good[:8] + "AB" + good[10:],
            "birth_date": no_date, "checksum": wrong_check}


@pytest.mark.parametrize("reason", ["length", "format", "birth_date", "checksum"])
async def test_invalid_id_number_says_what_is_wrong(client, admin_headers, settings, reason):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    bad = _bad_numbers()[reason]
    parties = [person("male"), {"name": "李娜", "id_number": bad}]
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), parties)
    body = problem(r, 422, "invalid_id_number", "zh-CN")
    assert body["reason"] == reason and body["field"] == "parties[1].id_number"
    expected = {"length": "应为 18 位", "format": "前 17 位应为数字",
                "birth_date": "出生日期", "checksum": "校验码"}[reason]
    assert expected in body["detail"] and body["detail"].startswith("parties[1].id_number：")
    assert bad not in r.text
    r = await client.post(APPT, json={"slot_id": slot_id(office["id"], "2026-12-08"),
                                      "kind": "marriage", "parties": parties},
                          headers={**citizen(settings), **idem(), **EN})
    body = problem(r, 422, "invalid_id_number", "en")
    expected = {"length": "18 characters", "format": "must be digits",
                "birth_date": "birth date", "checksum": "check character"}[reason]
    assert expected in body["detail"] and bad not in r.text


async def test_party_has_active_appointment_says_which_party(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    groom, bride, other = person("male"), person("female"), person("female")
    assert (await book(client, settings, slot_id(office["id"], "2026-12-08"),
                       [groom, bride])).status_code == 201
    r = await book(client, settings, slot_id(office["id"], "2026-12-09"), [other, groom],
                   kind="divorce")
    body = problem(r, 409, "party_has_active_appointment", "zh-CN")
    assert body["party_index"] == 1
    assert body["detail"].startswith("第 2 位当事人已持有一个有效的婚姻登记预约")
    assert groom["id_number"] not in r.text
    r = await client.post(APPT, json={"slot_id": slot_id(office["id"], "2026-12-09"),
                                      "kind": "marriage", "parties": [groom, other]},
                          headers={**citizen(settings), **idem(), **EN})
    body = problem(r, 409, "party_has_active_appointment", "en")
    assert body["party_index"] == 0 and body["detail"].startswith("Party 1 ")


async def test_beds_problems_name_categories_and_statuses_in_chinese(client, admin_headers):
    inst, staff = await institution(client, admin_headers)
    bed = await add_bed(client, inst, staff, "A-1", category="full_care")
    r = await client.post(f"/v1/institutions/{inst['id']}/residents",
                          json={"category": "dementia", "name": "李桂兰"}, headers=staff)
    body = problem(r, 409, "no_bed_available", "zh-CN")
    assert body["detail"] == "该机构没有可用的失智照护床位。"
    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          headers=staff)
    body = problem(r, 409, "invalid_state", "zh-CN")
    assert body["detail"] == "当前状态为“空闲”，不能办理退住。"
    r = await client.post(f"/v1/institutions/{inst['id']}/beds/{bed['id']}/discharge",
                          headers={**staff, **EN})
    assert problem(r, 409, "invalid_state", "en")["detail"] == \
        "Cannot discharge while the status is available."


async def test_overlapping_sessions_name_the_weekday_in_chinese(client, admin_headers):
    office, staff = await org_with_staff(client, admin_headers, "registration_office")
    sessions = [{"weekday": 3, "start": "09:00", "end": "12:00", "capacity": 5},
                {"weekday": 3, "start": "11:00", "end": "13:00", "capacity": 5}]
    r = await client.put(f"/v1/marriage/offices/{office['id']}/weekly-schedule",
                         json={"sessions": sessions}, headers=staff)
    body = problem(r, 422, "invalid_sessions", "zh-CN")
    assert body["detail"] == "星期三场次 09:00-12:00 与 11:00-13:00 重叠。"


async def test_date_bounds_read_as_earlier_and_later_in_chinese(client, admin_headers):
    office, _ = await org_with_staff(client, admin_headers, "registration_office")
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "1900-01-01", "to": "soon"})
    zh = problem(r, 422, "validation_error", "zh-CN")
    msgs = {tuple(e["loc"]): e["msg"] for e in zh["errors"]}
    assert msgs[("query", "from")].startswith("应不早于 ")
    assert msgs[("query", "to")] == "应为日期（YYYY-MM-DD）"
    r = await client.get("/v1/institutions", params={"limit": 1000})
    zh = problem(r, 422, "validation_error", "zh-CN")
    assert zh["errors"][0]["msg"] == "应小于或等于 100"
