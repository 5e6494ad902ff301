"""Keyset pagination: one cursor format and one `page()` for every list.

A list declares its order once, as a `Keyset` of typed keys (a column or SQL
expression, what kind of value it holds, and its direction). The cursor handed
out is the last row's key values, JSON-encoded and base64url'd; it is taken back
only exactly as it was handed out: anything else is 400 `invalid_cursor`, never a
500 and never quietly the first page. The next page is one indexed comparison
("after these values, in this order"), so a page costs the same at any depth and
rows inserted meanwhile neither repeat nor vanish.

    BY_START = Keyset(Key(Appointment.starts_at, AT), Key(Appointment.id, IdOf("mapt")))
    page = await BY_START.page(session, stmt, limit=paging.limit, cursor=paging.cursor)

Lists whose order is computed in Python (a distance from a point) use the same
cursor with `decode` / `is_after` / `slice`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from core.errors import InvalidCursor

T = TypeVar("T")


# --- value kinds ------------------------------------------------------------------


class Kind:
    """How one key's value goes into a cursor and comes back out, strictly."""

    def dump(self, value: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def load(self, raw: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class IdOf(Kind):
    """An id made by `core.ids.new_id(prefix)` (or any `prefix_...` id)."""

    def __init__(self, prefix: str) -> None:
        self.pattern = re.compile(rf"{re.escape(prefix)}_[0-9A-Za-z]{{1,36}}")

    def dump(self, value: Any) -> Any:
        return str(value)

    def load(self, raw: Any) -> Any:
        if not isinstance(raw, str) or not self.pattern.fullmatch(raw):
            raise InvalidCursor()
        return raw


class Text(Kind):
    def __init__(self, max_length: int = 200) -> None:
        self.max_length = max_length

    def dump(self, value: Any) -> Any:
        return str(value)

    def load(self, raw: Any) -> Any:
        if not isinstance(raw, str) or len(raw) > self.max_length or not raw.isprintable():
            raise InvalidCursor()
        return raw


class Int(Kind):
    def __init__(self, lo: int = -(2**31), hi: int = 2**31 - 1) -> None:
        self.lo, self.hi = lo, hi

    def dump(self, value: Any) -> Any:
        return int(value)

    def load(self, raw: Any) -> Any:
        if type(raw) is not int or not self.lo <= raw <= self.hi:
            raise InvalidCursor()
        return raw


class Float(Kind):
    def __init__(self, lo: float = -math.inf) -> None:
        self.lo = lo

    def dump(self, value: Any) -> Any:
        return float(value)

    def load(self, raw: Any) -> Any:
        if type(raw) is not float or not math.isfinite(raw) or raw < self.lo:
            raise InvalidCursor()
        return raw


class Bool(Kind):
    def dump(self, value: Any) -> Any:
        return bool(value)

    def load(self, raw: Any) -> Any:
        if type(raw) is not bool:
            raise InvalidCursor()
        return raw


class At(Kind):
    """An aware datetime, carried in UTC."""

    def dump(self, value: Any) -> Any:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()

    def load(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise InvalidCursor()
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor() from None
        if value.utcoffset() != dt.timedelta(0):
            raise InvalidCursor()
        return value


class Day(Kind):
    def dump(self, value: Any) -> Any:
        return value.isoformat()

    def load(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise InvalidCursor()
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor() from None


AT = At()
DAY = Day()
INT = Int()
FLOAT = Float()
BOOL = Bool()


# --- the keyset ---------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One sort key: a column (or SQL expression), its value kind and direction.
    `attr` names where the value sits on a row (default: the column's key)."""

    column: Any
    kind: Kind
    descending: bool = False
    attr: str | None = None

    def value_of(self, row: Any) -> Any:
        name = self.attr or getattr(self.column, "key", None)
        if name is None:
            raise TypeError("a Key over an expression needs `attr`")
        if isinstance(row, dict):
            return row[name]
        return getattr(row, name)


class Page(BaseModel, Generic[T]):
    """`{"items": [...], "next_cursor": "..." | null}`: every list answers this."""

    items: list[T]
    next_cursor: str | None = None

    def map(self, fn: Callable[[T], Any]) -> Page[Any]:
        return Page(items=[fn(x) for x in self.items], next_cursor=self.next_cursor)


class Keyset:
    """The order of one list, and its cursors."""

    def __init__(self, *keys: Key) -> None:
        if not keys:
            raise ValueError("a keyset needs at least one key")
        self.keys = keys

    # cursors
    def encode(self, values: Sequence[Any]) -> str:
        raw = json.dumps([k.kind.dump(v) for k, v in zip(self.keys, values, strict=True)],
                         separators=(",", ":"), ensure_ascii=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
            data = json.loads(raw)
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidCursor() from None
        if not isinstance(data, list) or len(data) != len(self.keys):
            raise InvalidCursor()
        values = tuple(k.kind.load(v) for k, v in zip(self.keys, data, strict=True))
        # Only what `encode` makes round-trips: no stray padding, spacing or aliases.
        if self.encode(values) != cursor:
            raise InvalidCursor()
        return values

    def values_of(self, row: Any) -> tuple[Any, ...]:
        return tuple(k.value_of(row) for k in self.keys)

    # SQL
    def order_by(self) -> list[Any]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after `values` in this order: (a > x) OR (a = x AND b > y) ...
        (written out, not as a row value, so mixed directions work on both databases)."""
        clauses = []
        for i, key in enumerate(self.keys):
            equal = [self.keys[j].column == values[j] for j in range(i)]
            step = key.column < values[i] if key.descending else key.column > values[i]
            clauses.append(and_(*equal, step))
        return or_(*clauses)

    def apply(self, stmt: Any, cursor: str | None, limit: int) -> Any:
        """`stmt` ordered, after the cursor, with one row more than the page."""
        if cursor:
            stmt = stmt.where(self.after(self.decode(cursor)))
        return stmt.order_by(*self.order_by()).limit(limit + 1)

    def cut(self, rows: Sequence[T], limit: int,
            values_of: Callable[[T], Sequence[Any]] | None = None) -> Page[T]:
        """The page from `limit + 1` fetched rows: the extra row only says there is more."""
        rows = list(rows)
        if len(rows) <= limit:
            return Page(items=rows, next_cursor=None)
        last = rows[limit - 1]
        values = values_of(last) if values_of is not None else self.values_of(last)
        return Page(items=rows[:limit], next_cursor=self.encode(values))

    async def page(self, session: Any, stmt: Any, *, limit: int, cursor: str | None,
                   scalars: bool = True,
                   values_of: Callable[[Any], Sequence[Any]] | None = None) -> Page[Any]:
        """Run `stmt` for one page: ordered, after the cursor, `limit` rows."""
        result = await session.execute(self.apply(stmt, cursor, limit))
        rows = list(result.scalars() if scalars else result.all())
        return self.cut(rows, limit, values_of)

    # Python-side orders (computed values)
    def is_after(self, row_values: Sequence[Any], cursor_values: Sequence[Any]) -> bool:
        for key, a, b in zip(self.keys, row_values, cursor_values, strict=True):
            if a == b:
                continue
            return (a < b) if key.descending else (a > b)
        return False
