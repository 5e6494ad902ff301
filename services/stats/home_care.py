"""Home-care visits of a month, by service: how many were completed, how many were
verified without correction, their exceptions and the subsidy paid on them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, literal, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.home_care import (
    PAYING,
    BookingStatus,
    ExceptionCode,
    HomeCareBooking,
    VerificationStatus,
)
from schemas.organisation import Organisation
from schemas.stats import HomeCareStats
from services.home_care.catalogue import CATALOGUE
from services.stats import scope
from services.stats.answers import ANSWERS, Answer
from services.stats.suppression import Figures, ratio

# The services delivered as visits (centre services are seats in a centre's sessions).
VISIT_SERVICES = [code for code, service in CATALOGUE.items() if not service.centre]

ORG = Organisation.__table__


async def answer(session: AsyncSession, division_code: str | None,
                 month: str | None) -> Answer:
    division = scope.division(division_code)
    name, first, last = scope.month(month)

    async def compute(now: dt.datetime) -> bytes:
        stats = HomeCareStats(as_of=now, **division.fields(), month=name,
                              services=await _services(session, division, first, last))
        return stats.model_dump_json().encode()

    return await ANSWERS.get(("home_care", division.prefix, name), compute)


async def _services(session: AsyncSession, division: scope.Division, first: dt.date,
                    last: dt.date) -> list[dict[str, Any]]:
    org = Organisation.__table__.c
    visit = HomeCareBooking.__table__.c
    paying = visit.verification.in_(PAYING)
    completed = (visit.status == BookingStatus.completed, visit.visit_date >= first,
                 visit.visit_date <= last)
    condition = division.condition(org.division_code)
    where = (*completed, condition) if condition is not None else completed
    joined = HomeCareBooking.__table__.join(ORG, org.id == visit.provider_id)
    totals = (select(visit.service_code, func.count().label("completed"),
                     func.count().filter(visit.verification == VerificationStatus.verified)
                     .label("verified"),
                     func.count().filter(paying).label("paying"),
                     func.sum(visit.subsidy_paid_fen).filter(paying).label("subsidy"))
              .select_from(joined).where(*where).group_by(visit.service_code))
    codes = func.json_array_elements_text(
        func.coalesce(visit.exceptions, literal("[]").cast(visit.exceptions.type))
    ).table_valued("value").alias("e")
    by_code = (select(visit.service_code, codes.c.value, func.count().label("n"))
               .select_from(joined.join(codes, literal(True)))
               .where(*where).group_by(visit.service_code, codes.c.value))
    rows = {r.service_code: r for r in (await session.execute(totals)).all()}
    exceptions: dict[str, dict[str, int]] = defaultdict(dict)
    for service_code, exception, n in (await session.execute(by_code)).all():
        exceptions[service_code][exception] = n
    out = []
    for service in VISIT_SERVICES:
        row = rows.get(service)
        done, verified, n_paying, subsidy = (
            (row.completed, row.verified, row.paying, int(row.subsidy or 0)) if row
            else (0, 0, 0, 0))
        figures = Figures(service_code=service)
        figures.people("visits_completed", done, of=done)
        figures.people("verified_rate", ratio(verified, done), of=done)
        figures.values["exceptions"] = {}
        for exception in ExceptionCode:
            n = exceptions[service].get(exception.value, 0)
            figures.people_in("exceptions", exception.value, n, of=n)
        figures.people("subsidy_paid_fen", subsidy, of=n_paying)
        out.append(figures.as_dict())
    return out
