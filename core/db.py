"""Database engines and sessions.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign
keys on. Write transactions start with `BEGIN IMMEDIATE` so two writers never
both read and then collide at commit; reads use a second engine whose
transactions stay deferred, so readers never queue behind writers.

PostgreSQL goes through asyncpg. Serialization failures and deadlocks are
reported by `is_retryable` so the request layer can retry a bounded number of
times.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.settings import Settings


def _sqlite_engine(url: str, settings: Settings, *, immediate: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.sqlite_busy_timeout_ms / 1000
    engine = create_async_engine(url, connect_args={"timeout": timeout})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass
class Database:
    """The write engine and the read engine (the same one on PostgreSQL)."""

    write_engine: AsyncEngine
    read_engine: AsyncEngine
    is_sqlite: bool

    def __post_init__(self) -> None:
        self._write_maker = async_sessionmaker(self.write_engine, class_=AsyncSession,
                                               expire_on_commit=False)
        self._read_maker = async_sessionmaker(self.read_engine, class_=AsyncSession,
                                              expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> Database:
        url = url or settings.database_url
        if url.startswith("sqlite"):
            return cls(
                write_engine=_sqlite_engine(url, settings, immediate=True),
                read_engine=_sqlite_engine(url, settings, immediate=False),
                is_sqlite=True,
            )
        engine = create_async_engine(
            url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size,
            pool_pre_ping=False,
        )
        return cls(write_engine=engine, read_engine=engine, is_sqlite=False)

    def session(self, *, write: bool = True) -> AsyncSession:
        return self._write_maker() if write else self._read_maker()

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


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
    if sqlstate(exc) == "23505":
        return True
    text = str(getattr(exc, "orig", exc))
    return "UNIQUE constraint failed" in text


def is_check_violation(exc: BaseException) -> bool:
    if sqlstate(exc) == "23514":
        return True
    return "CHECK constraint failed" in str(getattr(exc, "orig", exc))
