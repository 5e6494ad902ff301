"""Time and place helpers of home care, as pure functions.

When a caregiver can take a visit (skills, weekly hours, leave, the travel buffer
around other visits) is decided in SQL, once: services/home_care/rules.sql, asked by
the availability read, the booking and a change of a caregiver. What stays here is
arithmetic every part shares: a local day's bounds, "HH:MM" as minutes, the
distance between two points.
"""

from __future__ import annotations

import datetime as dt
import math

from core.clock import CHINA_TZ

Interval = tuple[dt.datetime, dt.datetime]


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def day_bounds(day: dt.date) -> Interval:
    """Local day `day` (China time) as instants [start, end)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=CHINA_TZ).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(min(1.0, a)))
