"""Visit verification (EVV; API.md "Home and community care", DOMAIN.md section 5):
what a visit's record shows, and what it bills.

**The exception rules** are decided here, once, by `exceptions()` (pure: times,
positions and settings in, codes out). Check-in, check-out and the worker's
completion of a visit never checked out all call it; nothing else decides a code.

- `location_mismatch`: the check-in or the check-out lies farther than
  `HUIMIN_HOME_CARE_LOCATION_TOLERANCE_KM` (1 km) from the elder's home. **When the
  home's position is unknown** (the booking gave none) nobody can prove the visit
  was at the home, so the rule checks what a payer can still check: the check-in
  lies within `HUIMIN_HOME_CARE_SERVICE_RADIUS_KM` (20 km) of the provider (when the
  provider has a position), and the check-out lies within the tolerance of the
  check-in (the caregiver stayed in one place); a visit completed without a
  check-out is judged on its check-in alone.
- `late_check_in`: checked in more than `HUIMIN_HOME_CARE_LATE_CHECK_IN_MINUTES`
  (15) after the booked start (exactly 15 minutes is on time).
- `short_visit`: checked out having served (check-in to check-out) less than
  `HUIMIN_HOME_CARE_SHORT_VISIT_PERCENT` (75) % of the booked duration (exactly 75 %
  is not short).
- `missing_check_out`: still in service `HUIMIN_HOME_CARE_MISSING_CHECK_OUT_HOURS`
  (2) after the booked end; the worker completes it (`services.home_care.corrections`).

No code: `verified`; any code: `exception`.

**What a visit bills** (`billed_fen`): its price; once a correction is submitted,
the price prorated by the corrected minutes over the booked minutes, rounded down
to the fen and never above the price (a corrected visit that served longer than
booked bills the price).

**Settling** (`settle`), in the caller's transaction, by the visit's verification:
- `verified`, `corrected`: paid from the month's allowance first
  (`subsidies.pay`, which never overdraws it), the rest by the family;
  `subsidy_held_fen` null;
- `exception`, `correction_submitted`: nothing is paid (`subsidy_paid_fen` 0) and
  the family's share is not known yet (`family_paid_fen` null); `subsidy_held_fen`
  shows what the allowance would pay for the billed amount at that moment
  (`subsidies.quote`), not taken from it;
- `rejected`: the subsidy pays nothing, the family the whole price (the rule "the
  allowance first, the rest by the family" with no allowance); `subsidy_held_fen` null.

**A correction's actual times** (`check_correction`) lie between the earliest
check-in huimin accepts (`HUIMIN_HOME_CARE_CHECK_IN_WINDOW_MINUTES`, 60, before the
booked start) and the moment the worker would have completed the visit for a
missing check-out (2 hours after the booked end), and not in the future: the
visit's own slot of the day, with the slack the record rules give it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import CorrectionOutsideVisit, china_time
from core.settings import Settings
from schemas.home_care import AWAITING_DECISION, PAYING, ExceptionCode, VerificationStatus
from services.home_care import rules, subsidies

E = ExceptionCode
V = VerificationStatus
ORDER = (E.location_mismatch, E.late_check_in, E.short_visit, E.missing_check_out)


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Fix:
    """A check-in or check-out: when, and where (None: no position)."""

    at: dt.datetime
    point: Point | None


def point(lat: float | None, lon: float | None) -> Point | None:
    return Point(lat, lon) if lat is not None and lon is not None else None


def _km(a: Point, b: Point) -> float:
    return rules.distance_km(a.lat, a.lon, b.lat, b.lon)


def _misplaced(settings: Settings, *, home: Point | None, provider: Point | None,
               check_in: Fix | None, check_out: Fix | None) -> bool:
    tolerance = settings.home_care_location_tolerance_km
    cin = check_in.point if check_in is not None else None
    cout = check_out.point if check_out is not None else None
    if home is not None:
        return any(p is not None and _km(p, home) > tolerance for p in (cin, cout))
    # The home's position is unknown: the check-in within the provider's service
    # area, the check-out where the check-in was.
    radius = settings.home_care_service_radius_km
    if cin is not None and provider is not None and _km(cin, provider) > radius:
        return True
    if cout is not None:
        if cin is not None:
            return _km(cout, cin) > tolerance
        return provider is not None and _km(cout, provider) > radius
    return False


def exceptions(settings: Settings, *, starts_at: dt.datetime, ends_at: dt.datetime,
               home: Point | None, provider: Point | None, check_in: Fix | None,
               check_out: Fix | None = None,
               missing_check_out: bool = False) -> list[str]:
    """The exception codes of a visit's record so far, in a fixed order (at check-in:
    location and lateness; at check-out or completion without one: all)."""
    found: set[str] = set()
    if _misplaced(settings, home=home, provider=provider, check_in=check_in,
                  check_out=check_out):
        found.add(E.location_mismatch)
    if check_in is not None and check_in.at - starts_at > dt.timedelta(
            minutes=settings.home_care_late_check_in_minutes):
        found.add(E.late_check_in)
    if check_in is not None and check_out is not None:
        served, booked = check_out.at - check_in.at, ends_at - starts_at
        if served * 100 < booked * settings.home_care_short_visit_percent:
            found.add(E.short_visit)
    if missing_check_out:
        found.add(E.missing_check_out)
    return [str(c) for c in ORDER if c in found]


def state_of(codes: list[str]) -> str:
    """A completed visit's verification from its codes."""
    return str(V.exception if codes else V.verified)


