"""Eco-burial subsidy claims of a year, by burial method: decisions, payments and
how long payment took."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from schemas.burial import BurialClaim, BurialMethod, ClaimStatus
from schemas.stats import BurialStats
from services.stats import scope
from services.stats.answers import ANSWERS, Answer
from services.stats.suppression import Figures


def _china_date(column: Any) -> Any:
    return func.date(func.timezone("Asia/Shanghai", column))


async def answer(session: AsyncSession, division_code: str | None, year: int | None) -> Answer:
    division = scope.division(division_code)
    which = scope.year(year)

    async def compute(now: dt.datetime) -> bytes:
        stats = BurialStats(as_of=now, **division.fields(), year=which,
                            methods=await _methods(session, division, which))
        return stats.model_dump_json().encode()

    return await ANSWERS.get(("burial", division.prefix, which), compute)


async def _methods(session: AsyncSession, division: scope.Division,
                   year: int) -> list[dict[str, Any]]:
    claim = BurialClaim.__table__.c
    paid = claim.status == ClaimStatus.paid
    days = _china_date(claim.paid_at) - _china_date(claim.created_at)
    query = (select(claim.burial_method,
                    func.count().label("submitted"),
                    func.count().filter(claim.status.in_(
                        (ClaimStatus.approved, ClaimStatus.paid))).label("approved"),
                    func.count().filter(claim.status == ClaimStatus.rejected).label("rejected"),
                    func.count().filter(paid).label("paid"),
                    func.sum(claim.amount_fen).filter(paid).label("amount"),
                    func.percentile_cont(0.5).within_group(days).filter(paid).label("p50"),
                    func.percentile_cont(0.9).within_group(days).filter(paid).label("p90"))
             .where(claim.created_at >= scope.china_midnight(dt.date(year, 1, 1)),
                    claim.created_at < scope.china_midnight(dt.date(year + 1, 1, 1)))
             .group_by(claim.burial_method))
    condition = division.condition(claim.division_code)
    if condition is not None:
        query = query.where(condition)
    rows = {r.burial_method: r for r in (await session.execute(query)).all()}
    out = []
    for method in BurialMethod:
        row = rows.get(method.value)
        figures = Figures(method=method.value)
        if row is None:
            submitted = approved = rejected = n_paid = amount = 0
            p50 = p90 = None
        else:
            submitted, approved, rejected, n_paid = row.submitted, row.approved, row.rejected, \
                row.paid
            amount = int(row.amount or 0)
            p50 = round(float(row.p50), 1) if row.p50 is not None else None
            p90 = round(float(row.p90), 1) if row.p90 is not None else None
        figures.people("submitted", submitted, of=submitted)
        figures.people("approved", approved, of=approved)
        figures.people("rejected", rejected, of=rejected)
        figures.people("paid", n_paid, of=n_paid)
        figures.people("amount_paid_fen", amount, of=n_paid)
        figures.people("median_days_to_payment", p50, of=n_paid)
        figures.people("p90_days_to_payment", p90, of=n_paid)
        out.append(figures.as_dict())
    return out
