"""Capacity is taken atomically: 50 concurrent takers on capacity 7 get exactly 7."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError

from core.errors import CapacityBelowBooked, SlotFull
from services import capacity
from tests.factories import create_org


async def _slot(client, admin_headers, db, capacity_units: int) -> str:
    org = await create_org(client, admin_headers, "registration_office")
    slot_id = f"test_{org['id']}_20261201_0900"
    async with db.session() as s:
        await capacity.ensure(s, slot_id, owner_org_id=org["id"], kind="test",
                              capacity=capacity_units)
        await s.commit()
    return slot_id


async def _take_and_commit(db, slot_id: str) -> bool:
    async with db.session() as s:
        try:
            await capacity.take(s, slot_id)
        except SlotFull:
            await s.rollback()
            return False
        await s.commit()
        return True


async def test_fifty_concurrent_takers_on_capacity_seven(client, admin_headers, db):
    slot_id = await _slot(client, admin_headers, db, 7)
    results = await asyncio.gather(*[_take_and_commit(db, slot_id) for _ in range(50)])
    assert results.count(True) == 7
    assert results.count(False) == 43
    async with db.session() as s:
        assert await capacity.booked_of(s, slot_id) == 7


async def test_ensure_is_idempotent_under_concurrency(client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")

    async def ensure_and_commit() -> None:
        async with db.session() as s:
            await capacity.ensure(s, "test_same", owner_org_id=org["id"], kind="test", capacity=3)
            await s.commit()

    await asyncio.gather(*[ensure_and_commit() for _ in range(10)])
    async with db.session() as s:
        assert (await capacity.usage(s, ["test_same"])) == {"test_same": (3, 0)}


async def test_give_back_returns_a_unit_and_never_goes_negative(client, admin_headers, db):
    slot_id = await _slot(client, admin_headers, db, 1)
    assert await _take_and_commit(db, slot_id)
    assert not await _take_and_commit(db, slot_id)
    async with db.session() as s:
        await capacity.give_back(s, slot_id)
        await capacity.give_back(s, slot_id)
        await s.commit()
        assert await capacity.booked_of(s, slot_id) == 0
    assert await _take_and_commit(db, slot_id)


async def test_capacity_cannot_drop_below_booked(client, admin_headers, db):
    slot_id = await _slot(client, admin_headers, db, 3)
    for _ in range(2):
        assert await _take_and_commit(db, slot_id)
    async with db.session() as s:
        with pytest.raises(CapacityBelowBooked) as info:
            await capacity.set_capacity(s, slot_id, 1)
        assert info.value.params["affected"] == 1
        await capacity.set_capacity(s, slot_id, 2)
        await s.commit()
    assert not await _take_and_commit(db, slot_id)


async def test_check_constraint_backs_the_rule(client, admin_headers, db):
    from sqlalchemy import update

    from schemas.capacity import CapacitySlot

    slot_id = await _slot(client, admin_headers, db, 1)
    async with db.session() as s:
        with pytest.raises(IntegrityError):
            await s.execute(update(CapacitySlot).where(CapacitySlot.id == slot_id)
                            .values(booked=2))
        await s.rollback()


async def _ensure_take_and_commit(db, slot_id: str, org_id: str, capacity_units: int) -> bool:
    async with db.session() as s:
        try:
            await capacity.ensure_and_take(s, slot_id, owner_org_id=org_id, kind="test",
                                           capacity=capacity_units)
        except SlotFull:
            await s.rollback()
            return False
        await s.commit()
        return True


async def test_ensure_and_take_creates_the_row_with_the_unit_taken(client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")
    slot_id = f"test_{org['id']}_20261201_1000"
    async with db.session() as s:
        assert await capacity.ensure_and_take(s, slot_id, owner_org_id=org["id"], kind="test",
                                              capacity=2) == 1
        await s.commit()
    async with db.session() as s:
        assert await capacity.ensure_and_take(s, slot_id, owner_org_id=org["id"], kind="test",
                                              capacity=99) == 0  # the row's capacity counts
        with pytest.raises(SlotFull):
            await capacity.ensure_and_take(s, slot_id, owner_org_id=org["id"], kind="test",
                                           capacity=99)
        await s.commit()
    async with db.session() as s:
        assert (await capacity.usage(s, [slot_id])) == {slot_id: (2, 2)}


async def test_ensure_and_take_on_an_existing_row_behaves_like_take(client, admin_headers, db):
    slot_id = await _slot(client, admin_headers, db, 1)
    assert await _take_and_commit(db, slot_id)
    async with db.session() as s:
        with pytest.raises(SlotFull):
            await capacity.ensure_and_take(s, slot_id, owner_org_id="ignored", kind="test",
                                           capacity=5)
        await s.rollback()
        await capacity.give_back(s, slot_id)
        assert await capacity.ensure_and_take(s, slot_id, owner_org_id="ignored", kind="test",
                                              capacity=5) == 0
        await s.commit()
        assert await capacity.booked_of(s, slot_id) == 1


async def test_ensure_and_take_with_more_units_than_capacity_is_full(client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")
    async with db.session() as s:
        with pytest.raises(SlotFull):
            await capacity.ensure_and_take(s, "test_units", owner_org_id=org["id"], kind="test",
                                           capacity=1, units=2)
        await s.rollback()


async def test_fifty_concurrent_ensure_and_takers_on_a_new_slot_of_seven(
        client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")
    slot_id = f"test_{org['id']}_20261201_1100"
    results = await asyncio.gather(*[_ensure_take_and_commit(db, slot_id, org["id"], 7)
                                      for _ in range(50)])
    assert results.count(True) == 7
    assert results.count(False) == 43
    async with db.session() as s:
        assert (await capacity.usage(s, [slot_id])) == {slot_id: (7, 7)}


async def test_fifty_concurrent_ensure_and_takers_on_an_existing_slot_of_seven(
        client, admin_headers, db):
    org = await create_org(client, admin_headers, "registration_office")
    slot_id = await _slot(client, admin_headers, db, 7)
    results = await asyncio.gather(*[_ensure_take_and_commit(db, slot_id, org["id"], 7)
                                      for _ in range(50)])
    assert results.count(True) == 7
    async with db.session() as s:
        assert await capacity.booked_of(s, slot_id) == 7
