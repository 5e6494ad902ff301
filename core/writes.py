"""Write-safety helpers every domain uses instead of writing its own:

- `insert_if_absent`: `INSERT ... ON CONFLICT DO NOTHING`, telling whether this
  statement inserted the row;
- `upsert`: `INSERT ... ON CONFLICT (key) DO UPDATE`, for a row that a PUT
  replaces whole;
- `unique_violation`: a context manager that turns a unique-index violation
  (optionally of one named constraint) into the domain error the caller names;
- `check_if_match` and `versioned_update`: optimistic concurrency for resources
  with an ETag. The update is conditional on the version that was checked, so
  two editors holding one ETag get one success and one 412, however their
  requests interleave; a 412 carries the resource's current `ETag`.

No table, no framework: callers pass their models and their ETag function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Index, inspect, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import ColumnCollectionConstraint

from core.db import is_unique_violation
from core.errors import DomainError, PreconditionFailed, PreconditionRequired

T = TypeVar("T")

# --- insert if absent -----------------------------------------------------------


def insert_ignore(session: AsyncSession, model: Any,
                  conflict: Sequence[str] | None = None, *, where: Any = None) -> Any:
    """`INSERT ... ON CONFLICT [(conflict)] DO NOTHING` for `model` (add
    `.values(...)`). Without `conflict`, any unique violation is skipped; `where`
    names the predicate of a partial unique index used as the target."""
    stmt = pg_insert(model)
    if conflict is None:
        return stmt.on_conflict_do_nothing()
    return stmt.on_conflict_do_nothing(index_elements=list(conflict), index_where=where)


async def insert_if_absent(session: AsyncSession, model: Any, values: Mapping[str, Any], *,
                           conflict: Sequence[str] | None = None, where: Any = None) -> bool:
    """Insert one row unless a row with the same key exists: True if this
    statement inserted it. Concurrent callers never fail: the loser waits for the
    winner's transaction (the index's lock) and then inserts nothing."""
    result = await session.execute(insert_ignore(session, model, conflict, where=where)
                                   .values(**values))
    return result.rowcount == 1


async def upsert(session: AsyncSession, model: Any, values: Mapping[str, Any], *,
                 conflict: Sequence[str]) -> None:
    """Insert the row, or replace every other column of the row with the same
    `conflict` key: one statement, so two concurrent PUTs never fail on the key
    (the later one wins)."""
    stmt = pg_insert(model).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(conflict),
        set_={k: stmt.excluded[k] for k in values if k not in conflict})
    await session.execute(stmt)


# --- unique violation -> domain error ---------------------------------------------


Constraint = str | Index | ColumnCollectionConstraint


def constraint_name(exc: BaseException) -> str | None:
    """The violated constraint's name, as PostgreSQL reports it."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return str(name)
    return None


def violates(exc: BaseException, constraint: Constraint | None) -> bool:
    """Whether `exc` is a unique violation of `constraint` (any, when None), by the
    constraint's name as PostgreSQL reports it."""
    if not is_unique_violation(exc):
        return False
    if constraint is None:
        return True
    name = constraint if isinstance(constraint, str) else constraint.name
    return constraint_name(exc) == name


@contextmanager
def unique_violation(error: DomainError | Callable[[], DomainError], *,
                     constraint: Constraint | None = None) -> Iterator[None]:
    """`with unique_violation(DuplicateBedCode(code=c), constraint=...): await
    session.flush()`: a unique violation (of `constraint`, when given) becomes
    `error`; anything else goes on as it was. The transaction is then spoilt and
    must be rolled back, which raising the error does."""
    try:
        yield
    except IntegrityError as exc:
        if not violates(exc, constraint):
            raise
        raise (error if isinstance(error, DomainError) else error()) from None


def constraint_of(model: Any, name: str) -> Index | ColumnCollectionConstraint:
    """The index or unique constraint called `name` on `model`'s table."""
    return _constraint_of(model.__table__, name)


@lru_cache(maxsize=64)
def _constraint_of(table: Any, name: str) -> Index | ColumnCollectionConstraint:
    for item in (*table.indexes, *table.constraints):
        if item.name == name:
            return item
    raise KeyError(f"{table.name} has no constraint {name}")


# --- If-Match and versioned updates -------------------------------------------------


def if_match_matches(if_match: str, current: str) -> bool:
    """`If-Match` against the current ETag: `*`, or one of a list of tags."""
    candidates = {c.strip().removeprefix("W/") for c in if_match.split(",")}
    return "*" in candidates or current in candidates


def precondition_failed(current: str | None) -> PreconditionFailed:
    """412, carrying the current ETag so the client can re-read or retry."""
    err = PreconditionFailed()
    if current is not None:
        err.headers = {"ETag": current}
    return err


def check_if_match(if_match: str | None, current: str) -> None:
    """428 `precondition_required` without `If-Match`; 412 `precondition_failed`
    (with the current `ETag`) when it names another version."""
    if if_match is None:
        raise PreconditionRequired()
    if not if_match_matches(if_match, current):
        raise precondition_failed(current)


async def versioned_update(session: AsyncSession, row: T, *, if_match: str | None,
                           etag: Callable[[T], str],
                           values: Mapping[str, Any] | Callable[[T], Mapping[str, Any]],
                           where: Iterable[Any] = (), version: str = "version") -> T:
    """Change `row` (a loaded table-model instance) if `If-Match` names its current
    ETag, with `UPDATE ... WHERE <primary key> AND version = :v [AND where]` that
    also bumps the version; return the row as it now is.

    `values` may be a function of the checked row (it runs after the If-Match
    check, so its own errors come second). When the conditional UPDATE matches
    nothing (another editor got in first), the row is read again and the 412
    carries its new ETag.
    """
    check_if_match(if_match, etag(row))
    changes = dict(values(row) if callable(values) else values)
    model = type(row)
    mapper = inspect(model)
    current_version = getattr(row, version)
    key = [col == getattr(row, mapper.get_property_by_column(col).key)
           for col in mapper.primary_key]
    result = await session.execute(
        update(model)
        .where(*key, getattr(model, version) == current_version, *where)
        .values(**changes, **{version: current_version + 1})
        .execution_options(synchronize_session=False))
    await session.refresh(row)
    if result.rowcount != 1:
        raise precondition_failed(etag(row))
    return row


__all__ = [
    "check_if_match",
    "constraint_of",
    "if_match_matches",
    "insert_if_absent",
    "insert_ignore",
    "precondition_failed",
    "unique_violation",
    "upsert",
    "versioned_update",
    "violates",
]
