"""An office's calendar: weekly schedule, closures, special days, and the slots
they produce. A change never silently overbooks or drops appointments: see
`reconcile`."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    cast,
    delete,
    literal,
    null,
    select,
    union_all,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import CHINA_TZ, clock
from core.errors import (
    DateRangeTooLong,
    InvalidSessions,
    NotFound,
    PreconditionFailed,
    ScheduleNotSet,
)
from core.ids import new_id
from core.prepared import Sql
from core.principal import Principal
from core.settings import Settings
from core.writes import insert_if_absent, versioned_update
from schemas.common import Page
from schemas.marriage import (
    LAST_DATE,
    CancelReason,
    ClosureCreate,
    DaySessionIn,
    MarriageClosure,
    MarriageSchedule,
    MarriageSpecialDay,
    OfficePublic,
    SpecialDayCreate,
    WeeklyScheduleUpdate,
)
from schemas.organisation import Organisation, OrgKind
from services import audit, capacity, divisions, organisations, stranding
from services.etag import etag
from services.marriage import calendar, cancellation, office_days, official_calendar
from services.marriage.calendar import Session

MAX_SLOT_RANGE_DAYS = 62


# --- offices -------------------------------------------------------------------


async def list_offices(session: AsyncSession, *, division_code: str | None,
                       near: str | None = None, sort: str = "id", limit: int,
                       cursor: str | None) -> Page[OfficePublic]:
    """The registration offices (division prefix), by id or nearest first (the
    directory's own search, `organisations.nearest`), each saying whether it takes
    bookings."""
    origin = organisations.origin_of(near, sort)
    kind = OrgKind.registration_office
    found: list[tuple[Organisation, float | None]]
    if sort == "distance":
        assert origin is not None
        near_page = await organisations.nearest(session, kind=kind, origin=origin,
                                                division_code=division_code, limit=limit,
                                                cursor=cursor)
        orgs = await organisations.get_many(session, [oid for _, oid in near_page.found])
        found = [(orgs[oid], d) for d, oid in near_page.found]
        next_cursor = near_page.next_cursor
    else:
        page = await organisations.list_(session, kind=kind, division_code=division_code,
                                         limit=limit, cursor=cursor)
        found = [(o, organisations.haversine_km(*origin, o.lat, o.lon)
                  if origin is not None and o.lat is not None and o.lon is not None else None)
                 for o in page.items]
        next_cursor = page.next_cursor
    taking = await taking_bookings(session, [o.id for o, _ in found])
    items = [OfficePublic(id=o.id, name=o.name, division_code=o.division_code,
                          division_name=divisions.name_of(o.division_code), address=o.address,
                          phone=o.phone, lat=o.lat, lon=o.lon, takes_bookings=o.id in taking,
                          distance_km=round(d, 3) if d is not None else None)
             for o, d in found]
    return Page(items=items, next_cursor=next_cursor)


async def taking_bookings(session: AsyncSession, office_ids: list[str]) -> set[str]:
    """Those of the offices that publish something to book: a weekly schedule with a
    session, or a special day from today on."""
    if not office_ids:
        return set()
    weekly = (await session.execute(
        select(MarriageSchedule.office_id, MarriageSchedule.sessions)
        .where(MarriageSchedule.office_id.in_(office_ids)))).all()
    taking = {oid for oid, sessions in weekly if sessions}
    rest = [oid for oid in office_ids if oid not in taking]
    if rest:
        taking.update((await session.execute(
            select(MarriageSpecialDay.office_id).distinct()
            .where(MarriageSpecialDay.office_id.in_(rest),
                   MarriageSpecialDay.special_date >= clock.today()))).scalars())
    return taking


def schedule_etag_id(office_id: str) -> str:
    """What the schedule's ETag is made of: its own name, never the bare office id
    (that is the organisation's ETag, which must not pass the schedule's If-Match)."""
    return f"schedule:{office_id}"


def schedule_etag(schedule: MarriageSchedule) -> str:
    return etag(schedule_etag_id(schedule.office_id), schedule.version)


def own_office(principal: Principal, office_id: str) -> None:
    """Staff act only on their own office; any other office is simply not found."""
    if principal.org_id != office_id:
        raise NotFound(what="office")


# --- weekly schedule ---------------------------------------------------------------


async def get_schedule(session: AsyncSession, principal: Principal,
                       office_id: str) -> MarriageSchedule:
    own_office(principal, office_id)
    schedule = await session.get(MarriageSchedule, office_id)
    if schedule is None:
        raise NotFound(what="weekly schedule")
    await official_calendar.refresh(session)
    return schedule


def estimated_from(schedule: MarriageSchedule) -> dt.date | None:
    """The first date of the office's booking window (today to `booking_opens_days_ahead`
    days ahead) whose working-day status rests on an estimate (no notice or library
    knows its year), or None."""
    today = clock.today()
    last = today + dt.timedelta(days=schedule.booking_opens_days_ahead)
    for year in range(today.year, last.year + 1):
        if calendar.year_calendar(year).source == "estimated":
            return max(today, dt.date(year, 1, 1))
    return None


def _check_overlaps(sessions: list[DaySessionIn], weekday: int | None = None) -> None:
    ordered = sorted(sessions, key=lambda s: s.start)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start < a.end:
            day = f"星期{'一二三四五六日'[weekday - 1]}" if weekday else ""
            raise InvalidSessions(
                reason_zh=f"{day}场次 {a.start}-{a.end} 与 {b.start}-{b.end} 重叠。",
                reason_en=f"Sessions {a.start}-{a.end} and {b.start}-{b.end} overlap"
                          + (f" on weekday {weekday}." if weekday else "."))


@dataclass
class ScheduleResult:
    schedule: MarriageSchedule
    cancelled: int


async def put_schedule(session: AsyncSession, principal: Principal, settings: Settings,
                       office_id: str, body: WeeklyScheduleUpdate,
                       if_match: str | None) -> ScheduleResult:
    own_office(principal, office_id)
    by_day: dict[int, list[DaySessionIn]] = defaultdict(list)
    for s in body.sessions:
        by_day[s.weekday].append(s)
    for weekday, day_sessions in by_day.items():
        _check_overlaps(day_sessions, weekday)
    sessions = [{"weekday": s.weekday, "start": s.start, "end": s.end, "capacity": s.capacity}
                for s in sorted(body.sessions, key=lambda s: (s.weekday, s.start))]
    now = clock.now()
    existing = await _schedule_for_update(session, office_id)
    created = False
    if existing is None:
        # FOR UPDATE locks nothing while the row does not exist, so two first PUTs
        # can both get here: the insert decides. The loser's insert waits for the
        # winner's transaction and then does nothing; it goes on as an update of the
        # schedule that now exists (so without If-Match, 428).
        created = await _insert_schedule(session, {
            "office_id": office_id, "sessions": sessions,
            "booking_opens_days_ahead": _or(body.booking_opens_days_ahead,
                                            settings.marriage_booking_opens_days_ahead),
            "min_notice_hours": _or(body.min_notice_hours, settings.marriage_min_notice_hours),
            "cancel_deadline_hours": _or(body.cancel_deadline_hours,
                                         settings.marriage_cancel_deadline_hours),
            "version": 1, "created_at": now, "updated_at": now})
        existing = await _schedule_for_update(session, office_id)
        if existing is None:  # pragma: no cover - inserted or there already
            raise PreconditionFailed()
    if created:
        schedule = existing
        action = "marriage_schedule.create"
    else:
        schedule = await versioned_update(
            session, existing, if_match=if_match, etag=schedule_etag, values=lambda current: {
                "sessions": sessions, "updated_at": now,
                "booking_opens_days_ahead": _or(body.booking_opens_days_ahead,
                                                current.booking_opens_days_ahead),
                "min_notice_hours": _or(body.min_notice_hours, current.min_notice_hours),
                "cancel_deadline_hours": _or(body.cancel_deadline_hours,
                                             current.cancel_deadline_hours),
            })
        action = "marriage_schedule.update"
    cancelled = await reconcile(session, principal, schedule, cancel=body.cancel_affected)
    await audit.record(session, principal, action, "marriage_schedule", office_id,
                       org_id=office_id)
    return ScheduleResult(schedule, cancelled)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


# Bookings on PostgreSQL hold the office's schedule lock shared (`marriage_book`,
# migration 0013: a transaction-level advisory lock on this key, not a row lock,
# since 32 bookings sharing a row lock made a new MultiXact each); every change of
# what booking reads (the week, closures, special days, lotteries) takes it
# exclusive before it locks the row, so it waits for the bookings in flight and the
# next ones see it. The key's text is spelled the same in the function.
async def _exclude_bookings(session: AsyncSession, office_id: str) -> None:
    office_days.forget_office(office_id)
    await prepared.exclusive_lock(session, f"marriage_schedule:{office_id}")


async def _schedule_for_update(session: AsyncSession, office_id: str) -> MarriageSchedule | None:
    await _exclude_bookings(session, office_id)
    return (await session.execute(
        select(MarriageSchedule).where(MarriageSchedule.office_id == office_id)
        .with_for_update().execution_options(populate_existing=True)
    )).scalar_one_or_none()


async def _insert_schedule(session: AsyncSession, values: dict[str, Any]) -> bool:
    """True if this transaction created the row (INSERT ... ON CONFLICT DO NOTHING)."""
    return await insert_if_absent(session, MarriageSchedule, values, conflict=["office_id"])


async def _locked_schedule(session: AsyncSession, office_id: str) -> MarriageSchedule:
    await _exclude_bookings(session, office_id)
    schedule = (await session.execute(
        select(MarriageSchedule).where(MarriageSchedule.office_id == office_id)
        .with_for_update()
    )).scalar_one_or_none()
    if schedule is None:
        raise ScheduleNotSet()
    return schedule


# --- closures and special days ----------------------------------------------------


@dataclass
class ClosureResult:
    closure: MarriageClosure
    created: bool
    cancelled: int


async def add_closure(session: AsyncSession, principal: Principal, office_id: str,
                      body: ClosureCreate) -> ClosureResult:
    own_office(principal, office_id)
    schedule = await _locked_schedule(session, office_id)
    closure = (await session.execute(select(MarriageClosure).where(
        MarriageClosure.office_id == office_id, MarriageClosure.closure_date == body.date)
    )).scalar_one_or_none()
    created = closure is None
    if closure is None:
        closure = MarriageClosure(id=new_id("mcl"), office_id=office_id, closure_date=body.date,
                                  reason=body.reason, created_at=clock.now())
    else:
        closure.reason = body.reason
    session.add(closure)
    await session.flush()
    cancelled = await reconcile(session, principal, schedule, cancel=body.cancel_affected,
                                day=body.date)
    await audit.record(session, principal, "marriage_closure.create" if created
                       else "marriage_closure.update", "marriage_closure", closure.id,
                       org_id=office_id)
    return ClosureResult(closure, created, cancelled)


CLOSURES_BY_DATE = pages.Keyset(pages.Key(MarriageClosure.closure_date, pages.DAY))
SPECIAL_DAYS_BY_DATE = pages.Keyset(pages.Key(MarriageSpecialDay.special_date, pages.DAY))


async def list_closures(session: AsyncSession, principal: Principal, office_id: str,
                        first: dt.date | None, *, limit: int = 20,
                        cursor: str | None = None) -> Page[MarriageClosure]:
    own_office(principal, office_id)
    stmt = select(MarriageClosure).where(MarriageClosure.office_id == office_id)
    if first is not None:
        stmt = stmt.where(MarriageClosure.closure_date >= first)
    return await CLOSURES_BY_DATE.page(session, stmt, limit=limit, cursor=cursor)


async def remove_closure(session: AsyncSession, principal: Principal, office_id: str,
                         day: dt.date) -> None:
    own_office(principal, office_id)
    schedule = await _locked_schedule(session, office_id)
    closure = (await session.execute(select(MarriageClosure).where(
        MarriageClosure.office_id == office_id, MarriageClosure.closure_date == day)
    )).scalar_one_or_none()
    if closure is None:
        raise NotFound(what="closure")
    await session.execute(delete(MarriageClosure).where(MarriageClosure.id == closure.id))
    # Reopening adds capacity back to sessions that already have rows.
    await reconcile(session, principal, schedule, cancel=False, day=day)
    await audit.record(session, principal, "marriage_closure.delete", "marriage_closure",
                       closure.id, org_id=office_id)


@dataclass
class SpecialDayResult:
    special: MarriageSpecialDay
    created: bool
    cancelled: int


async def put_special_day(session: AsyncSession, principal: Principal, office_id: str,
                          body: SpecialDayCreate) -> SpecialDayResult:
    own_office(principal, office_id)
    _check_overlaps(body.sessions)
    schedule = await _locked_schedule(session, office_id)
    sessions = [{"start": s.start, "end": s.end, "capacity": s.capacity}
                for s in sorted(body.sessions, key=lambda s: s.start)]
    now = clock.now()
    special = (await session.execute(select(MarriageSpecialDay).where(
        MarriageSpecialDay.office_id == office_id, MarriageSpecialDay.special_date == body.date)
    )).scalar_one_or_none()
    created = special is None
    if special is None:
        special = MarriageSpecialDay(id=new_id("msd"), office_id=office_id,
                                     special_date=body.date, sessions=sessions,
                                     created_at=now, updated_at=now)
    else:
        special.sessions = sessions
        special.updated_at = now
    session.add(special)
    await session.flush()
    cancelled = await reconcile(session, principal, schedule, cancel=body.cancel_affected,
                                day=body.date)
    await audit.record(session, principal, "marriage_special_day.create" if created
                       else "marriage_special_day.update", "marriage_special_day", special.id,
                       org_id=office_id)
    return SpecialDayResult(special, created, cancelled)


async def list_special_days(session: AsyncSession, principal: Principal, office_id: str,
                            first: dt.date | None, *, limit: int = 20,
                            cursor: str | None = None) -> Page[MarriageSpecialDay]:
    own_office(principal, office_id)
    stmt = select(MarriageSpecialDay).where(MarriageSpecialDay.office_id == office_id)
    if first is not None:
        stmt = stmt.where(MarriageSpecialDay.special_date >= first)
    return await SPECIAL_DAYS_BY_DATE.page(session, stmt, limit=limit, cursor=cursor)


async def remove_special_day(session: AsyncSession, principal: Principal, office_id: str,
                             day: dt.date, *, cancel_affected: bool) -> int:
    own_office(principal, office_id)
    schedule = await _locked_schedule(session, office_id)
    special = (await session.execute(select(MarriageSpecialDay).where(
        MarriageSpecialDay.office_id == office_id, MarriageSpecialDay.special_date == day)
    )).scalar_one_or_none()
    if special is None:
        raise NotFound(what="special day")
    await session.execute(delete(MarriageSpecialDay).where(MarriageSpecialDay.id == special.id))
    cancelled = await reconcile(session, principal, schedule, cancel=cancel_affected, day=day)
    await audit.record(session, principal, "marriage_special_day.delete",
                       "marriage_special_day", special.id, org_id=office_id)
    return cancelled


# --- computing sessions ------------------------------------------------------------


@dataclass
class OfficeCalendar:
    """Everything needed to compute an office's sessions over a date range."""

    schedule: MarriageSchedule
    closed: set[dt.date]
    specials: dict[dt.date, list[dict[str, Any]]]

    def sessions_on(self, day: dt.date) -> list[Session]:
        return calendar.sessions_on(self.schedule.office_id, day, self.schedule.sessions,
                                    day in self.closed, self.specials.get(day))


