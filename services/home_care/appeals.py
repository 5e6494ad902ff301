"""What an appeal (复核, services.appeals) needs of a home-care visit.

- `appealable`: the visit as the citizen sees it (`bookings.BOOKING`'s citizen rule
  decides who may appeal; others get 404), refused only when its correction was
  `rejected` (verification), at `verification_decided_at` by
  `verification_decided_by`; the bureaus in charge are those whose division contains
  the provider's.
- `overturn`: `corrected`, drawing its subsidy as an approved correction does
  (`corrections.overturn_rejection`, the same `verification.settle`).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import NotAppealable
from core.principal import Principal
from core.settings import Settings
from schemas.home_care import VerificationStatus
from services import scopes
from services.home_care import bookings, catalogue, corrections
from services.refusals import Refusal


async def appealable(session: AsyncSession, principal: Principal, booking_id: str) -> Refusal:
    b = await scopes.load(session, principal, bookings.BOOKING, booking_id, audit_read=False)
    if b.verification != VerificationStatus.rejected or b.verification_decided_at is None:
        raise NotAppealable()
    org = await catalogue.provider(session, b.provider_id)
    refusers = (b.verification_decided_by,) if b.verification_decided_by else ()
    return Refusal(refused_at=b.verification_decided_at, division_code=org.division_code,
                   refusers=refusers)


async def overturn(session: AsyncSession, principal: Principal, booking_id: str,
                   settings: Settings, *, refusers: tuple[str, ...] = (),
                   note: str | None = None) -> None:
    await corrections.overturn_rejection(session, principal, booking_id, note)
