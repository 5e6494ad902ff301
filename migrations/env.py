"""Alembic environment: async engines, SQLModel.metadata through `schemas`, and the
SQL functions of `services.functions`."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.replaceable_entity import register_entities
from sqlalchemy import pool, text
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.ext.asyncio import create_async_engine

import schemas  # noqa: F401  (registers every table)
from core.locks import MIGRATIONS, key_of
from core.settings import get_settings
from schemas.common import Cube, metadata
from services import functions

# Reflection knows the `cube` columns (migration 0008) as what the models declare,
# so comparing them is not a warning about an unknown type.
ischema_names.setdefault("cube", Cube)

# The SQL functions and triggers declared beside the services: autogenerate writes
# their whole text into a migration, and `alembic check` compares them too.
# (Functions and triggers only: grants and extensions are the baseline's.)
register_entities(list(functions.entities()), entity_types=[PGFunction, PGTrigger])

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is unset: run `huimin migrate`, or set it "
                           "(`huimin db url` prints the embedded PostgreSQL's)")
    return url


def _configure(connection=None, url=None) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        literal_binds=url is not None,
    )


def run_migrations_offline() -> None:
    _configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection) -> None:  # noqa: ANN001
    # Several nodes starting at once migrate once: the migration transaction first
    # takes the migrations' advisory lock (waiting for a node that holds it), and
    # only then reads the version, so a node that waited finds the database at head
    # and does nothing. A transaction lock: released by the commit, or by the
    # connection's end if the process dies. The transaction is begun here, so Alembic
    # runs inside it (as an external one) and the commit below is the only one.
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                       {"key": key_of(MIGRATIONS)})
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
