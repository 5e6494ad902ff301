"""The home-care service subsidy (居家养老服务补贴): an elder's monthly allowance,
set by the admin, and what it has paid.

A completed visit is paid from its month's remaining allowance first, the rest by
the family. The month's row (`home_care_allowance_month`) is taken from by a
conditional UPDATE on the amount read (`WHERE used_fen = :seen`), retried when
another completion got in between, and a CHECK keeps `used_fen <= allowance_fen`:
the allowance never goes below zero, however many visits complete at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.principal import Principal
from core.writes import insert_if_absent
from schemas.common import Page
from schemas.home_care import (
    AllowanceMonthPublic,
    HomeCareAllowanceMonth,
    HomeCareSubsidy,
    SubsidyIn,
    SubsidyPublic,
)
from services import audit, identity

MAX_TRIES = 20


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def to_public(s: HomeCareSubsidy) -> SubsidyPublic:
    return SubsidyPublic(id_number_masked=s.elder_id_masked,
                         monthly_allowance_fen=s.monthly_allowance_fen,
                         valid_from=s.valid_from, valid_to=s.valid_to, updated_at=s.updated_at)


async def put(session: AsyncSession, principal: Principal, body: SubsidyIn) -> SubsidyPublic:
    """Set (or replace) an elder's allowance. Months already started keep the
    allowance they started with; the new amount applies from the next month begun."""
    _idn, prot = identity.protect_input(body.id_number)
    now = clock.now()
    values = {"elder_id_encrypted": prot.encrypted, "elder_id_masked": prot.masked,
              "monthly_allowance_fen": body.monthly_allowance_fen,
              "valid_from": body.valid_from, "valid_to": body.valid_to, "updated_at": now}
    inserted = await insert_if_absent(session, HomeCareSubsidy, {
        "elder_id_blind": prot.blind_index, "created_at": now, **values},
        conflict=["elder_id_blind"])
    if not inserted:
        await session.execute(update(HomeCareSubsidy)
                              .where(HomeCareSubsidy.elder_id_blind == prot.blind_index)
                              .values(**values).execution_options(synchronize_session=False))
    row = (await session.execute(select(HomeCareSubsidy).where(
        HomeCareSubsidy.elder_id_blind == prot.blind_index)
        .execution_options(populate_existing=True))).scalar_one()
    await audit.record(session, principal, "home_care_subsidy.put", "home_care_subsidy",
                       prot.masked)
    return to_public(row)


async def _valid_on(session: AsyncSession, elder_blind: str,
                    day: dt.date) -> HomeCareSubsidy | None:
    """The elder's allowance if one is valid on `day`."""
    sub = (await session.execute(select(HomeCareSubsidy).where(
        HomeCareSubsidy.elder_id_blind == elder_blind))).scalar_one_or_none()
    return sub if sub is not None and sub.valid_from <= day <= sub.valid_to else None


async def quote(session: AsyncSession, *, elder_blind: str, day: dt.date,
                price_fen: int) -> int:
    """What `pay` would take from the allowance now for a visit on `day` costing
    `price_fen`, without taking it (what an exception visit holds,
    `subsidy_held_fen`): nothing is reserved, so other visits may use it meanwhile."""
    sub = await _valid_on(session, elder_blind, day)
    if sub is None or price_fen == 0:
        return 0
    row = (await session.execute(
        select(HomeCareAllowanceMonth.allowance_fen, HomeCareAllowanceMonth.used_fen)
        .where(HomeCareAllowanceMonth.elder_id_blind == elder_blind,
               HomeCareAllowanceMonth.month == month_of(day)))).one_or_none()
    remaining = row[0] - row[1] if row is not None else sub.monthly_allowance_fen
    return max(0, min(price_fen, remaining))


async def pay(session: AsyncSession, *, elder_blind: str, elder_masked: str, day: dt.date,
              price_fen: int) -> tuple[int, int]:
    """(subsidy_paid_fen, family_paid_fen) of a visit on `day` costing `price_fen`,
    taken from the elder's allowance for that month if one is valid on `day`."""
    sub = await _valid_on(session, elder_blind, day)
    if sub is None or price_fen == 0:
        return 0, price_fen
    month = month_of(day)
    await insert_if_absent(session, HomeCareAllowanceMonth, {
        "elder_id_blind": elder_blind, "month": month, "elder_id_masked": elder_masked,
        "allowance_fen": sub.monthly_allowance_fen, "used_fen": 0,
        "updated_at": clock.now()}, conflict=["elder_id_blind", "month"])
    key = (HomeCareAllowanceMonth.elder_id_blind == elder_blind,
           HomeCareAllowanceMonth.month == month)
    for _ in range(MAX_TRIES):
        allowance, used = (await session.execute(
            select(HomeCareAllowanceMonth.allowance_fen, HomeCareAllowanceMonth.used_fen)
            .where(*key))).one()
        take = max(0, min(price_fen, allowance - used))
        if take == 0:
            return 0, price_fen
        result = await session.execute(
            update(HomeCareAllowanceMonth)
            .where(*key, HomeCareAllowanceMonth.used_fen == used)
            .values(used_fen=HomeCareAllowanceMonth.used_fen + take, updated_at=clock.now())
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            return take, price_fen - take
    raise RuntimeError("allowance row kept changing")  # pragma: no cover


def _month_public(m: HomeCareAllowanceMonth) -> AllowanceMonthPublic:
    return AllowanceMonthPublic(id_number_masked=m.elder_id_masked, month=m.month,
                                allowance_fen=m.allowance_fen, used_fen=m.used_fen,
                                remaining_fen=m.allowance_fen - m.used_fen)


BY_ELDER = pages.Keyset(pages.Key(HomeCareAllowanceMonth.elder_id_blind, pages.Text(64)))


async def month_ledger(session: AsyncSession, principal: Principal, month: str, *,
                       limit: int, cursor: str | None) -> Page[AllowanceMonthPublic]:
    """The admin's view of a month: each elder's allowance, used and remaining."""
    stmt = select(HomeCareAllowanceMonth).where(HomeCareAllowanceMonth.month == month)
    await audit.record(session, principal, "home_care_subsidy.ledger", "home_care_subsidy",
                       month)
    return (await BY_ELDER.page(session, stmt, limit=limit, cursor=cursor)).map(_month_public)
