"""The rules of when a caregiver can take a visit, asked of the SQL functions that
hold them (services/home_care/rules.sql), one by one."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text

from core.clock import CHINA_TZ
from services.home_care import rules


def _t(hhmm: str, day: int = 8) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(2026, 12, day, h, m, tzinfo=CHINA_TZ).astimezone(dt.UTC)


TUESDAY = [{"weekday": 2, "start": "08:00", "end": "12:00"}]  # 2026-12-08 is a Tuesday


async def _ask(db, sql: str, **params) -> object:  # noqa: ANN001
    async with db.session() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def _within(db, hours: list[dict], start: dt.datetime, end: dt.datetime) -> bool:  # noqa: ANN001
    return await _ask(db, "SELECT home_care_within(home_care_week_minutes(CAST(:h AS json)), "
                          "home_care_minute_of_week(:s), :m)", h=json.dumps(hours), s=start,
                      m=int((end - start).total_seconds() // 60))


async def test_a_visit_must_lie_wholly_inside_a_window_of_its_weekday(db):  # noqa: ANN001
    assert await _within(db, TUESDAY, _t("08:00"), _t("12:00"))
    assert not await _within(db, TUESDAY, _t("07:30"), _t("08:30"))
    assert not await _within(db, TUESDAY, _t("11:30"), _t("12:30"))
    assert not await _within(db, TUESDAY, _t("09:00", day=9), _t("10:00", day=9))  # Wednesday


async def test_a_window_to_midnight_takes_a_visit_ending_at_midnight_only(db):  # noqa: ANN001
    late = [{"weekday": 2, "start": "20:00", "end": "24:00"}]
    assert await _within(db, late, _t("23:00"), _t("00:00", day=9))
    assert not await _within(db, late, _t("23:30"), _t("00:30", day=9))
    # ... unless the caregiver also works from Wednesday's midnight: one stretch.
    night = [*late, {"weekday": 3, "start": "00:00", "end": "02:00"}]
    assert await _within(db, night, _t("23:30"), _t("00:30", day=9))


async def test_windows_that_touch_make_one_stretch_and_gaps_break_it(db):  # noqa: ANN001
    split = [{"weekday": 2, "start": "08:00", "end": "12:00"},
             {"weekday": 2, "start": "12:00", "end": "17:00"}]
    assert await _within(db, split, _t("11:30"), _t("12:30"))
    lunch = [{"weekday": 2, "start": "08:00", "end": "12:00"},
             {"weekday": 2, "start": "13:00", "end": "17:00"}]
    assert not await _within(db, lunch, _t("11:30"), _t("13:30"))
    assert await _within(db, lunch, _t("13:00"), _t("17:00"))


async def _clear(db, start, end, blocked, busy, leave) -> bool:  # noqa: ANN001
    def mr(ranges: list[tuple[dt.datetime, dt.datetime]]) -> str:
        return "{" + ",".join(f"[{a.isoformat()},{b.isoformat()})" for a, b in ranges) + "}"
    return await _ask(db, "SELECT home_care_clear(:s, :e, :b, "
                          "CAST(CAST(:busy AS text) AS tstzmultirange), "
                          "CAST(CAST(:leave AS text) AS tstzmultirange))",
                      s=start, e=end, b=blocked, busy=mr(busy), leave=mr(leave))


async def test_the_buffer_separates_visits_on_both_sides(db):  # noqa: ANN001
    buffer = dt.timedelta(minutes=30)
    other = (_t("10:00"), _t("11:00") + buffer)
    for start, ok in (("08:30", True), ("09:00", False), ("11:00", False), ("11:30", True)):
        s = _t(start)
        e = s + dt.timedelta(hours=1)
        assert await _clear(db, s, e, e + buffer, [other], []) is ok, start


async def test_leave_blocks_the_visit_not_the_buffer(db):  # noqa: ANN001
    leave = [(_t("09:00"), _t("10:00"))]
    assert await _clear(db, _t("08:00"), _t("09:00"), _t("09:30"), [], leave)
    assert not await _clear(db, _t("08:30"), _t("09:30"), _t("10:00"), [], leave)


async def test_skills_decide(db):  # noqa: ANN001
    sql = "SELECT home_care_skilled(CAST(:s AS json), :c)"
    assert not await _ask(db, sql, s=json.dumps(["bathing"]), c="cleaning")
    assert await _ask(db, sql, s=json.dumps(["bathing", "cleaning"]), c="cleaning")


def test_distance_is_great_circle_km():
    assert rules.distance_km(31.23, 121.47, 31.23, 121.47) == 0
    assert 1060 < rules.distance_km(31.23, 121.47, 39.90, 116.40) < 1080  # Shanghai-Beijing
