"""Database engine and sessions: PostgreSQL through asyncpg.

Releasing a connection to the pool: SQLAlchemy's asyncpg adapter sends nothing on
release when the transaction it began has ended, and asyncpg's own pool (whose
reset query runs on every release) is not used at all; the reset below adds the one
case the adapter missed (a transaction open on the connection that it did not begin,
which asyncpg reports without a round trip) and rolls that back. Every checkout ends
through a Session or Connection that commits or rolls back its own transaction
before release (`api.route` commits or rolls back every request's session), so the
normal case costs no round trip (tests/services/test_write_path.py).

Serialization failures and deadlocks are reported by `is_retryable` so the request
layer can retry a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import asyncpg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from core.settings import Settings

# The engine's `LonePool`, for `core.prepared` to find from a session.
LONE_POOLS: WeakKeyDictionary[Engine, LonePool] = WeakKeyDictionary()


class LonePool:
    """PostgreSQL: connections for statements sent on their own (`core.prepared`,
    `fetchrow_alone`), each its own transaction, from a session that has begun none.

    Such a statement needs no particular connection, so it does not check one out
    of SQLAlchemy's pool for its session (a session, a transaction object, a pool
    checkout and its return cost a hot booking more CPU than its one statement): it
    borrows one of these asyncpg connections for the statement alone, and asyncpg's
    statement cache keeps each connection's statements prepared.

    The pool is this class, not `asyncpg.Pool`: a lease of asyncpg's pool (a timer
    on every acquire, a reset and a shielded task on every release) cost 108-150 us
    of CPU on this machine, more than the statement it was for (a `SELECT 1`, 70
    us); here a lease is a list pop and a push. Nothing is sent on release. A
    connection goes back only if it is open, not in a transaction (a statement
    alone never leaves one) and its statement ended normally; otherwise (the
    statement cancelled, the connection lost) it is closed and another is opened
    when needed. Up to `size` connections, opened on first use in the loop that uses
    them; a request that finds all of them lent waits up to `timeout` seconds for
    one (then `TimeoutError`: 503 `database_unavailable`). `Database.dispose`
    closes them. Errors come out as SQLAlchemy's, like the session's
    (`core.prepared`)."""

    def __init__(self, url: str, size: int, dbapi: object, timeout: float = 30.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self._size = size
        self.dbapi = dbapi
        self._timeout = timeout
        self._idle: list[asyncpg.Connection] = []
        self._lent = 0  # connections of this generation lent, or being opened
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        # `close` starts a new generation: connections of an older one are closed
        # when they come back, and the pool opens new ones if it is used again.
        self._generation = 0
        self._born: dict[int, int] = {}  # id(connection) -> its generation

    async def take(self) -> asyncpg.Connection:
        """A connection for one statement; give it back with `give`."""
        deadline: float | None = None
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    self._lent += 1
                    return conn
                self._born.pop(id(conn), None)
            if self._lent < self._size:  # (nothing is idle here)
                self._lent += 1
                generation = self._generation
                try:
                    conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
                except BaseException:
                    if generation == self._generation:
                        self._lent -= 1
                        self._wake(None)
                    raise
                self._born[id(conn)] = generation
                return conn
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self._timeout
            waiter: asyncio.Future[asyncpg.Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                conn = await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except BaseException:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    handed = waiter.result()
                    if handed is not None:
                        self.give(handed)  # handed over just as the wait ended
                    else:
                        self._wake(None)  # the room it was given goes to the next
                raise
            if conn is not None:
                return conn  # handed over, still counted as lent
            # else a connection was closed, so there is room to open one: again

    def give(self, conn: asyncpg.Connection, *, reusable: bool = True) -> None:
        """Back from `take`. `reusable` False (its statement did not end normally):
        the connection is closed, not lent again."""
        if self._born.get(id(conn)) != self._generation:  # lent before `close`
            self._born.pop(id(conn), None)
            if not conn.is_closed():
                conn.terminate()
            return
        if not reusable or conn.is_closed() or conn.is_in_transaction():
            self._born.pop(id(conn), None)
            self._lent -= 1
            if not conn.is_closed():
                conn.terminate()
            self._wake(None)
            return
        if not self._wake(conn):
            self._lent -= 1
            self._idle.append(conn)

    def _wake(self, conn: asyncpg.Connection | None) -> bool:
        """Hand `conn` (or, for None, room to open one) to the first waiter."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    async def close(self) -> None:
        """Close the idle connections; the lent ones are closed as they come back."""
        self._generation += 1
        self._lent = 0
        idle, self._idle = self._idle, []
        for conn in idle:
            self._born.pop(id(conn), None)
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # noqa: BLE001 - closed anyway
                conn.terminate()
        while self._wake(None):  # a waiter, if any, opens one of the new generation
            pass


