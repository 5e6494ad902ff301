"""The policy numbers are settings, not constants (DOMAIN.md: local policy choices
are configuration)."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.api.test_marriage_support import (
    book,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.conftest import TEST_JWT_MAX_TTL_MINUTES


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env="test", database_url=db_url, rate_limit_enabled=False, redis_url=None,
                    _env_file=None, marriage_min_age_male=25, marriage_min_age_female=23,
                    marriage_no_show_limit=1, marriage_no_show_suspension_days=7,
                    marriage_booking_opens_days_ahead=5, marriage_cooling_off_days=10,
                    jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES)


async def test_ages_and_booking_window_come_from_settings(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, slot_id(office["id"], "2026-12-04"),
                   couple("2002-01-01", "1990-01-01"))
    assert r.status_code == 422 and r.json()["code"] == "underage"
    r = await book(client, settings, slot_id(office["id"], "2026-12-04"),
                   couple("2001-01-01", "2003-01-01"))
    assert r.status_code == 201, r.text
    # Released 5 days ahead here.
    r = await book(client, settings, slot_id(office["id"], "2026-12-07"))
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window"


async def test_no_show_policy_comes_from_settings(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    groom = person("male")
    r = await book(client, settings, slot_id(office["id"], "2026-12-02"),
                   [groom, person("female")])
    assert r.status_code == 201
    set_china_time("2026-12-02", "12:00")
    assert (await client.post(f"/v1/marriage/appointments/{r.json()['id']}/no-show",
                              headers=staff)).status_code == 200
    r = await book(client, settings, slot_id(office["id"], "2026-12-04"),
                   [groom, person("female")])
    assert r.status_code == 422 and r.json()["code"] == "booking_suspended"
    set_china_time("2026-12-09", "12:01")
    r = await book(client, settings, slot_id(office["id"], "2026-12-10"),
                   [groom, person("female")])
    assert r.status_code == 201, r.text


async def test_cooling_off_length_comes_from_settings(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, slot_id(office["id"], "2026-12-02"), kind="divorce")
    assert r.status_code == 201
    appt = r.json()
    me = r.request.headers
    set_china_time("2026-12-02", "09:05")
    await client.post(f"/v1/marriage/appointments/{appt['id']}/check-in", headers=staff,
                      json={"check_in_code": appt["check_in_code"]})
    done = (await client.post(f"/v1/marriage/appointments/{appt['id']}/complete",
                              headers=staff)).json()
    case = (await client.get(f"/v1/marriage/divorce-cases/{done['divorce_case_id']}",
                             headers={"Authorization": me["authorization"]})).json()
    assert case["cooling_off_ends"] == "2026-12-12"
    assert case["confirmation_deadline"] == "2027-01-11"
