"""Prepared statements straight on the driver, for the hot write path.

SQLAlchemy Core costs 100-200 us of Python per statement (parameter processing,
the compiled cache, result wrapping, a greenlet switch each way); a booking's
handful of statements spent more CPU there than in the database. Here a statement
is plain SQL written once per dialect with positional parameters, run on the very
connection (and transaction) of the request's session:

- PostgreSQL: asyncpg's `Connection.prepare` once per physical connection (the
  prepared statements are kept with the pooled connection), then
  `PreparedStatement.fetch` / `executemany`. The transaction is the one
  SQLAlchemy's asyncpg adapter would start for its own first statement, so
  `session.commit()` / `rollback()` end it as they always did.
- PostgreSQL, a statement sent on its own (`fetchrow_alone`, `execute_alone`) from
  a session that has begun nothing (`LazyPgDriver`): it is its own transaction, so
  it borrows a connection of the `core.db.LonePool` for that one statement and the
  session never checks one out of SQLAlchemy's pool (for a hot booking, the
  session, its transaction object and the checkout cost more CPU than the
  statement). Once the session has begun, every statement runs in its transaction.

Driver errors come out as SQLAlchemy's exceptions (`IntegrityError`,
`OperationalError`, `DBAPIError`, with `.orig.sqlstate`), exactly as
if SQLAlchemy had run the statement, so `core.db.is_retryable` and
`is_unique_violation`, and the problem handlers, see no difference.

Mixing with the session is fine (same connection, same transaction): use this only
where the profile says SQLAlchemy's cost is not small.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import LONE_POOLS, LonePool, is_unavailable

_DRIVER_KEY = "huimin.prepared.driver"  # on the pooled connection's record
_SESSION_KEY = "huimin.prepared.session"  # on the session: (its transaction, driver)
_LAZY_KEY = "huimin.prepared.lazy"  # on the session: its LazyPgDriver


class Sql:
    """One statement, PostgreSQL text with `$1..$n` parameters."""

    __slots__ = ("postgresql",)

    def __init__(self, postgresql: str) -> None:
        self.postgresql = " ".join(postgresql.split())

    def __repr__(self) -> str:  # statements only, never parameters
        return f"Sql({self.postgresql[:60]!r})"


def json_value(value: Any) -> Any:
    """A json column's value as read here: SQLAlchemy's asyncpg dialect registers a
    json codec on its connections (values arrive decoded); the lone connections have
    none (text)."""
    return json.loads(value) if isinstance(value, str) else value


class PgDriver:
    def __init__(self, adapted: Any) -> None:
        self.adapted = self._adapted = adapted  # SQLAlchemy's AsyncAdapt_asyncpg_connection
        self._conn = adapted._connection  # asyncpg.Connection
        self._prepared: dict[Sql, Any] = {}

    @property
    def in_transaction(self) -> bool:
        return self._adapted._transaction is not None or self._conn.is_in_transaction()

    async def _statement(self, sql: Sql, begin: bool = True) -> Any:
        if begin and self._adapted._transaction is None:
            # What SQLAlchemy's adapter does before its own first statement: the
            # transaction is then the session's, committed or rolled back by it.
            await self._adapted._start_transaction()
        stmt = self._prepared.get(sql)
        if stmt is None:
            stmt = self._prepared[sql] = await self._conn.prepare(sql.postgresql)
        return stmt

    def _translate(self, sql: Sql, error: Exception) -> Exception:
        return _as_sqlalchemy(sql, error, self._adapted.dbapi, self._adapted._handle_exception)

    async def fetch(self, sql: Sql, *args: Any) -> list[Any]:
        try:
            return await (await self._statement(sql)).fetch(*args)
        except Exception as error:
            raise self._translate(sql, error) from error

    async def fetchrow(self, sql: Sql, *args: Any) -> Any | None:
        try:
            return await (await self._statement(sql)).fetchrow(*args)
        except Exception as error:
            raise self._translate(sql, error) from error

    async def fetchrow_alone(self, sql: Sql, *args: Any) -> Any | None:
        """`fetchrow` in the transaction already open, else as a statement of its
        own (its own snapshot; a write commits with it): no BEGIN and COMMIT round
        trips around a read or a write that needs no other statement's company. A
        write sent so is committed whatever the request does next: it must be whole
        on its own (an idempotent write carries its record, `marriage_book`)."""
        try:
            return await (await self._statement(sql, begin=False)).fetchrow(*args)
        except Exception as error:
            raise self._translate(sql, error) from error

    async def fetch_alone(self, sql: Sql, *args: Any) -> list[Any]:
        """`fetch` in the transaction already open, else as a statement of its own
        (see `fetchrow_alone`)."""
        try:
            return await (await self._statement(sql, begin=False)).fetch(*args)
        except Exception as error:
            raise self._translate(sql, error) from error

    async def execute(self, sql: Sql, *args: Any) -> int:
        """Run it; the number of rows it changed (or returned)."""
        try:
            stmt = await self._statement(sql)
            await stmt.fetch(*args)
            status = stmt.get_statusmsg() or ""
        except Exception as error:
            raise self._translate(sql, error) from error
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    async def execute_alone(self, sql: Sql, *args: Any) -> None:
        """`execute` in the transaction already open, else as a statement of its own,
        committed with it (see `fetchrow_alone`)."""
        try:
            await (await self._statement(sql, begin=False)).fetch(*args)
        except Exception as error:
            raise self._translate(sql, error) from error

    async def executemany(self, sql: Sql, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await (await self._statement(sql)).executemany(rows)
        except Exception as error:
            raise self._translate(sql, error) from error


class LazyPgDriver:
    """PostgreSQL, a session that has begun nothing: a statement sent on its own runs
    on a connection of the `LonePool` and checks nothing out of SQLAlchemy's pool
    for the session; once the session has begun a transaction (a statement that
    needs one, here or through the ORM), everything runs in it (`PgDriver`)."""

    def __init__(self, session: AsyncSession, lone: LonePool) -> None:
        self._session = session
        self._lone = lone

    async def _real(self) -> PgDriver:
        drv = await driver(self._session, lazy=False)
        assert isinstance(drv, PgDriver)
        return drv

    def _begun(self) -> bool:
        return self._session.sync_session.get_transaction() is not None

    async def _alone(self, sql: Sql, args: Sequence[Any], *, many: bool = False) -> Any:
        try:
            conn = await self._lone.take()
            reusable = False
            try:
                # asyncpg's own statement cache (per connection) keeps it prepared.
                row = await (conn.fetch if many else conn.fetchrow)(sql.postgresql, *args)
                reusable = True
                return row
            except asyncpg.PostgresError as refused:
                # The server refused the statement (a constraint, a raised rule): the
                # connection is fine, unless the server was ending it.
                reusable = not is_unavailable(refused)
                raise
            finally:
                self._lone.give(conn, reusable=reusable)
        except Exception as error:
            dbapi = self._lone.dbapi
            raise _as_sqlalchemy(sql, error, dbapi, lambda e: AsyncAdapt_asyncpg_connection
                                 ._handle_exception_no_connection(dbapi, e)) from error

    async def fetchrow_alone(self, sql: Sql, *args: Any) -> Any | None:
        if self._begun():
            return await (await self._real()).fetchrow_alone(sql, *args)
        return await self._alone(sql, args)

    async def fetch_alone(self, sql: Sql, *args: Any) -> list[Any]:
        if self._begun():
            return await (await self._real()).fetch_alone(sql, *args)
        return await self._alone(sql, args, many=True)

    async def execute_alone(self, sql: Sql, *args: Any) -> None:
        if self._begun():
            await (await self._real()).execute_alone(sql, *args)
        else:
            await self._alone(sql, args)

    # Statements that need the session's transaction: begun by the session.
    async def fetch(self, sql: Sql, *args: Any) -> list[Any]:
        return await (await self._real()).fetch(sql, *args)

    async def fetchrow(self, sql: Sql, *args: Any) -> Any | None:
        return await (await self._real()).fetchrow(sql, *args)

    async def execute(self, sql: Sql, *args: Any) -> int:
        return await (await self._real()).execute(sql, *args)

    async def executemany(self, sql: Sql, rows: Sequence[Sequence[Any]]) -> None:
        await (await self._real()).executemany(sql, rows)


def _as_sqlalchemy(sql: Sql, error: Exception, dbapi: Any,
                   handle: Callable[[Exception], Any]) -> Exception:
    """An asyncpg error as SQLAlchemy's: `handle` (SQLAlchemy's asyncpg adapter's
    translation, which always raises) gives the DB-API error, wrapped as SQLAlchemy
    wraps it; an error that is not the driver's comes out as it was."""
    try:
        handle(error)
    except dbapi.Error as dbapi_error:
        return sa_exc.DBAPIError.instance(sql.postgresql, None, dbapi_error, dbapi.Error)
    except Exception as other:  # noqa: BLE001 - not a driver error: as it was
        return other
    return error  # pragma: no cover


