"""Idempotent POSTs (API.md "Write safety").

The record is written in the same transaction as the write it guards: if the
write rolls back, so does the record, and a retry runs afresh. A completed
record replays the first response (same status and body); the same key with
another body is refused; a key whose first request is still running answers
409 `idempotency_in_flight`. "Still running" is a transaction-level advisory lock
on (caller, key).

The stored response is personal data (names, masked numbers, an office's view
of a phone): it is kept AES-GCM encrypted (`seal` / `unseal`), with the caller
and key as associated data, so a stored body read from the database, a backup or
a dump says nothing, and one caller's record never replays as another's.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import prepared
from core.clock import clock
from core.db import sqlstate
from core.errors import IdempotencyInFlight, IdempotencyKeyRequired, IdempotencyKeyReused
from core.prepared import Sql
from core.protected import cipher
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
    # Set by a write that stored the record itself, in its own statement
    # (`record_values`): `complete` then has nothing left to do.
    stored: bool = False

    def record_values(self, status: int, body: str) -> tuple:
        """The record's (request hash, status, sealed body, expires_at) for a write
        that stores it in the same statement as its own rows (a hot command's);
        marks the claim stored."""
        self.stored = True
        return (self.request_hash, status, seal(self.scope, self.key, body),
                clock.now() + timedelta(hours=self.ttl_hours))


def validate_key(key: str | None) -> str:
    if key is None or not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 or c == " "
                                                             for c in key):
        raise IdempotencyKeyRequired()
    return key


def _context(scope: str, key: str) -> str:
    return f"idempotency:{scope}:{key}"


# Stored bodies are compressed before they are encrypted (`z.` then the cipher's
# text): a booking's answer, encrypted as it was, passed PostgreSQL's 2 kB TOAST
# threshold, and every insert then tried (and failed) to compress random bytes.
_COMPRESSED = "z."


def seal(scope: str, key: str, body: str) -> str:
    """A response body as `idempotency_record.response_body` stores it."""
    packed = base64.b64encode(zlib.compress(body.encode(), 1)).decode()
    return _COMPRESSED + cipher().encrypt(packed, context=_context(scope, key))


def is_sealed(stored: str) -> bool:
    """Whether a stored body is sealed (either form), not a clear one of before."""
    return stored.startswith((_COMPRESSED, "v1."))


def unseal(scope: str, key: str, stored: str) -> str:
    if stored.startswith(_COMPRESSED):  # else one sealed before compression
        packed = cipher().decrypt(stored[len(_COMPRESSED):], context=_context(scope, key))
        return zlib.decompress(base64.b64decode(packed)).decode()
    return cipher().decrypt(stored, context=_context(scope, key))


def fingerprint(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(method.encode() + b" " + path.encode() + b"\n")
    h.update(body)
    return h.hexdigest()


# Prepared once per connection (core.prepared): the claim and the stored response
# are on every idempotent request, where SQLAlchemy's per-statement cost showed.
# Take the advisory lock and read the record in one round trip.
_LOCK_AND_SELECT = Sql(
    "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)), "
    "r.request_hash, r.response_status, r.response_body, r.expires_at "
    "FROM (SELECT 1) AS one LEFT JOIN idempotency_record AS r "
    "ON r.scope = $2 AND r.key = $3")
_DELETE = Sql("DELETE FROM idempotency_record WHERE scope = $1 AND key = $2")
# The record, stored with the write (services/idempotency.sql, which the
# one-statement writes call too).
_STORE = Sql("SELECT idempotency_store($1, $2, $3, $4, $5, $6, $7)")
IN_FLIGHT = "HMIF1"  # idempotency_store: the key has a record already


async def begin(session: AsyncSession, *, scope: str, key: str, request_hash: str,
                ttl_hours: int) -> Claim:
    """Claim (scope, key) for this request, or raise Replay / reuse / in-flight.

    Nothing is written here: the record is inserted by `complete`, with the
    response, in the same transaction as the write. While the first request
    runs, the advisory lock stands for it."""
    db = await prepared.driver(session)
    row = await db.fetchrow(_LOCK_AND_SELECT, f"idem:{scope}:{key}", scope, key)
    if not row[0]:
        raise IdempotencyInFlight()
    if row[1] is not None:
        _, stored_hash, status, body, expires_at = row
        if expires_at <= clock.now():
            await db.execute(_DELETE, scope, key)
        elif stored_hash != request_hash:
            raise IdempotencyKeyReused()
        else:
            raise Replay(status, unseal(scope, key, body) if body else "")
    return Claim(scope=scope, key=key, request_hash=request_hash, ttl_hours=ttl_hours)


def claim(*, scope: str, key: str, request_hash: str, ttl_hours: int) -> Claim:
    """A hot command's claim: nothing is read. Its write stores the record in its own
    statement (`idempotency_store`), where an earlier record of the key refuses it,
    and a refused command looks the key up as it is settled (services.commands), so
    a retry still gets the first answer."""
    return Claim(scope=scope, key=key, request_hash=request_hash, ttl_hours=ttl_hours)


async def answer_record(session: AsyncSession, claim: Claim,
                        record: Sequence[Any]) -> NoReturn:
    """A refused hot command's key has a record (services.commands.settle): its first
    answer replayed, or the key's reuse with another body refused; an expired record
    is removed and the request told to try again (409 in flight), so the retry runs
    afresh."""
    stored_hash, status, body, expires_at = record
    if expires_at <= clock.now():
        db = await prepared.driver(session)
        await db.execute_alone(_DELETE, claim.scope, claim.key)
        raise IdempotencyInFlight()
    if stored_hash != claim.request_hash:
        raise IdempotencyKeyReused()
    raise Replay(status, unseal(claim.scope, claim.key, body) if body else "")


async def complete(session: AsyncSession, claim: Claim, status: int, body: bytes) -> None:
    """Store the first response. A first request that committed in
    the instant between this one's snapshot and its lock makes this INSERT
    conflict: nothing of this request is kept, and the caller is told to retry
    (409 in flight), which then replays the first response."""
    if claim.stored:
        return
    now = clock.now()
    db = await prepared.driver(session)
    try:
        await db.execute(_STORE, claim.scope, claim.key, claim.request_hash, status,
                         seal(claim.scope, claim.key, body.decode("utf-8")), now,
                         now + timedelta(hours=claim.ttl_hours))
    except DBAPIError as exc:
        if sqlstate(exc) == IN_FLIGHT:
            raise IdempotencyInFlight() from None
        raise


async def purge_expired(session: AsyncSession) -> int:
    """Tidy-up for a periodic job; correctness never depends on it."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < clock.now())
    )
    return result.rowcount or 0
