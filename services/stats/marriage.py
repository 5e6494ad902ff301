"""Marriage registration: each office's sessions, seats and bookings in a month."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.capacity import CapacitySlot
from schemas.marriage import (
    AppointmentStatus,
    MarriageAppointment,
    MarriageClosure,
    MarriageSchedule,
    MarriageSpecialDay,
)
from schemas.organisation import Organisation, OrgKind
from schemas.stats import MarriageStats
from services.marriage import calendar, official_calendar
from services.stats import scope
from services.stats.answers import ANSWERS, Answer
from services.stats.suppression import Figures, ratio

ORG = Organisation.__table__


async def answer(session: AsyncSession, division_code: str | None,
                 month: str | None) -> Answer:
    division = scope.division(division_code)
    name, first, last = scope.month(month)

    async def compute(now: dt.datetime) -> bytes:
        stats = MarriageStats(as_of=now, **division.fields(), month=name,
                              offices=await _offices(session, division, first, last, now))
        return stats.model_dump_json().encode()

    return await ANSWERS.get(("marriage", division.prefix, name), compute)


def _where(query: Any, division: scope.Division) -> Any:
    org = Organisation.__table__.c
    query = query.where(org.kind == OrgKind.registration_office)
    condition = division.condition(org.division_code)
    return query if condition is None else query.where(condition)


async def _offices(session: AsyncSession, division: scope.Division, first: dt.date,
                   last: dt.date, now: dt.datetime) -> list[dict[str, Any]]:
    org = Organisation.__table__.c
    offices = (await session.execute(_where(
        select(org.id, org.name).order_by(org.name, org.id), division))).all()
    if not offices:
        return []
    sessions, seats = await _seats(session, division, first, last)
    appt = MarriageAppointment.__table__.c
    live = appt.status != AppointmentStatus.cancelled
    counts = _where(
        select(appt.office_id,
               func.count().filter(live).label("booked"),
               func.count().filter(live, appt.starts_at <= now).label("due"),
               func.count().filter(appt.status == AppointmentStatus.no_show).label("no_show"))
        .select_from(MarriageAppointment.__table__.join(ORG, org.id == appt.office_id))
        .where(appt.session_date >= first, appt.session_date <= last)
        .group_by(appt.office_id), division)
    booked = {r.office_id: r for r in (await session.execute(counts)).all()}
    out = []
    for office_id, office_name in offices:
        row = booked.get(office_id)
        n_booked, due, no_show = (row.booked, row.due, row.no_show) if row else (0, 0, 0)
        figures = Figures(office_id=office_id, name=office_name,
                          sessions=sessions.get(office_id, 0), seats=seats.get(office_id, 0))
        figures.people("booked", n_booked, of=n_booked)
        figures.people("fill_rate", ratio(n_booked, seats.get(office_id, 0)), of=n_booked)
        figures.people("no_show_rate", ratio(no_show, due), of=due)
        out.append(figures.as_dict())
    return out


async def _seats(session: AsyncSession, division: scope.Division, first: dt.date,
                 last: dt.date) -> tuple[dict[str, int], dict[str, int]]:
    """Per office, the sessions its calendar holds in [first, last] and their seats
    (a session's own capacity where its office has set one, else the schedule's)."""
    await official_calendar.refresh(session)
    org = Organisation.__table__.c
    sched = MarriageSchedule.__table__.c
    weekly = dict((await session.execute(_where(
        select(sched.office_id, sched.sessions)
        .select_from(MarriageSchedule.__table__.join(ORG, org.id == sched.office_id)),
        division))).all())
    closed: dict[str, set[dt.date]] = defaultdict(set)
    clo = MarriageClosure.__table__.c
    for office_id, day in (await session.execute(_where(
            select(clo.office_id, clo.closure_date)
            .select_from(MarriageClosure.__table__.join(ORG, org.id == clo.office_id))
            .where(clo.closure_date >= first, clo.closure_date <= last), division))).all():
        closed[office_id].add(day)
    special: dict[str, dict[dt.date, list[dict[str, Any]]]] = defaultdict(dict)
    spe = MarriageSpecialDay.__table__.c
    for office_id, day, held in (await session.execute(_where(
            select(spe.office_id, spe.special_date, spe.sessions)
            .select_from(MarriageSpecialDay.__table__.join(ORG, org.id == spe.office_id))
            .where(spe.special_date >= first, spe.special_date <= last), division))).all():
        special[office_id][day] = held
    slot = CapacitySlot.__table__.c
    low = f"{calendar.SLOT_PREFIX}_"
    set_capacity = dict((await session.execute(_where(
        select(slot.id, slot.capacity)
        .select_from(CapacitySlot.__table__.join(ORG, org.id == slot.owner_org_id))
        .where(slot.kind == calendar.SLOT_KIND,
               slot.id >= func.concat(low, slot.owner_org_id, f"_{first:%Y%m%d}"),
               slot.id < func.concat(low, slot.owner_org_id, f"_{last:%Y%m%d}_9")),
        division))).all())
    sessions: dict[str, int] = {}
    seats: dict[str, int] = {}
    for office_id, week in weekly.items():
        n = total = 0
        for day in calendar.daterange(first, last):
            for s in calendar.sessions_on(office_id, day, week, day in closed[office_id],
                                          special[office_id].get(day)):
                n += 1
                total += set_capacity.get(s.slot_id, s.capacity)
        sessions[office_id], seats[office_id] = n, total
    return sessions, seats