async def day_overrides(session: AsyncSession, office_id: str, first: dt.date, last: dt.date,
                        ) -> tuple[set[dt.date], dict[dt.date, list[dict[str, Any]]]]:
    """The office's closures and special days in [first, last], in one round trip."""
    closures = select(literal("closed").label("what"), MarriageClosure.closure_date.label("day"),
                      cast(null(), JSON).label("sessions")).where(
        MarriageClosure.office_id == office_id,
        MarriageClosure.closure_date >= first, MarriageClosure.closure_date <= last)
    specials = select(literal("special"), MarriageSpecialDay.special_date,
                      MarriageSpecialDay.sessions).where(
        MarriageSpecialDay.office_id == office_id,
        MarriageSpecialDay.special_date >= first, MarriageSpecialDay.special_date <= last)
    closed: set[dt.date] = set()
    special: dict[dt.date, list[dict[str, Any]]] = {}
    for what, day, sessions in (await session.execute(union_all(closures, specials))).all():
        if what == "closed":
            closed.add(day)
        else:
            special[day] = sessions
    return closed, special


async def load_calendar(session: AsyncSession, schedule: MarriageSchedule, first: dt.date,
                        last: dt.date) -> OfficeCalendar:
    await official_calendar.refresh(session)
    closed, specials = await day_overrides(session, schedule.office_id, first, last)
    return OfficeCalendar(schedule, closed, specials)


