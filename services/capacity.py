"""Taking and giving back units of capacity, atomically.

Taking is one conditional UPDATE (`booked + units <= capacity`), the SQL function
`capacity_take` (services/capacity.sql), which the one-statement writes call too:
no row back means full (`SlotFull`; SQLSTATE HMSF1 inside such a write). The CHECK constraint on
`capacity_slot` backs it, so not even a bug elsewhere can overbook. No
read-then-write, no reliance on SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, case, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import prepared
from core.clock import clock
from core.errors import CapacityBelowBooked, SlotFull
from core.prepared import Sql
from schemas.capacity import CapacitySlot

# Slots this process last found full, and when (`time.monotonic`). A peak day sends
# thousands of requests for a session whose seats are gone; a hot route answers
# them from here (`known_full`) instead of with a read and a refused write each. A
# seat given back or a capacity changed by this process forgets the slot at once;
# one given back by another process is found at most FULL_MEMO_SECONDS later.
FULL_MEMO_SECONDS = 1.0
_FULL: dict[str, float] = {}
_FULL_MAX = 10_000


def note_full(slot_id: str) -> None:
    if len(_FULL) >= _FULL_MAX:
        _FULL.clear()
    _FULL[slot_id] = time.monotonic()


def known_full(slot_id: str) -> bool:
    at = _FULL.get(slot_id)
    if at is None:
        return False
    if time.monotonic() - at < FULL_MEMO_SECONDS:
        return True
    _FULL.pop(slot_id, None)
    return False


async def ensure(session: AsyncSession, slot_id: str, *, owner_org_id: str, kind: str,
                 capacity: int) -> None:
    """Create the slot's row if it does not exist yet (concurrency-safe)."""
    db = await prepared.driver(session)
    await db.execute(_ENSURE, slot_id, owner_org_id, kind, capacity, clock.now())


async def take(session: AsyncSession, slot_id: str, units: int = 1) -> int:
    """Take `units`; raise `SlotFull` if they are not there. Returns what remains."""
    db = await prepared.driver(session)
    return _taken((await db.fetchrow(_TAKE, slot_id, units))[0])


def _taken(remaining: int | None) -> int:
    if remaining is None:
        raise SlotFull()
    return remaining


async def give_back(session: AsyncSession, slot_id: str, units: int = 1) -> None:
    _FULL.pop(slot_id, None)
    await session.execute(
        update(CapacitySlot)
        .where(CapacitySlot.id == slot_id, CapacitySlot.booked >= units)
        .values(booked=CapacitySlot.booked - units)
    )


async def set_capacity(session: AsyncSession, slot_id: str, capacity: int) -> None:
    """Change a slot's capacity; refuse to go below what is booked."""
    _FULL.pop(slot_id, None)
    result = await session.execute(
        update(CapacitySlot)
        .where(CapacitySlot.id == slot_id, CapacitySlot.booked <= capacity)
        .values(capacity=capacity)
    )
    if result.rowcount == 0:
        booked = await booked_of(session, slot_id)
        if booked is not None:
            raise CapacityBelowBooked(affected=booked - capacity)


async def booked_of(session: AsyncSession, slot_id: str) -> int | None:
    return (await session.execute(
        select(CapacitySlot.booked).where(CapacitySlot.id == slot_id)
    )).scalar_one_or_none()


async def usage(session: AsyncSession, slot_ids: list[str]) -> dict[str, tuple[int, int]]:
    """{slot_id: (capacity, booked)} for the slots that have rows."""
    if not slot_ids:
        return {}
    rows = await session.execute(
        select(CapacitySlot.id, CapacitySlot.capacity, CapacitySlot.booked)
        .where(CapacitySlot.id.in_(slot_ids))
    )
    return {r[0]: (r[1], r[2]) for r in rows}


_ENSURE = Sql("SELECT capacity_ensure($1, $2, $3, $4, $5)")
_TAKE = Sql("SELECT capacity_take($1, $2)")
# The row first (a function call in FROM runs before the select list), then the take.
_ENSURE_AND_TAKE = Sql("SELECT capacity_take($1, $5) "
                       "FROM (SELECT capacity_ensure($1, $2, $3, $4, $6)) AS made")
FULL = "HMSF1"  # capacity_take_or_raise (in a one-statement write): none left


async def ensure_and_take(session: AsyncSession, slot_id: str, *, owner_org_id: str, kind: str,
                          capacity: int, units: int = 1) -> int:
    """`ensure` then `take` in one statement; raise `SlotFull` if the units are not
    there. Returns what remains."""
    db = await prepared.driver(session)
    return _taken((await db.fetchrow(_ENSURE_AND_TAKE, slot_id, owner_org_id, kind, capacity,
                                     units, clock.now()))[0])


def rows_between(lower: Any, upper: Any) -> Select:
    """`SELECT id, capacity, booked` of the slots whose ids are in [lower, upper).

    Domains choose ids that sort by owner, date and start, so one primary-key range
    scan reads a period; the statement can be run alone or in a UNION.
    """
    return select(CapacitySlot.id, CapacitySlot.capacity, CapacitySlot.booked).where(
        CapacitySlot.id >= lower, CapacitySlot.id < upper)


async def in_range(session: AsyncSession, lower: str, upper: str) -> list[tuple[str, int, int]]:
    rows = await session.execute(rows_between(lower, upper))
    return [(r[0], r[1], r[2]) for r in rows]


async def resize(session: AsyncSession, slot_id: str, capacity: int, *, released: int = 0) -> None:
    """Give back `released` units and set the capacity, never below what stays booked
    (seats already used cannot be taken back)."""
    _FULL.pop(slot_id, None)
    booked = CapacitySlot.booked - released
    await session.execute(
        update(CapacitySlot).where(CapacitySlot.id == slot_id)
        .values(booked=booked, capacity=case((booked > capacity, booked), else_=capacity)))