@dataclass
class Database:
    """The engine, and the connections for statements sent on their own (`LonePool`)."""

    engine: AsyncEngine
    lone: LonePool

    def __post_init__(self) -> None:
        self._maker = async_sessionmaker(self.engine, class_=AsyncSession,
                                         expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> Database:
        url = url or settings.database_url
        if not url:
            raise RuntimeError("DATABASE_URL is unset: name a PostgreSQL server, or run "
                               "through the `huimin` command, which starts the embedded one")
        # Up to twice `db_pool_size` connections, all of them kept: an overflow
        # connection is closed as soon as it is returned, and under load each new one
        # cost a connect, SQLAlchemy's type-codec set-up queries and every hot
        # statement prepared again.
        engine = create_async_engine(
            url, pool_size=2 * settings.db_pool_size, max_overflow=0, pool_pre_ping=False,
        )

        @event.listens_for(engine.sync_engine, "reset")
        def _on_reset(dbapi_connection, _record, state):  # noqa: ANN001
            # SQLAlchemy's own reset (on) only ends a transaction its adapter began;
            # asyncpg knows, without a round trip, whether one is open at all.
            if (state.asyncio_safe and dbapi_connection._transaction is None
                    and dbapi_connection._connection.is_in_transaction()):
                await_(dbapi_connection._connection.execute("ROLLBACK"))

        # As many as the session pool: measured with 32 connections of booking, a
        # LonePool of `db_pool_size` (10) left requests queueing for a connection and
        # PostgreSQL spent 1.6-1.8 ms of CPU per booking instead of 1.0-1.1.
        lone = LonePool(url, 2 * settings.db_pool_size, engine.dialect.dbapi)
        LONE_POOLS[engine.sync_engine] = lone
        return cls(engine=engine, lone=lone)

    def session(self) -> AsyncSession:
        return self._maker()

    async def dispose(self) -> None:
        await self.lone.close()
        await self.engine.dispose()


RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE_SQLSTATES


def is_unique_violation(exc: BaseException) -> bool:
    return sqlstate(exc) == "23505"


def is_check_violation(exc: BaseException) -> bool:
    return sqlstate(exc) == "23514"


# Faults of the database itself, not of the request: the connection lost
# (class 08, an administrator's or a crash's shutdown, 57P0x), the server out of
# something (class 53: disk full, memory, connections), a lock or statement that
# timed out (55P03, 57014).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P0")
UNAVAILABLE_SQLSTATES = {"55P03", "57014"}


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the database cannot serve now: the
    answer is then 503 `database_unavailable` with `Retry-After`, never a 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _unavailable_here(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc) if isinstance(exc, SQLAlchemyError) else (
        getattr(exc, "sqlstate", None) or None)
    if code and (code.startswith(UNAVAILABLE_SQLSTATE_CLASSES) or code in UNAVAILABLE_SQLSTATES):
        return True
    # asyncpg's own view of a connection that broke under it: closed, or left in the
    # middle of an operation by a termination ("cannot switch to state ...").
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError
                      | asyncpg.ConnectionDoesNotExistError) \
        and not isinstance(exc, asyncpg.DataError)  # a value the driver refused: ours
