"""The lean write path keeps the guarantees of the one it replaced: statements on
the driver share the session's transaction, driver errors are SQLAlchemy's, and a
connection goes back to the pool with no transaction left open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import prepared
from core.clock import clock
from core.db import is_unique_violation
from schemas.idempotency import IdempotencyRecord

_INSERT = prepared.Sql(
    "INSERT INTO idempotency_record (scope, key, request_hash, response_status, "
    "response_body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")


async def _insert(session, key: str) -> None:
    db = await prepared.driver(session)
    now = clock.now()
    await db.execute(_INSERT, "test", key, "h", 201, "{}", now, now + timedelta(hours=1))


async def _count(database) -> int:
    async with database.session() as s:
        return (await s.execute(select(func.count()).select_from(IdempotencyRecord)
                                .where(IdempotencyRecord.scope == "test"))).scalar_one()


async def test_driver_statements_commit_and_roll_back_with_the_session(db):
    async with db.session() as s:
        await _insert(s, "kept")
        await s.commit()
    async with db.session() as s:
        await _insert(s, "dropped")
        await s.rollback()
    assert await _count(db) == 1
    async with db.session() as s:
        row = (await s.execute(select(IdempotencyRecord.expires_at)
                               .where(IdempotencyRecord.key == "kept"))).scalar_one()
    # Written by the driver, read by SQLAlchemy: the same aware UTC value.
    assert row.utcoffset() == timedelta(0) and row > clock.now()


async def test_driver_errors_are_sqlalchemy_errors(db):
    async with db.session() as s:
        await _insert(s, "twice")
        with pytest.raises(IntegrityError) as caught:
            await _insert(s, "twice")
        assert is_unique_violation(caught.value)
        await s.rollback()
    assert await _count(db) == 0


async def test_a_connection_returned_mid_transaction_is_rolled_back(db):
    """The pool resets only where a transaction is open, but there it still does."""
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("BEGIN")
        await raw.driver_connection.execute(
            "INSERT INTO idempotency_record (scope, key, request_hash, created_at, "
            "expires_at) VALUES ('test', 'left-open', 'h', now(), now())")
        # Leaving the block returns the connection without SQLAlchemy knowing of the
        # transaction (it began behind its back): only the pool's reset can end it.
    assert await _count(db) == 0
    async with db.session() as s:
        await _insert(s, "after")
        await s.commit()
    assert await _count(db) == 1


async def test_a_serialization_failure_on_the_driver_is_retried_like_sqlalchemys(db):
    """TransactionalRoute retries 40001/40P01: from the driver they must look the
    same as from SQLAlchemy (a DBAPIError whose .orig carries the SQLSTATE)."""
    from sqlalchemy.exc import DBAPIError

    from core.db import is_retryable

    for code, retryable in (("40001", True), ("40P01", True), ("22012", False)):
        raising = prepared.Sql(
            f"DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{code}'; END $$")
        async with db.session() as s:
            drv = await prepared.driver(s)
            with pytest.raises(DBAPIError) as caught:
                await drv.execute(raising)
            assert is_retryable(caught.value) is retryable, code
            await s.rollback()


_SELECT = prepared.Sql("SELECT count(*) FROM idempotency_record WHERE scope = 'test'")


async def test_a_statement_alone_checks_nothing_out_until_the_session_begins(db):
    pool = db.engine.sync_engine.pool
    async with db.session() as s:
        drv = await prepared.driver(s)
        assert isinstance(drv, prepared.LazyPgDriver)
        # Sent on its own: a connection of the LonePool, the session's pool untouched.
        assert (await drv.fetchrow_alone(_SELECT))[0] == 0
        assert pool.checkedout() == 0 and not s.in_transaction()
        assert prepared.idle(s)
        # Once the session has begun (here by a statement that needs a transaction),
        # a statement "alone" runs in it and sees its uncommitted rows.
        await _insert(s, "pending")
        assert pool.checkedout() == 1
        assert (await drv.fetchrow_alone(_SELECT))[0] == 1
        assert not prepared.idle(s)
        await s.rollback()
    assert await _count(db) == 0


async def test_errors_of_a_statement_alone_are_sqlalchemys(db):
    async with db.session() as s:
        drv = await prepared.driver(s)
        assert isinstance(drv, prepared.LazyPgDriver)
        now = clock.now()
        insert = prepared.Sql(_INSERT.postgresql)
        await drv.execute_alone(insert, "test", "twice", "h", 201, "{}", now,
                                now + timedelta(hours=1))
        with pytest.raises(IntegrityError) as caught:
            await drv.execute_alone(insert, "test", "twice", "h", 201, "{}", now,
                                    now + timedelta(hours=1))
        assert is_unique_violation(caught.value)
    assert await _count(db) == 1  # committed on its own, as a statement alone is
    async with db.session() as s:
        await s.execute(IdempotencyRecord.__table__.delete().where(
            IdempotencyRecord.scope == "test"))
        await s.commit()


async def test_the_lone_pool_lends_keeps_limits_and_closes(database_url):
    import asyncio

    from core.db import LonePool

    pool = LonePool(database_url, 2, None, timeout=0.2)
    first = await pool.take()
    pool.give(first)
    again = await pool.take()
    assert again is first  # kept open and lent again, nothing sent in between
    second = await pool.take()
    assert second is not first
    # Both lent: the next waits, and gets the first one given back.
    waiting = asyncio.ensure_future(pool.take())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    pool.give(first)
    assert await waiting is first
    # Nothing given back in time: TimeoutError (503 database_unavailable).
    with pytest.raises(TimeoutError):
        await pool.take()
    # A connection whose statement did not end normally is closed, not lent again;
    # there is room for a new one at once.
    pool.give(first, reusable=False)
    assert first.is_closed()
    third = await pool.take()
    assert third is not first and (await third.fetchval("SELECT 1")) == 1
    # One left in a transaction is not lent again either.
    await second.execute("BEGIN")
    pool.give(second)
    assert second.is_closed()
    pool.give(third)
    # Closing closes the idle ones; one lent meanwhile is closed when it comes back,
    # and the pool opens new connections if it is used again.
    lent = await pool.take()
    idle = await pool.take()
    pool.give(idle)
    await pool.close()
    assert idle.is_closed() and not lent.is_closed()
    pool.give(lent)
    assert lent.is_closed()
    fresh = await pool.take()
    assert (await fresh.fetchval("SELECT 1")) == 1
    pool.give(fresh)
    await pool.close()
