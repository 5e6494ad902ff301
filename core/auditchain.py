"""The audit trail's hash chain: the canonical text of one row and its hash.

Every row of `audit_event` carries `seq` (1, 2, 3, ... with no gaps), `prev_hash`
(the previous row's `hash`; `GENESIS` for the first) and `hash`, the SHA-256 (hex)
of `canonical(row)`. The canonical text is defined here once and spelled the same
in the PostgreSQL trigger that computes it there (migration 0009), so both
databases, and `huimin audit verify`, agree byte for byte:

    huimin-audit-v1 \\n field \\n field ...

with the fields in `FIELDS` order, each written as `<UTF-8 byte length>:<value>`
(so no value can fake a separator) or `~` for NULL; `seq` as a decimal integer;
`at` in UTC with microseconds, `2026-12-01T08:00:00.123456Z` (PostgreSQL keeps
microseconds, SQLite stores them as text; both normalise to this form).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

VERSION = "huimin-audit-v1"
GENESIS = "0" * 64
FIELDS = ("seq", "prev_hash", "id", "at", "actor_kind", "actor_id", "actor_role", "org_id",
          "action", "object_type", "object_id", "outcome", "request_id")


def timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sqlite_text(value: dt.datetime) -> str:
    """How SQLite stores a timestamp (core.prepared.SqliteDriver.ts): UTC text."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _field(value: Any) -> str:
    if value is None:
        return "~"
    if isinstance(value, dt.datetime):
        value = timestamp(value)
    text = str(value)
    return f"{len(text.encode())}:{text}"


def canonical(row: Mapping[str, Any]) -> bytes:
    return "\n".join([VERSION, *(_field(row[name]) for name in FIELDS)]).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


# The same canonical text, in PL/pgSQL over the trigger's NEW row (migration 0009).
def _pg_field(expr: str) -> str:
    return (f"CASE WHEN ({expr}) IS NULL THEN '~' ELSE "
            f"octet_length(convert_to(({expr}), 'UTF8'))::text || ':' || ({expr}) END")


PG_CANONICAL = " || E'\\n' || ".join([
    f"'{VERSION}'",
    *(_pg_field({"seq": "NEW.seq::text",
                 "at": """to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""}
                .get(name, f"NEW.{name}::text"))
      for name in FIELDS)])
