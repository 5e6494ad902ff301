"""Hot commands: the writes a peak day puts under load (a marriage booking, a lottery
entry), each one statement, and how a refusal of one is settled.

A hot command's request (api.hotpath) runs in a fixed order, and its parts live here
and in the services, once each:

1. authenticate: the citizen's token only; the account's identity is not read
   (`Principal.identity_known` False): the write checks it;
2. key: the Idempotency-Key and the request's fingerprint, nothing read
   (`idempotency.claim`);
3. rules: the service decides what it can before the write (the parties, the
   office's day from a kept read, a full session); a refusal here is a `Refusal`
   with the people the write would have named;
4. write: one statement (a SQL function beside the service) that checks the
   identity rules first (services/citizens.sql), stores the key's record with the
   answer, checks again what was read, writes the rows, their audit row and outbox
   event (services/records.sql); a refusal there is a `Refusal` too, `checked`;
5. refusal: whatever refused the request, `settle` answers it in one statement
   (`command_refused`, services/commands.sql): the identity rules first where the
   write never checked them, then the key's record (a replay, a reuse), else the
   refusal's audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core import prepared
from core.errors import DomainError
from core.prepared import Sql
from core.principal import Principal
from services import audit, citizens, idempotency


class Refusal(Exception):  # noqa: N818 - carries a refusal, is not one
    """A hot command refused by its service: `error`, what the client is told;
    `people`, the blind indexes of the people the write would have named (None while
    unknown); `checked`, whether the write ran, and so checked the account's
    identity rules already."""

    def __init__(self, error: DomainError, *, people: list[str] | None = None,
                 checked: bool = False) -> None:
        super().__init__(error.code)
        self.error = error
        self.people = people
        self.checked = checked


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle` found: an identity refusal that stands `instead`, or the key's
    record (`record`: request hash, status, sealed body, expiry), or neither (the
    refusal stands, audited)."""

    instead: DomainError | None
    record: tuple[Any, ...] | None


_SETTLE = Sql("SELECT * FROM command_refused($1, $2, $3, $4, $5, $6, $7, $8)")


async def settle(session: AsyncSession, *, principal: Principal, code: str,
                 audit_row: tuple | None, claim: idempotency.Claim | None,
                 people: list[str] | None, checked: bool, identity_required: bool,
                 ) -> Settled:
    """Settle a refusal of problem `code` in one statement: see `command_refused`.
    `claim` None: the key is not looked up (a body that failed validation)."""
    db = await prepared.driver(session)
    check = principal.is_citizen and not checked
    row = await db.fetchrow_alone(
        _SETTLE, claim.scope if claim else None, claim.key if claim else None, code,
        audit.as_json([audit_row]) if audit_row is not None else None,
        principal.subject, check, identity_required, people)
    instead = citizens.identity_refusal(row[0]) if row[0] is not None else None
    return Settled(instead, tuple(row[1:]) if row[1] is not None else None)
