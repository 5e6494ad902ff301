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

from sqlalchemy import delete, func, select, text, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock, utc
from core.errors import IdempotencyInFlight, IdempotencyKeyRequired, IdempotencyKeyReused
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


async def begin(session: AsyncSession, *, scope: str, key: str, request_hash: str,
                ttl_hours: int) -> Claim:
    """Claim (scope, key) for this request, or raise Replay / reuse / in-flight."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        locked = (await session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"idem:{scope}:{key}"},
        )).scalar_one()
        if not locked:
            raise IdempotencyInFlight()
    now = clock.now()
    existing = (await session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                        IdempotencyRecord.key == key)
    )).scalar_one_or_none()
    if existing is not None:
        if utc(existing.expires_at) <= now:
            await session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
        elif existing.request_hash != request_hash:
            raise IdempotencyKeyReused()
        elif existing.response_status is None:
            raise IdempotencyInFlight()
        else:
            raise Replay(existing.response_status, existing.response_body or "")
    session.add(IdempotencyRecord(
        scope=scope, key=key, request_hash=request_hash, created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    ))
    await session.flush()
    return Claim(scope=scope, key=key)


async def complete(session: AsyncSession, claim: Claim, status: int, body: bytes) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == claim.scope, IdempotencyRecord.key == claim.key)
        .values(response_status=status, response_body=body.decode("utf-8"))
    )


async def purge_expired(session: AsyncSession) -> int:
    """Tidy-up for a periodic job; correctness never depends on it."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < clock.now())
    )
    return result.rowcount or 0


async def count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(IdempotencyRecord))
            ).scalar_one()