Driver = PgDriver | LazyPgDriver


_EXCLUSIVE_LOCK = Sql("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")


async def exclusive_lock(session: AsyncSession, key: str) -> None:
    """The transaction-level advisory lock on `key`, exclusive, for the rest of the
    session's transaction: what a one-statement write holds shared (`marriage_book`,
    `marriage_lottery_enter` spell the same key)."""
    db = await driver(session)
    await db.execute(_EXCLUSIVE_LOCK, key)


def idle(session: AsyncSession) -> bool:
    """Whether the session has nothing to commit or roll back: nothing begun, or
    only statements sent on their own on PostgreSQL (`fetchrow_alone`,
    `execute_alone`: each committed as it ran) and no ORM object pending. A hot
    route's booking is that (`api.route.transact` then skips SQLAlchemy's commit,
    rollback and the fresh connection a rollback leaves it to check out)."""
    sync = session.sync_session
    transaction = sync.get_transaction()
    if transaction is None:
        return True
    cached = sync.info.get(_SESSION_KEY)
    if cached is None or cached[0] is not transaction or not transaction.is_active:
        return False
    drv = cached[1]
    return isinstance(drv, PgDriver) and not drv.in_transaction \
        and not (sync.new or sync.dirty or sync.deleted)


async def driver(session: AsyncSession, *, lazy: bool = True) -> Driver:
    """The driver of the session's connection, in the session's transaction (begun
    here if it was not). A session that has begun nothing gets a `LazyPgDriver` (`lazy`):
    it begins the session's transaction only for a statement that needs one."""
    sync = session.sync_session
    cached = sync.info.get(_SESSION_KEY)
    if cached is not None:
        transaction, drv = cached
        # The same transaction still running: the same connection (one bind).
        if transaction is sync.get_transaction() and transaction.is_active:
            return drv
    if lazy and sync.get_transaction() is None:
        lone = LONE_POOLS.get(sync.bind) if sync.bind is not None else None
        if lone is not None:
            drv = sync.info.get(_LAZY_KEY)
            if drv is None:
                drv = sync.info[_LAZY_KEY] = LazyPgDriver(session, lone)
            return drv
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    info = raw.info  # lives (and dies) with the physical connection
    drv = info.get(_DRIVER_KEY)
    adapted = raw.dbapi_connection
    if drv is None or drv.adapted is not adapted:
        drv = info[_DRIVER_KEY] = PgDriver(adapted)
    sync.info[_SESSION_KEY] = (sync.get_transaction(), drv)
    return drv