# What a day's slots look like depends only on the office's weekly sessions, the
# date (China's calendar), the office's closure and special sessions of that date,
# and its cancellation deadline: the ids, times and the constant parts of each
# slot's JSON are computed once per such combination and kept here (bounded). The
# key holds the sessions themselves (as the JSON text the database keeps), so no
# change to them can be missed.
_DayKey = tuple[str, str, dt.date, bool, str | None, int, int]
# (JSON up to `"capacity":`, slot id, schedule capacity, date, UTC start, the JSON
# after `"bookable":...`)
_DaySlots = tuple[tuple[str, str, int, dt.date, dt.datetime, str], ...]
_DAY_CACHE: dict[_DayKey, _DaySlots] = {}
_DAY_CACHE_MAX = 20_000


def _day_slots(office_id: str, weekly_text: str, day: dt.date, closed: bool,
               special_text: str | None, cancel_hours: int) -> _DaySlots:
    """Each session held on `day`, earliest first, as `_DaySlots` says."""
    key = (office_id, weekly_text, day, closed, special_text, cancel_hours,
           calendar.generation())
    hit = _DAY_CACHE.get(key)
    if hit is not None:
        return hit
    out = []
    source = json.dumps(calendar.calendar_source(day))
    special = json.loads(special_text) if special_text is not None else None
    for sess in calendar.sessions_on(office_id, day, calendar.week_of(weekly_text), closed,
                                     special):
        sid = sess.slot_id
        head = (f'{{"slot_id":{json.dumps(sid, ensure_ascii=False)},"date":"{day.isoformat()}",'
                f'"start":{json.dumps(sess.start, ensure_ascii=False)},'
                f'"end":{json.dumps(sess.end, ensure_ascii=False)},"capacity":')
        deadline = (sess.starts_at - dt.timedelta(hours=cancel_hours)).astimezone(CHINA_TZ)
        tail = f',"cancel_deadline_at":"{deadline.isoformat()}","calendar_source":{source}}}'
        out.append((head, sid, sess.capacity, day, sess.starts_at, tail))
    if len(_DAY_CACHE) >= _DAY_CACHE_MAX:
        _DAY_CACHE.clear()
    _DAY_CACHE[key] = result = tuple(out)
    return result


