"""The audit trail's hash chain: the canonical text of one row and its hash.

Every row of `audit_event` carries `seq` (1, 2, 3, ... with no gaps), `prev_hash`
(the previous row's `hash`; `GENESIS` for the first) and `hash`, the SHA-256 (hex)
of `canonical(row)`. The canonical text is defined here once and spelled the same
in the PostgreSQL function that links rows (services/audit.sql), so the database
and `huimin audit verify` agree byte for byte:

    huimin-audit-v1 \\n field \\n field ...

with the fields in `FIELDS` order, each written as `<UTF-8 byte length>:<value>`
(so no value can fake a separator) or `~` for NULL; `seq` as a decimal integer;
`at` in UTC with microseconds, `2026-12-01T08:00:00.123456Z` (PostgreSQL keeps
microseconds). Then each of `OPTIONAL` that is not NULL, as one more line written
the same way: the client's address (migration 0009) and the delegation a citizen
acted through (0010) are hashed when a row has them,
so it cannot be changed, added or removed unseen, while the rows written before it
existed (NULL) hash exactly as they always did and still verify.
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
# Fields hashed only when not NULL (added after rows were chained without them).
OPTIONAL = ("client_addr", "delegation_id")


def timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(value: Any) -> str:
    if value is None:
        return "~"
    if isinstance(value, dt.datetime):
        value = timestamp(value)
    text = str(value)
    return f"{len(text.encode())}:{text}"


def canonical(row: Mapping[str, Any]) -> bytes:
    return "\n".join([VERSION, *(_field(row[name]) for name in FIELDS),
                      *(_field(row[name]) for name in OPTIONAL
                        if row.get(name) is not None)]).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


# The same canonical text in SQL, over the row variable `row` (services/audit.sql's
# `audit_link`, which writes the links that `huimin audit verify` checks here).
def _pg_field(expr: str) -> str:
    return (f"CASE WHEN ({expr}) IS NULL THEN '~' ELSE "
            f"octet_length(convert_to(({expr}), 'UTF8'))::text || ':' || ({expr}) END")


_PG_AT = """to_char({row}.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def pg_canonical(row: str) -> str:
    return " || E'\\n' || ".join([
        f"'{VERSION}'",
        *(_pg_field({"seq": f"{row}.seq::text", "at": _PG_AT.format(row=row)}
                    .get(name, f"{row}.{name}::text"))
          for name in FIELDS)]) + "".join(
        f" || CASE WHEN {row}.{name} IS NULL THEN '' ELSE E'\\n' || "
        f"{_pg_field(f'{row}.{name}::text')} END"
        for name in OPTIONAL)
