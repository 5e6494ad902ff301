"""Which sessions an office holds on a date.

Precedence, highest first:

1. the office's closure of that date: closed;
2. the office's special day on that date: its own sessions;
3. China's official calendar, `official_day`: a statutory public holiday
   (including the days off it moves) is closed; an adjusted working day (调休, a
   Saturday or Sunday worked in exchange) is open with that weekday's own weekly
   sessions if it has any, else Monday's (or the first weekday, Monday to Friday,
   that has sessions);
4. the weekly schedule for that weekday.

The official calendar of a year, highest first: the State Council notice the admin
loaded (`PUT /v1/official-calendar/{year}`, kept in `official_calendar_notice` and
copied into this process by `services.marriage.official_calendar.refresh`);
chinese-calendar, for the years it knows; else an estimate: the statutory holidays
computed from their rules by the `holidays` package (lunar ones included), with
no adjusted working day known. This module is the one place that says whether a
date is a working day; slots, booking and schedule changes all ask it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Protocol

import chinese_calendar
import holidays as holiday_rules

from core.clock import CHINA_TZ
from core.errors import OutsideBookingWindow
from core.text import ascii_digits
from schemas.marriage import in_date_range

SLOT_PREFIX = "ms"
SLOT_KIND = "marriage_session"

_HOLIDAYS: Mapping[dt.date, Any] = chinese_calendar.holidays
_WORKDAYS: Mapping[dt.date, Any] = chinese_calendar.workdays
KNOWN_YEARS: frozenset[int] = frozenset(d.year for d in _HOLIDAYS)


@dataclass(frozen=True, slots=True)
class YearCalendar:
    year: int
    holidays: frozenset[dt.date]
    working_days: frozenset[dt.date]  # Saturdays and Sundays worked (调休)
    source: str  # "notice" | "library" | "estimated"
    notice: str | None = None
    loaded_at: dt.datetime | None = None


# The loaded notices, by year, as this process last read them (see
# services.marriage.official_calendar.refresh); `generation` changes with them, so
# caches of computed days can tell.
_notices: dict[int, YearCalendar] = {}
_generation = 0
_estimates: dict[int, YearCalendar] = {}


def set_notices(notices: Iterable[YearCalendar]) -> None:
    global _notices, _generation
    fresh = {n.year: n for n in notices}
    if fresh != _notices:
        _notices = fresh
        _generation += 1


def generation() -> int:
    return _generation


@cache
def _library_year(year: int) -> YearCalendar:
    return YearCalendar(
        year, frozenset(d for d in _HOLIDAYS if d.year == year),
        frozenset(d for d in _WORKDAYS if d.year == year and d.isoweekday() >= 6), "library")


def _estimated_year(year: int) -> YearCalendar:
    """The statutory holidays of a year nobody has published yet, from their rules:
    New Year, the Spring Festival (its eve included), Qingming, Labour Day, the Dragon
    Boat and Mid-Autumn festivals and National Day, with the days the `holidays`
    package moves off a weekend; no adjusted working day is known."""
    hit = _estimates.get(year)
    if hit is None:
        days = holiday_rules.country_holidays("CN", years=year)
        hit = _estimates[year] = YearCalendar(
            year, frozenset(d for d in days if d.year == year), frozenset(), "estimated")
    return hit


def year_calendar(year: int) -> YearCalendar:
    notice = _notices.get(year)
    if notice is not None:
        return notice
    if year in KNOWN_YEARS:
        return _library_year(year)
    return _estimated_year(year)


def calendar_source(day: dt.date) -> str:
    """Where `day`'s working-day status comes from: `notice`, `library`, `estimated`."""
    return year_calendar(day.year).source


def official_day(day: dt.date) -> str:
    """`holiday`, `workday` (调休 weekend day) or `normal`, by `year_calendar`."""
    cal = _notices.get(day.year)
    if cal is None and day.year in KNOWN_YEARS:  # the fast path: no copy of the year
        if day in _HOLIDAYS:
            return "holiday"
        if day in _WORKDAYS and day.isoweekday() >= 6:
            return "workday"
        return "normal"
    cal = cal or _estimated_year(day.year)
    if day in cal.holidays:
        return "holiday"
    if day in cal.working_days and day.isoweekday() >= 6:
        return "workday"
    return "normal"


