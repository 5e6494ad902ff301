"""Idempotent POSTs (API.md "Write safety").

The record is written in the same transaction as the write it guards: if the
write rolls back, so does the record, and a retry runs afresh. A completed
record replays the first response (same status and body); the same key with
another body is refused; a key whose first request is still running answers
409 `idempotency_in_flight`. On PostgreSQL "still running" is a transaction-level
advisory lock on (caller, key); on SQLite writers are serialised by
`BEGIN IMMEDIATE`, so the second request simply waits and then replays.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Boolean, Integer, String, Text, bindparam, delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock, utc
from core.db import is_unique_violation
from core.errors import IdempotencyInFlight, IdempotencyKeyRequired, IdempotencyKeyReused
from schemas.common import UTCDateTime
from schemas.idempotency import IdempotencyRecord


class Replay(Exception):  # noqa: N818 - a signal, not an error
    """Raised to short-circuit a request with its stored first response.

    A plain exception on purpose: Starlette clears `__traceback__` on handled
    exceptions, which a frozen dataclass refuses (and the failure used to log
    the stored body, personal data included). Its repr carries no body.
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass(slots=True)
class Claim:
    scope: str
    key: str
    request_hash: str
    ttl_hours: int


def validate_key(key: str | None) -> str:
    if key is None or not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 or c == " "
                                                             for c in key):
        raise IdempotencyKeyRequired()
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(method.encode() + b" " + path.encode() + b"\n")
    h.update(body)
    return h.hexdigest()


_T = IdempotencyRecord.__table__
# Statements built once: per request only the parameters change.
_SELECT = select(_T.c.request_hash, _T.c.response_status, _T.c.response_body,
                 _T.c.expires_at).where(_T.c.scope == bindparam("scope"),
                                        _T.c.key == bindparam("key"))
# PostgreSQL: take the advisory lock and read the record in one round trip.
_LOCK_AND_SELECT = text(
    "SELECT pg_try_advisory_xact_lock(hashtextextended(:lock_key, 0)) AS locked, "
    "r.request_hash, r.response_status, r.response_body, r.expires_at "
    "FROM (SELECT 1) AS one LEFT JOIN idempotency_record AS r "
    "ON r.scope = :scope AND r.key = :key"
).columns(locked=Boolean, request_hash=String, response_status=Integer,
          response_body=Text, expires_at=UTCDateTime)
_DELETE = delete(_T).where(_T.c.scope == bindparam("scope"), _T.c.key == bindparam("key"))
_INSERT = insert(_T)


async def begin(session: AsyncSession, *, scope: str, key: str, request_hash: str,
                ttl_hours: int) -> Claim:
    """Claim (scope, key) for this request, or raise Replay / reuse / in-flight.

    Nothing is written here: the record is inserted by `complete`, with the
    response, in the same transaction as the write. While the first request
    runs, PostgreSQL's advisory lock (or SQLite's single writer) stands for it.
    """
    conn = await session.connection()
    params = {"scope": scope, "key": key}
    if conn.dialect.name == "postgresql":
        row = (await conn.execute(_LOCK_AND_SELECT,
                                  {**params, "lock_key": f"idem:{scope}:{key}"})).one()
        if not row.locked:
            raise IdempotencyInFlight()
        if row.request_hash is None:
            row = None
    else:
        row = (await conn.execute(_SELECT, params)).one_or_none()
    if row is not None:
        if utc(row.expires_at) <= clock.now():
            await conn.execute(_DELETE, params)
        elif row.request_hash != request_hash:
            raise IdempotencyKeyReused()
        else:
            raise Replay(row.response_status, row.response_body or "")
    return Claim(scope=scope, key=key, request_hash=request_hash, ttl_hours=ttl_hours)


async def complete(session: AsyncSession, claim: Claim, status: int, body: bytes) -> None:
    """Store the first response. On PostgreSQL, a first request that committed in
    the instant between this one's snapshot and its lock makes this INSERT
    conflict: nothing of this request is kept, and the caller is told to retry
    (409 in flight), which then replays the first response."""
    now = clock.now()
    conn = await session.connection()
    try:
        await conn.execute(_INSERT, {
            "scope": claim.scope, "key": claim.key, "request_hash": claim.request_hash,
            "response_status": status, "response_body": body.decode("utf-8"),
            "created_at": now, "expires_at": now + timedelta(hours=claim.ttl_hours)})
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise IdempotencyInFlight() from None
        raise


async def purge_expired(session: AsyncSession) -> int:
    """Tidy-up for a periodic job; correctness never depends on it."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < clock.now())
    )
    return result.rowcount or 0
