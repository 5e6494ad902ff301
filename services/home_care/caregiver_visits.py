"""A caregiver's day: the visits assigned to it on one date, with what it needs to
get there and call ahead.

Which visits are the caregiver's is the `caregiver` rule of `bookings.BOOKING` (the
scope kit decides, as for every other read). The elder's address and phone are read
in full from their encrypted columns, so the read is a staff read of personal data:
audited, once per page, as `home_care_booking.list` of the caregiver
(`scopes.listed`).

Only the visits that hold the caregiver's time (`booked`, `in_service`, `completed`)
are listed: a cancelled visit, or one marked a no-show, is not the caregiver's to go
to, and its elder's address and phone are not shown.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.principal import Principal
from core.protected import ADDRESS, PHONE
from core.settings import Settings
from schemas.common import Page
from schemas.home_care import (
    HOLDING_STATUSES,
    CaregiverVisitPublic,
    HomeCareBooking,
    VisitElder,
)
from services import scopes
from services.home_care import bookings, catalogue


def to_public(b: HomeCareBooking, settings: Settings) -> CaregiverVisitPublic:
    return CaregiverVisitPublic(
        id=b.id, status=b.status, provider_id=b.provider_id, service_code=b.service_code,
        service_name=catalogue.CATALOGUE[b.service_code].name, date=b.visit_date,
        starts_at=b.starts_at, ends_at=b.ends_at, check_in_at=b.check_in_at,
        check_out_at=b.check_out_at,
        elder=VisitElder(name=b.elder_name,
                         phone=PHONE.reveal(b.elder_phone_encrypted, settings),
                         address=ADDRESS.reveal(b.elder_address_encrypted, settings),
                         lat=b.elder_lat, lon=b.elder_lon))


async def day(session: AsyncSession, principal: Principal, settings: Settings, *,
              on: dt.date | None, limit: int,
              cursor: str | None) -> Page[CaregiverVisitPublic]:
    """The caller's (a caregiver's) visits on `on` (China time; None: today),
    earliest first."""
    stmt = scopes.select_visible(bookings.BOOKING, principal).where(
        HomeCareBooking.visit_date == (on or clock.today()),
        HomeCareBooking.status.in_(HOLDING_STATUSES))
    page = await bookings.BY_START.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, bookings.BOOKING, principal.caregiver_id)
    return page.map(lambda b: to_public(b, settings))