# Everything a slot listing reads, in one round trip, prepared once per connection
# (core.prepared) and sent on its own: the schedule (`n1`, `n2`, `n3` =
# booking_opens_days_ahead, min_notice_hours, cancel_deadline_hours), the closures,
# special days and dates held by a lottery in [$2, $3], and the seat rows with ids in
# [$4, $5) (one range scan on the primary key: slot ids sort by date, then start).
_SLOTS_READ = Sql("""
SELECT 'schedule', NULL::date, s.sessions::text, NULL::varchar,
       s.booking_opens_days_ahead, s.min_notice_hours, s.cancel_deadline_hours
FROM marriage_schedule AS s WHERE s.office_id = $1
UNION ALL
SELECT 'closed', c.closure_date, NULL, NULL, NULL, NULL, NULL
FROM marriage_closure AS c
WHERE c.office_id = $1 AND c.closure_date >= $2 AND c.closure_date <= $3
UNION ALL
SELECT 'special', d.special_date, d.sessions::text, NULL, NULL, NULL, NULL
FROM marriage_special_day AS d
WHERE d.office_id = $1 AND d.special_date >= $2 AND d.special_date <= $3
UNION ALL
SELECT 'lottery', l.lottery_date, NULL, NULL, NULL, NULL, NULL
FROM marriage_lottery AS l
WHERE l.office_id = $1 AND l.status = 'scheduled' AND l.lottery_date >= $2
  AND l.lottery_date <= $3
UNION ALL
SELECT 'seat', NULL, NULL, cs.id, cs.capacity, cs.booked, NULL
FROM capacity_slot AS cs WHERE cs.id >= $4 AND cs.id < $5
""")


