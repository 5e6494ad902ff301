"""What an appeal (复核, services.appeals) needs of a burial claim.

- `appealable`: the claim as the citizen sees it (`lifecycle.CLAIM`'s citizen rule
  decides who may appeal; others get 404), refused only when `rejected`, at review
  (`reviewed_at`) or by the approver (`decided_at`); the bureaus in charge are those
  whose division contains the claim's household division. Refusers: the reviewer and,
  when the approver rejected it, the approver too (the reviewer passed it on to that
  refusal).
- `overturn`: back to `submitted` (`claims.reopen_on_appeal`), with the refusers
  barred from reviewing or approving it again (403 `separation_of_duties`).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotAppealable
from core.principal import Principal
from core.settings import Settings
from schemas.burial import ClaimStatus
from services import scopes
from services.burial import claims
from services.burial.lifecycle import CLAIM
from services.refusals import Refusal


async def appealable(session: AsyncSession, principal: Principal, claim_id: str) -> Refusal:
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    refused_at = claim.decided_at or claim.reviewed_at
    if claim.status != ClaimStatus.rejected or refused_at is None:
        raise NotAppealable()
    refusers = tuple(s for s in (claim.reviewed_by, claim.decided_by) if s)
    return Refusal(refused_at=refused_at, division_code=claim.division_code,
                   refusers=refusers)


async def overturn(session: AsyncSession, principal: Principal, claim_id: str,
                   settings: Settings, *, refusers: tuple[str, ...] = (),
                   note: str | None = None) -> None:
    await claims.reopen_on_appeal(session, principal, claim_id, refusers, note)