def missing_check_out_due(settings: Settings, now: dt.datetime) -> dt.datetime:
    """Visits in service that ended at or before this are missing their check-out."""
    return now - dt.timedelta(hours=settings.home_care_missing_check_out_hours)


def missed_check_in_due(settings: Settings, now: dt.datetime) -> dt.datetime:
    """Booked visits that started at or before this have missed their check-in."""
    return now - dt.timedelta(minutes=settings.home_care_missed_check_in_minutes)


# --- corrections ----------------------------------------------------------------------


def correction_bounds(settings: Settings, starts_at: dt.datetime,
                      ends_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The earliest actual start and the latest actual end a correction may give."""
    return (starts_at - dt.timedelta(minutes=settings.home_care_check_in_window_minutes),
            ends_at + dt.timedelta(hours=settings.home_care_missing_check_out_hours))


def check_correction(settings: Settings, b: Any, start: dt.datetime, end: dt.datetime,
                     now: dt.datetime) -> None:
    """422 `correction_outside_visit` unless [start, end) lies within the bounds and
    not after `now` (`start < end` is the request model's rule)."""
    earliest, latest = correction_bounds(settings, b.starts_at, b.ends_at)
    latest = min(latest, now)
    if start < earliest or end > latest:
        raise CorrectionOutsideVisit(earliest=china_time(earliest), latest=china_time(latest))


def billed_fen(b: Any) -> int:
    """What the visit bills: its price, or once corrected times are given, the price
    prorated by the corrected over the booked duration (down to the fen, at most the
    price)."""
    if b.correction_start_at is None or b.correction_end_at is None:
        return b.price_fen
    second = dt.timedelta(seconds=1)
    booked = (b.ends_at - b.starts_at) // second
    served = max(0, (b.correction_end_at - b.correction_start_at) // second)
    return min(b.price_fen, b.price_fen * served // booked)


async def settle(session: AsyncSession, b: Any) -> Any:
    """Bill the (completed) visit `b` as its verification says, in the caller's
    transaction: pay, hold, or bill the family alone (module docstring)."""
    v = b.verification
    if v in PAYING:
        b.subsidy_paid_fen, b.family_paid_fen = await subsidies.pay(
            session, elder_blind=b.elder_id_blind, elder_masked=b.elder_id_masked,
            day=b.visit_date, price_fen=billed_fen(b))
        b.subsidy_held_fen = None
    elif v in AWAITING_DECISION:
        b.subsidy_paid_fen, b.family_paid_fen = 0, None
        b.subsidy_held_fen = await subsidies.quote(
            session, elder_blind=b.elder_id_blind, day=b.visit_date, price_fen=billed_fen(b))
    elif v == V.rejected:
        b.subsidy_paid_fen, b.family_paid_fen, b.subsidy_held_fen = 0, b.price_fen, None
    else:  # pragma: no cover - only completed visits are settled
        raise ValueError(f"a visit without a verification cannot be settled: {v!r}")
    await session.flush()
    return b