def is_working_day(day: dt.date) -> bool:
    """A day the authorities work: Monday to Friday unless a statutory holiday, and
    the Saturdays and Sundays of 调休 (`official_day`)."""
    kind = official_day(day)
    return kind == "workday" or (kind == "normal" and day.isoweekday() <= 5)


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The `n`th working day after `day` (`day` itself never counts): deadlines
    the authorities count in working days (an appeal's `decide_by`)."""
    counted = 0
    while counted < n:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


@dataclass(frozen=True, slots=True)
class Session:
    office_id: str
    date: dt.date
    start: str
    end: str
    capacity: int

    @property
    def slot_id(self) -> str:
        return slot_id(self.office_id, self.date, self.start)

    @property
    def starts_at(self) -> dt.datetime:
        return local_to_utc(self.date, self.start)

    @property
    def ends_at(self) -> dt.datetime:
        return local_to_utc(self.date, self.end)


def local_to_utc(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CHINA_TZ).astimezone(dt.UTC)


def slot_id(office_id: str, day: dt.date, start: str) -> str:
    return f"{SLOT_PREFIX}_{office_id}_{day:%Y%m%d}_{start.replace(':', '')}"


def slot_prefix(office_id: str, day: dt.date | None = None) -> str:
    base = f"{SLOT_PREFIX}_{office_id}_"
    return base if day is None else f"{base}{day:%Y%m%d}_"


def parse_slot_id(value: str) -> tuple[str, dt.date, str] | None:
    """(office_id, date, "HH:MM"), or None when the id is not one of ours (which
    includes a date outside the range the API takes, `schemas.marriage.FIRST_DATE`
    to `LAST_DATE`)."""
    if not value.startswith(SLOT_PREFIX + "_"):
        return None
    rest = value[len(SLOT_PREFIX) + 1:]
    parts = rest.rsplit("_", 2)
    if len(parts) != 3:
        return None
    office_id, ymd, hm = parts
    if not office_id or len(ymd) != 8 or len(hm) != 4 or not ascii_digits(ymd + hm):
        return None
    try:  # the digits were checked above (strptime costs ten times this)
        day = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        return None
    if not in_date_range(day):
        return None
    hour, minute = int(hm[:2]), int(hm[2:])
    if hour > 23 or minute > 59:
        return None
    return office_id, day, f"{hm[:2]}:{hm[2:]}"


def _weekday_sessions(weekly: Iterable[dict[str, Any]], weekday: int) -> list[dict[str, Any]]:
    return [s for s in weekly if s["weekday"] == weekday]


def sessions_on(office_id: str, day: dt.date, weekly: list[dict[str, Any]],
                closed: bool, special: list[dict[str, Any]] | None) -> list[Session]:
    """The sessions held on `day`, earliest first."""
    if closed:
        return []
    if special is not None:
        chosen = special
    else:
        kind = official_day(day)
        if kind == "holiday":
            chosen = []
        elif kind == "workday":
            chosen = _weekday_sessions(weekly, day.isoweekday())
            for weekday in range(1, 6):
                if chosen:
                    break
                chosen = _weekday_sessions(weekly, weekday)
        else:
            chosen = _weekday_sessions(weekly, day.isoweekday())
    return sorted(
        (Session(office_id, day, s["start"], s["end"], int(s["capacity"])) for s in chosen),
        key=lambda s: s.start,
    )


def daterange(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


class BookingSettings(Protocol):
    booking_opens_days_ahead: int
    min_notice_hours: int


def bookable_now(schedule: BookingSettings, s: Session, now: dt.datetime,
                 today: dt.date) -> bool:
    """Within the booking window: released (`booking_opens_days_ahead`, by China
    date) and not later than `min_notice_hours` before the start."""
    released = s.date <= today + dt.timedelta(days=schedule.booking_opens_days_ahead)
    return released and now <= s.starts_at - dt.timedelta(hours=schedule.min_notice_hours)


def outside_window(schedule: BookingSettings, s: Session,
                   today: dt.date) -> OutsideBookingWindow:
    """Why `bookable_now` refused `s`: not released yet (it opens at midnight China
    time, `booking_opens_days_ahead` days before its date) or past the minimum notice."""
    days = schedule.booking_opens_days_ahead
    if s.date > today + dt.timedelta(days=days):
        return OutsideBookingWindow(
            opens_at=local_to_utc(s.date - dt.timedelta(days=days), "00:00"), opens_days=days)
    return OutsideBookingWindow(
        closed_at=s.starts_at - dt.timedelta(hours=schedule.min_notice_hours),
        notice_hours=schedule.min_notice_hours)


@lru_cache(maxsize=256)
def week_of(text: str) -> list[dict[str, Any]]:
    """An office's weekly sessions from the schedule's text as stored: parsed once
    per version of it, not on every booking or entry (read only, never changed)."""
    return json.loads(text)
