"""The time rules of a visit, as pure functions: inside the caregiver's weekly
hours, clear of leave, and clear of every other visit by the travel buffer.

A visit holds its caregiver over `[starts_at, blocked_until)`, where
`blocked_until` is its end plus the travel buffer. Two visits of one caregiver
clash when those ranges overlap, which is exactly "the later one starts less than
a buffer after the earlier one ends" (and what the PostgreSQL exclusion
constraint checks). Times are local (Asia/Shanghai) for the weekly hours.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from core.clock import CHINA_TZ

Interval = tuple[dt.datetime, dt.datetime]


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def day_bounds(day: dt.date) -> Interval:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=CHINA_TZ).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def within_hours(weekly_hours: Iterable[dict], starts_at: dt.datetime,
                 ends_at: dt.datetime) -> bool:
    """The whole visit lies inside one of the caregiver's windows of that weekday."""
    s = starts_at.astimezone(CHINA_TZ)
    e = ends_at.astimezone(CHINA_TZ)
    start_min = s.hour * 60 + s.minute
    end_min = (e.date() - s.date()).days * 24 * 60 + e.hour * 60 + e.minute
    return any(int(w["weekday"]) == s.isoweekday()
               and minutes(w["start"]) <= start_min and end_min <= minutes(w["end"])
               for w in weekly_hours)


def overlaps(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def clear(starts_at: dt.datetime, blocked_until: dt.datetime, *,
          visits: Iterable[Interval], leave: Iterable[Interval],
          ends_at: dt.datetime) -> bool:
    """Clear of every other visit (buffered ranges) and of every leave (the visit
    itself must not touch the leave)."""
    if any(overlaps((starts_at, blocked_until), v) for v in visits):
        return False
    return not any(overlaps((starts_at, ends_at), t) for t in leave)


def fits(caregiver_skills: Iterable[str], weekly_hours: Iterable[dict], service: str,
         starts_at: dt.datetime, ends_at: dt.datetime, blocked_until: dt.datetime, *,
         visits: Iterable[Interval], leave: Iterable[Interval]) -> bool:
    return (service in set(caregiver_skills)
            and within_hours(weekly_hours, starts_at, ends_at)
            and clear(starts_at, blocked_until, visits=visits, leave=leave, ends_at=ends_at))


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(min(1.0, a)))
