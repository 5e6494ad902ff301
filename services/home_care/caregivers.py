"""A provider's caregivers: skills, weekly hours, leave, deactivation.

A change never silently strands a booked visit: new hours or skills that a future
visit no longer fits, leave over a visit, or deactivation answer 409
`bookings_affected` with `affected_bookings`, unless the request says
`cancel_affected` (the kit's `services.stranding`), when those visits are cancelled
by the provider with reason `caregiver_unavailable`.

Every change locks the caregiver's row first (the UPDATE itself), the same row
booking locks, so a booking and a change of that caregiver never interleave.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, and_, cast, delete, func, not_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import BookingsAffected, NotFound
from core.ids import new_id
from core.principal import Principal
from core.writes import versioned_update
from schemas.common import Page
from schemas.home_care import (
    BookingStatus,
    CancelAffectedIn,
    CaregiverCreate,
    CaregiverPublic,
    CaregiverUpdate,
    HomeCareBooking,
    HomeCareCaregiver,
    HomeCareTimeOff,
    TimeOffCreate,
    TimeOffPublic,
)
from services import audit, stranding
from services.etag import etag
from services.home_care import events
from services.home_care.catalogue import own_provider

CANCEL_REASON = "caregiver_unavailable"


def caregiver_etag(c: HomeCareCaregiver) -> str:
    return etag(c.id, c.version)


def to_public(c: HomeCareCaregiver) -> CaregiverPublic:
    return CaregiverPublic(id=c.id, provider_id=c.provider_id, name=c.name, skills=c.skills,
                           weekly_hours=c.weekly_hours, active=c.active,
                           etag=caregiver_etag(c), created_at=c.created_at,
                           updated_at=c.updated_at)


def _hours(body_hours: list[Any]) -> list[dict]:
    return sorted((h.model_dump() for h in body_hours),
                  key=lambda h: (h["weekday"], h["start"]))


async def create(session: AsyncSession, principal: Principal, provider_id: str,
                 body: CaregiverCreate) -> HomeCareCaregiver:
    own_provider(principal, provider_id)
    now = clock.now()
    c = HomeCareCaregiver(id=new_id("hcg"), provider_id=provider_id, name=body.name,
                          skills=sorted({s.value for s in body.skills}),
                          weekly_hours=_hours(body.weekly_hours), active=True,
                          created_at=now, updated_at=now)
    session.add(c)
    await session.flush()
    await audit.record(session, principal, "home_care_caregiver.create", "home_care_caregiver",
                       c.id, org_id=provider_id)
    return c


async def get(session: AsyncSession, principal: Principal, provider_id: str,
              caregiver_id: str) -> HomeCareCaregiver:
    own_provider(principal, provider_id)
    c = (await session.execute(
        select(HomeCareCaregiver).where(HomeCareCaregiver.id == caregiver_id,
                                        HomeCareCaregiver.provider_id == provider_id)
        .execution_options(populate_existing=True))).scalar_one_or_none()
    if c is None:
        raise NotFound(what="caregiver")
    return c


BY_ID = pages.Keyset(pages.Key(HomeCareCaregiver.id, pages.IdOf("hcg")))


async def list_(session: AsyncSession, principal: Principal, provider_id: str, *,
                active: bool | None, limit: int, cursor: str | None) -> Page[CaregiverPublic]:
    own_provider(principal, provider_id)
    stmt = select(HomeCareCaregiver).where(HomeCareCaregiver.provider_id == provider_id)
    if active is not None:
        stmt = stmt.where(HomeCareCaregiver.active == active)
    return (await BY_ID.page(session, stmt, limit=limit, cursor=cursor)).map(to_public)


async def lock(session: AsyncSession, caregiver_id: str,
               provider_id: str | None = None) -> Any | None:
    """Take the caregiver's row (a conditional UPDATE: the row lock) and read it as
    it now is, in the same statement (RETURNING id, provider_id, name, skills,
    weekly_hours); None when the caregiver is not active (or not `provider_id`'s)."""
    conditions = [HomeCareCaregiver.id == caregiver_id, HomeCareCaregiver.active.is_(True)]
    if provider_id is not None:
        conditions.append(HomeCareCaregiver.provider_id == provider_id)
    return (await session.execute(
        update(HomeCareCaregiver).where(*conditions)
        .values(lock_seq=HomeCareCaregiver.lock_seq + 1)
        .returning(HomeCareCaregiver.id, HomeCareCaregiver.provider_id,
                   HomeCareCaregiver.name, HomeCareCaregiver.skills,
                   HomeCareCaregiver.weekly_hours)
        .execution_options(synchronize_session=False))).one_or_none()


async def _future_booked(session: AsyncSession, caregiver_id: str,
                         *stranded: Any) -> list[HomeCareBooking]:
    """The caregiver's booked visits still ahead (those `stranded` too, when given)."""
    return list((await session.execute(
        select(HomeCareBooking)
        .join(HomeCareCaregiver, HomeCareCaregiver.id == HomeCareBooking.caregiver_id)
        .where(HomeCareBooking.caregiver_id == caregiver_id,
               HomeCareBooking.status == BookingStatus.booked,
               HomeCareBooking.starts_at > clock.now(), *stranded)
        .order_by(HomeCareBooking.starts_at, HomeCareBooking.id))).scalars())


# What a change strands, asked of the rules of services/home_care/rules.sql (the
# ones booking asks): a visit the caregiver's skills and hours, as they now are in
# this transaction, no longer serve ...
_OUTSIDE_SKILLS_OR_HOURS = not_(and_(
    func.home_care_skilled(HomeCareCaregiver.skills, HomeCareBooking.service_code),
    func.home_care_within(HomeCareCaregiver.week_minutes,
                          func.home_care_minute_of_week(HomeCareBooking.starts_at),
                          cast(func.extract("epoch", HomeCareBooking.ends_at
                                            - HomeCareBooking.starts_at) / 60, Integer))))


def _touching_leave(starts_at: dt.datetime, ends_at: dt.datetime) -> Any:
    """... and a visit that is not clear of new leave."""
    return not_(func.home_care_clear(
        HomeCareBooking.starts_at, HomeCareBooking.ends_at, HomeCareBooking.starts_at,
        func.tstzmultirange(), func.tstzmultirange(func.tstzrange(starts_at, ends_at))))


async def _settle(session: AsyncSession, principal: Principal, stranded: list[HomeCareBooking],
                  cancel: bool) -> int:
    """Refuse (409 with the number) or cancel the stranded visits; how many were."""
    if not stranding.refuse_or_cancel(len(stranded), cancel=cancel, error=BookingsAffected,
                                      affected_field="affected_bookings"):
        return 0
    now = clock.now()
    done = list((await session.execute(
        update(HomeCareBooking)
        .where(HomeCareBooking.id.in_([b.id for b in stranded]),
               HomeCareBooking.status == BookingStatus.booked)
        .values(status=BookingStatus.cancelled, cancelled_at=now, cancelled_by="provider",
                cancel_reason=CANCEL_REASON, updated_at=now)
        .returning(HomeCareBooking.id, HomeCareBooking.provider_id)
        .execution_options(synchronize_session=False))).all())
    for booking_id, provider_id in done:
        await audit.record(session, principal, "home_care_booking.cancel", "home_care_booking",
                           booking_id, outcome=f"success:{CANCEL_REASON}", org_id=provider_id)
    await events.emit_cancelled(session, [booking_id for booking_id, _ in done])
    return len(done)


async def update_(session: AsyncSession, principal: Principal, provider_id: str,
                  caregiver_id: str, body: CaregiverUpdate,
                  if_match: str | None) -> HomeCareCaregiver:
    c = await get(session, principal, provider_id, caregiver_id)
    changes: dict[str, Any] = {"updated_at": clock.now()}
    if body.name is not None:
        changes["name"] = body.name
    if body.skills is not None:
        changes["skills"] = sorted({s.value for s in body.skills})
    if body.weekly_hours is not None:
        changes["weekly_hours"] = _hours(body.weekly_hours)
    c = await versioned_update(session, c, if_match=if_match, etag=caregiver_etag,
                               values=changes)
    stranded = await _future_booked(session, c.id, _OUTSIDE_SKILLS_OR_HOURS)
    await _settle(session, principal, stranded, body.cancel_affected)
    await audit.record(session, principal, "home_care_caregiver.update", "home_care_caregiver",
                       c.id, org_id=provider_id)
    return c


async def deactivate(session: AsyncSession, principal: Principal, provider_id: str,
                     caregiver_id: str, body: CancelAffectedIn) -> HomeCareCaregiver:
    c = await get(session, principal, provider_id, caregiver_id)
    await session.execute(
        update(HomeCareCaregiver).where(HomeCareCaregiver.id == c.id)
        .values(active=False, version=HomeCareCaregiver.version + 1, updated_at=clock.now())
        .execution_options(synchronize_session=False))
    await _settle(session, principal, await _future_booked(session, c.id), body.cancel_affected)
    await audit.record(session, principal, "home_care_caregiver.deactivate",
                       "home_care_caregiver", c.id, org_id=provider_id)
    return await get(session, principal, provider_id, caregiver_id)


async def add_time_off(session: AsyncSession, principal: Principal, provider_id: str,
                       caregiver_id: str, body: TimeOffCreate) -> TimeOffPublic:
    c = await get(session, principal, provider_id, caregiver_id)
    await lock(session, c.id)  # bookings of this caregiver wait (or are seen)
    assert body.starts_at is not None and body.ends_at is not None  # the model's validator
    t = HomeCareTimeOff(id=new_id("hto"), caregiver_id=c.id, provider_id=provider_id,
                        starts_at=body.starts_at.astimezone(dt.UTC),
                        ends_at=body.ends_at.astimezone(dt.UTC), reason=body.reason,
                        created_at=clock.now())
    stranded = await _future_booked(session, c.id, _touching_leave(t.starts_at, t.ends_at))
    cancelled = await _settle(session, principal, stranded, body.cancel_affected)
    session.add(t)
    await session.flush()
    await audit.record(session, principal, "home_care_time_off.create", "home_care_time_off",
                       t.id, org_id=provider_id)
    return _time_off_public(t, cancelled)


def _time_off_public(t: HomeCareTimeOff, cancelled: int = 0) -> TimeOffPublic:
    return TimeOffPublic(id=t.id, caregiver_id=t.caregiver_id, starts_at=t.starts_at,
                         ends_at=t.ends_at, reason=t.reason, cancelled_bookings=cancelled)


TIME_OFF_ORDER = pages.Keyset(pages.Key(HomeCareTimeOff.starts_at, pages.AT),
                              pages.Key(HomeCareTimeOff.id, pages.IdOf("hto")))


async def list_time_off(session: AsyncSession, principal: Principal, provider_id: str,
                        caregiver_id: str, *, limit: int,
                        cursor: str | None) -> Page[TimeOffPublic]:
    c = await get(session, principal, provider_id, caregiver_id)
    page = await TIME_OFF_ORDER.page(session, select(HomeCareTimeOff).where(
        HomeCareTimeOff.caregiver_id == c.id), limit=limit, cursor=cursor)
    return page.map(_time_off_public)


async def remove_time_off(session: AsyncSession, principal: Principal, provider_id: str,
                          caregiver_id: str, time_off_id: str) -> None:
    """Leave taken back: the time is bookable again."""
    c = await get(session, principal, provider_id, caregiver_id)
    result = await session.execute(delete(HomeCareTimeOff).where(
        HomeCareTimeOff.id == time_off_id, HomeCareTimeOff.caregiver_id == c.id))
    if result.rowcount != 1:
        raise NotFound(what="time off")
    await audit.record(session, principal, "home_care_time_off.delete", "home_care_time_off",
                       time_off_id, org_id=provider_id)