async def list_slots(session: AsyncSession, office_id: str, first: dt.date | None,
                     last: dt.date | None) -> bytes:
    """The `SlotList` of the office in [first, last] as JSON bytes, exactly as the
    response model would serialise it (`remaining` from the seat rows, `bookable`
    as `bookable_now` says), built without a model per slot."""
    today = clock.today()
    first = first or today
    last = last or min(first + dt.timedelta(days=MAX_SLOT_RANGE_DAYS - 1), LAST_DATE)
    if last < first or (last - first).days + 1 > MAX_SLOT_RANGE_DAYS:
        raise DateRangeTooLong(days=MAX_SLOT_RANGE_DAYS)
    await official_calendar.refresh(session)
    db = await prepared.driver(session)
    rows = await db.fetch_alone(
        _SLOTS_READ, office_id, first, last, calendar.slot_prefix(office_id, first),
        calendar.slot_prefix(office_id, last + dt.timedelta(days=1)))
    weekly: str | None = None
    opens_days = notice_hours = cancel_hours = 0
    closed: set[dt.date] = set()
    specials: dict[dt.date, str] = {}
    used: dict[str, tuple[int, int]] = {}
    lottery_days: set[dt.date] = set()  # released by lottery: not bookable first-come
    for what, day, sessions, sid, n1, n2, n3 in rows:
        if what == "seat":
            used[sid] = (n1, n2)
        elif what == "schedule":
            weekly, opens_days, notice_hours, cancel_hours = sessions, n1, n2, n3
        elif what == "closed":
            closed.add(day)
        elif what == "lottery":
            lottery_days.add(day)
        else:
            specials[day] = sessions
    if weekly is None:
        await organisations.get(session, office_id, kind=OrgKind.registration_office)
        return b'{"items":[]}'
    # bookable_now, per slot: released by date, and now <= starts_at - notice.
    released_until = today + dt.timedelta(days=opens_days)
    latest_start_needed = clock.now() + dt.timedelta(hours=notice_hours)
    parts: list[str] = []
    for head, sid, slot_capacity, sdate, starts_at, tail in _range_slots(
            office_id, first, last, weekly, frozenset(closed), specials, cancel_hours):
        units, booked = used.get(sid, (slot_capacity, 0))
        remaining = max(units - booked, 0)
        bookable = (remaining > 0 and sdate <= released_until
                    and latest_start_needed <= starts_at and sdate not in lottery_days)
        parts.append(f'{head}{units},"remaining":{remaining},'
                     f'"bookable":{"true" if bookable else "false"}{tail}')
    return ('{"items":[' + ",".join(parts) + "]}").encode()


