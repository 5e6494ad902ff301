"""Test harness: the real app over httpx's ASGI transport, on a database built by
`alembic upgrade head`.

The server is the embedded PostgreSQL (`core.embedded`, in `$HUIMIN_DATA_DIR/pg`,
started for the run and stopped after it unless something else uses it), or the
one `TEST_DATABASE_URL=postgresql+asyncpg://...` names. A fresh database is
created on it for the run, migrated once, and every table is truncated before each
test, so no test sees another's committed state. It is dropped at the end.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from api.cli import run_migrations
from core import embedded
from core.clock import clock
from core.db import Database
from core.logging import configure_logging
from core.settings import Settings
from schemas.common import metadata
from schemas.organisation import ApiKeyCreate, Role
from services import organisations
from tests.factories import ISSUED_ACCOUNT_NUMBERS, ISSUED_ID_NUMBERS, ISSUED_PHONES

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
# Tests move the clock a year either way and mint tokens that survive it
# (test_marriage_support.citizen): their settings allow such lifetimes.
TEST_JWT_MAX_TTL_MINUTES = 3 * 366 * 24 * 60


async def _pg_admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server's URL (any database on it): TEST_DATABASE_URL's, else the
    embedded one's, held for the run."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    with embedded.EmbeddedPostgres(Settings(_env_file=None).data_dir).lease() as server:
        yield server.url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    name = f"huimin_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    run_migrations(url)
    yield url
    asyncio.run(_pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_db_url(server_url: str) -> Iterator[str]:
    """An empty database of its own (not migrated), for a test that runs `huimin`
    processes against it; dropped afterwards."""
    name = f"huimin_live_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(server_url, f'CREATE DATABASE "{name}"'))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(database_url: str) -> Iterator[str]:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    asyncio.run(_pg_admin(database_url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database_url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env="test", database_url=db_url, rate_limit_enabled=False, log_level="INFO",
                    maintenance_interval_seconds=0, jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES,
                    redis_url=None, _env_file=None)


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def _fastapi_callable_caches() -> list:
    """FastAPI keeps module-level LRU caches (4,096 entries each) of whether a
    dependency is a coroutine or a generator, keyed by the dependency callable. One
    app per process, as in production, costs nothing; but every test builds an app
    whose dependencies are closures over it, and those entries kept each test's app
    (about 5 MB) alive: a full run grew to 4 GB and spent minutes in the garbage
    collector when the interpreter exited. Found by name, so a FastAPI that drops
    them leaves this with nothing to clear."""
    from fastapi.dependencies import models

    return [f for f in vars(models).values() if callable(getattr(f, "cache_clear", None))]


_CALLABLE_CACHES = _fastapi_callable_caches()


@pytest.fixture(autouse=True)
def _release_apps() -> Iterator[None]:
    yield
    for cache in _CALLABLE_CACHES:
        cache.cache_clear()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Everything the app logs during a test (JSON lines)."""
    stream = io.StringIO()
    yield stream
    configure_logging("WARNING")


@pytest.fixture
async def app(settings: Settings, log_stream: io.StringIO):  # noqa: ANN201
    application = create_app(settings)
    configure_logging("INFO", stream=log_stream)
    yield application
    await application.state.db.dispose()


@pytest.fixture
async def client(app, log_stream) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    """The real app over ASGI. After the test, no identity number a test made may
    appear in any response body or log line, whatever endpoint was called; nor any
    bank account number, except in a payment batch export (CSV); nor any phone number
    in a log line or in a response to anyone but staff (the organisation that must
    call the person sees it in full)."""
    bodies: list[str] = []
    non_exports: list[str] = []
    not_to_staff: list[str] = []

    async def keep_body(response: httpx.Response) -> None:
        await response.aread()
        bodies.append(response.text)
        if not response.headers.get("content-type", "").startswith("text/csv"):
            non_exports.append(response.text)
        if "x-api-key" not in response.request.headers:
            not_to_staff.append(response.text)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60,
                                 event_hooks={"response": [keep_body]}) as c:
        yield c
    leaked = _leaks(ISSUED_ID_NUMBERS, [*bodies, log_stream.getvalue()])
    assert not leaked, f"full identity numbers reached a response or a log line: {leaked}"
    leaked = _leaks(ISSUED_ACCOUNT_NUMBERS, [*non_exports, log_stream.getvalue()])
    assert not leaked, f"full account numbers reached a response or a log line: {leaked}"
    leaked = _leaks(ISSUED_PHONES, [*not_to_staff, log_stream.getvalue()])
    assert not leaked, f"full phone numbers reached a citizen's response or a log line: {leaked}"


def _leaks(numbers: set[str], texts: list[str]) -> set[str]:
    found = set()
    for text_ in texts:
        upper = text_.upper()
        found.update(n for n in numbers if n in upper)
    return found


@pytest.fixture
def db(app) -> Database:  # noqa: ANN001
    return app.state.db


@pytest.fixture
async def admin_headers(db: Database) -> dict[str, str]:
    async with db.session() as session:
        created = await organisations.create_api_key(
            session, None, None, ApiKeyCreate(role=Role.admin, name="test-admin"))
        await session.commit()
    return {"X-API-Key": created.key}
