"""The time rules of a visit, as pure functions."""

from __future__ import annotations

import datetime as dt

from core.clock import CHINA_TZ
from services.home_care import rules


def _t(hhmm: str, day: int = 8) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(2026, 12, day, h, m, tzinfo=CHINA_TZ).astimezone(dt.UTC)


TUESDAY = [{"weekday": 2, "start": "08:00", "end": "12:00"}]


def test_a_visit_must_lie_wholly_inside_a_window_of_its_weekday():
    assert rules.within_hours(TUESDAY, _t("08:00"), _t("12:00"))
    assert not rules.within_hours(TUESDAY, _t("07:30"), _t("08:30"))
    assert not rules.within_hours(TUESDAY, _t("11:30"), _t("12:30"))
    assert not rules.within_hours(TUESDAY, _t("09:00", day=9), _t("10:00", day=9))  # Wednesday


def test_a_window_to_midnight_takes_a_visit_ending_at_midnight_only():
    late = [{"weekday": 2, "start": "20:00", "end": "24:00"}]
    assert rules.within_hours(late, _t("23:00"), _t("00:00", day=9))
    assert not rules.within_hours(late, _t("23:30"), _t("00:30", day=9))


def test_the_buffer_separates_visits_on_both_sides():
    buffer = dt.timedelta(minutes=30)
    other = (_t("10:00"), _t("11:00") + buffer)
    for start, ok in (("08:30", True), ("09:00", False), ("11:00", False), ("11:30", True)):
        s = _t(start)
        e = s + dt.timedelta(hours=1)
        assert rules.clear(s, e + buffer, visits=[other], leave=[], ends_at=e) is ok, start


def test_leave_blocks_the_visit_not_the_buffer():
    leave = [(_t("09:00"), _t("10:00"))]
    e = _t("09:00")
    assert rules.clear(_t("08:00"), e + dt.timedelta(minutes=30), visits=[], leave=leave,
                       ends_at=e)
    assert not rules.clear(_t("08:30"), _t("10:00"), visits=[], leave=leave, ends_at=_t("09:30"))


def test_skills_decide_first():
    assert not rules.fits(["bathing"], TUESDAY, "cleaning", _t("09:00"), _t("10:00"),
                          _t("10:30"), visits=[], leave=[])
    assert rules.fits(["cleaning"], TUESDAY, "cleaning", _t("09:00"), _t("10:00"),
                      _t("10:30"), visits=[], leave=[])


def test_distance_is_great_circle_km():
    assert rules.distance_km(31.23, 121.47, 31.23, 121.47) == 0
    assert 1060 < rules.distance_km(31.23, 121.47, 39.90, 116.40) < 1080  # Shanghai-Beijing