# The slots of a whole range, from the days' (`_day_slots`): what a listing walks.
_RANGE_CACHE: dict[tuple, _DaySlots] = {}
_RANGE_CACHE_MAX = 2_000


def _range_slots(office_id: str, first: dt.date, last: dt.date, weekly: str,
                 closed: frozenset[dt.date], specials: dict[dt.date, str],
                 cancel_hours: int) -> _DaySlots:
    key = (office_id, first, last, weekly, closed, tuple(sorted(specials.items())),
           cancel_hours, calendar.generation())
    hit = _RANGE_CACHE.get(key)
    if hit is not None:
        return hit
    found = tuple(slot for day in calendar.daterange(first, last)
                  for slot in _day_slots(office_id, weekly, day, day in closed,
                                         specials.get(day), cancel_hours))
    if len(_RANGE_CACHE) >= _RANGE_CACHE_MAX:
        _RANGE_CACHE.clear()
    _RANGE_CACHE[key] = found
    return found


# --- keeping seats and schedule in step ---------------------------------------------


async def reconcile(session: AsyncSession, principal: Principal, schedule: MarriageSchedule,
                    *, cancel: bool, day: dt.date | None = None) -> int:
    """Bring every future seat row of the office in line with its calendar as it now
    stands (the change is already flushed).

    A session whose capacity falls below what is booked, or that no longer exists,
    has appointments in excess: without `cancel` the whole change is refused with 409
    `capacity_below_booked` and their number; with it, the most recently booked of
    them are cancelled with reason `office_closed`. Returns how many were cancelled.
    """
    office_id = schedule.office_id
    now = clock.now()
    today = clock.today()
    lower = calendar.slot_prefix(office_id, day or today)
    upper = (calendar.slot_prefix(office_id, day + dt.timedelta(days=1)) if day
             else calendar.slot_prefix(office_id) + "~")
    rows = await capacity.in_range(session, lower, upper)
    future: list[tuple[str, int, int, dt.date, str]] = []
    for sid, units, booked in rows:
        parsed = calendar.parse_slot_id(sid)
        if parsed is None or parsed[0] != office_id:
            continue
        _, sdate, start = parsed
        if calendar.local_to_utc(sdate, start) <= now:
            continue  # sessions that have started are history
        future.append((sid, units, booked, sdate, start))
    if not future:
        return 0
    cal = await load_calendar(session, schedule, min(r[3] for r in future),
                              max(r[3] for r in future))
    sessions_by_day: dict[dt.date, dict[str, int]] = {}
    changes: list[tuple[str, int, int]] = []  # (slot_id, new capacity, excess)
    for sid, units, booked, sdate, start in future:
        if sdate not in sessions_by_day:
            sessions_by_day[sdate] = {s.start: s.capacity for s in cal.sessions_on(sdate)}
        new_capacity = sessions_by_day[sdate].get(start, 0)
        excess = max(booked - new_capacity, 0)
        if new_capacity != units or excess:
            changes.append((sid, new_capacity, excess))
    stranding.refuse_or_cancel(sum(c[2] for c in changes), cancel=cancel)
    excess_by_slot = {sid: excess for sid, _, excess in changes if excess}
    cancelled: dict[str, int] = {}
    if excess_by_slot:
        cancelled = await cancellation.cancel_for_office(
            session, principal, excess_by_slot, reason=CancelReason.office_closed)
    for sid, new_capacity, _excess in changes:
        await capacity.resize(session, sid, new_capacity, released=cancelled.get(sid, 0))
    return sum(cancelled.values())

