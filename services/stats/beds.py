"""Beds of the division's care institutions, by category, and how long admission took."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.beds import Bed, BedApplication, BedCategory, BedStatus
from schemas.organisation import Organisation
from schemas.stats import BedsStats
from services.stats import scope
from services.stats.answers import ANSWERS, Answer
from services.stats.suppression import Figures, ratio

WAIT_WINDOW = dt.timedelta(days=365)

ORG = Organisation.__table__


def _china_date(column: Any) -> Any:
    return func.date(func.timezone("Asia/Shanghai", column))


async def answer(session: AsyncSession, division_code: str | None) -> Answer:
    division = scope.division(division_code)

    async def compute(now: dt.datetime) -> bytes:
        stats = BedsStats(as_of=now, **division.fields(),
                          categories=await _categories(session, division, now))
        return stats.model_dump_json().encode()

    return await ANSWERS.get(("beds", division.prefix), compute)


async def _categories(session: AsyncSession, division: scope.Division,
                      now: dt.datetime) -> list[dict[str, Any]]:
    org = Organisation.__table__.c
    bed = Bed.__table__.c
    in_division = division.condition(org.division_code)
    beds = (select(bed.category, func.count().label("beds"),
                   func.count().filter(bed.status == BedStatus.available).label("available"),
                   func.count().filter(bed.status == BedStatus.occupied).label("occupied"))
            .select_from(Bed.__table__.join(ORG, org.id == bed.institution_id))
            .group_by(bed.category))
    app = BedApplication.__table__.c
    days = _china_date(app.admitted_at) - _china_date(app.applied_at)
    waits = (select(app.category, func.count().label("admissions"),
                    func.percentile_cont(0.5).within_group(days).label("median"))
             .select_from(BedApplication.__table__.join(ORG, org.id == app.institution_id))
             .where(app.admitted_at > now - WAIT_WINDOW, app.admitted_at <= now)
             .group_by(app.category))
    if in_division is not None:
        beds = beds.where(in_division)
        waits = waits.where(in_division)
    counted = {r.category: r for r in (await session.execute(beds)).all()}
    waited = {r.category: r for r in (await session.execute(waits)).all()}
    out = []
    for category in BedCategory:
        row, wait = counted.get(category.value), waited.get(category.value)
        total, occupied = (row.beds, row.occupied) if row else (0, 0)
        figures = Figures(category=category.value, beds=total,
                          available=row.available if row else 0)
        figures.people("occupied", occupied, of=occupied)
        figures.people("occupancy_rate", ratio(occupied, total), of=occupied)
        admissions = wait.admissions if wait else 0
        median = round(float(wait.median), 1) if wait and wait.median is not None else None
        figures.people("median_wait_days", median, of=admissions)
        figures.people("admissions", admissions, of=admissions)
        out.append(figures.as_dict())
    return out
