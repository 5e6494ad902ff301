"""Which sessions an office holds on a date, and slot ids."""

from __future__ import annotations

import datetime as dt

from services.marriage import calendar

WEEK = [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": 5} for d in (1, 2, 3, 4, 5)]
WEEK.append({"weekday": 3, "start": "13:30", "end": "17:00", "capacity": 4})


def _on(day: str, closed: bool = False, special=None) -> list[tuple[str, int]]:
    sessions = calendar.sessions_on("org_x", dt.date.fromisoformat(day), WEEK, closed, special)
    return [(s.start, s.capacity) for s in sessions]


def test_slot_ids_round_trip():
    sid = calendar.slot_id("org_0193abc", dt.date(2026, 12, 8), "13:30")
    assert sid == "ms_org_0193abc_20261208_1330"
    assert calendar.parse_slot_id(sid) == ("org_0193abc", dt.date(2026, 12, 8), "13:30")
    for bad in ("", "ms_", "ms_org_20261208", "ms_org_20261308_0900", "ms_org_20261208_2460",
                "xs_org_20261208_0900", "ms__20261208_0900", "ms_org_2026120a_0900"):
        assert calendar.parse_slot_id(bad) is None, bad


def test_times_are_china_time():
    s = calendar.sessions_on("org_x", dt.date(2026, 12, 8), WEEK, False, None)[0]
    assert s.starts_at == dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.UTC)
    assert s.ends_at == dt.datetime(2026, 12, 8, 4, 0, tzinfo=dt.UTC)


def test_official_calendar():
    assert calendar.official_day(dt.date(2026, 10, 1)) == "holiday"
    assert calendar.official_day(dt.date(2026, 10, 6)) == "holiday"  # a moved day off
    assert calendar.official_day(dt.date(2026, 9, 20)) == "workday"  # Sunday worked
    assert calendar.official_day(dt.date(2026, 12, 8)) == "normal"
    assert calendar.official_day(dt.date(2026, 12, 12)) == "normal"  # ordinary Saturday
    # A year no library knows: the statutory holidays, estimated from their rules.
    assert calendar.official_day(dt.date(2099, 1, 1)) == "holiday"
    assert calendar.official_day(dt.date(2099, 1, 8)) == "normal"
    assert calendar.calendar_source(dt.date(2099, 1, 8)) == "estimated"
    assert calendar.calendar_source(dt.date(2026, 1, 8)) == "library"


def test_precedence():
    assert _on("2026-12-09") == [("09:00", 5), ("13:30", 4)]  # Wednesday
    assert _on("2026-12-12") == []  # Saturday
    assert _on("2026-10-01") == []  # National Day
    assert _on("2026-09-20") == [("09:00", 5)]  # adjusted working Sunday: Monday's
    special = [{"start": "08:30", "end": "12:00", "capacity": 60}]
    assert _on("2026-10-01", special=special) == [("08:30", 60)]
    assert _on("2026-10-01", closed=True, special=special) == []
    assert _on("2026-12-09", closed=True) == []
    assert _on("2099-01-01") == []  # unknown year: New Year's Day closed by estimate
    assert _on("2099-01-08") == [("09:00", 5)]  # and the weekly schedule (Thursday)


def test_adjusted_working_day_uses_its_own_sessions_when_it_has_them():
    week = [*WEEK, {"weekday": 7, "start": "10:00", "end": "15:00", "capacity": 8}]
    got = calendar.sessions_on("org_x", dt.date(2026, 9, 20), week, False, None)
    assert [(s.start, s.capacity) for s in got] == [("10:00", 8)]
