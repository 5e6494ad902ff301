"""Centre services (day care, community canteen meals): a provider publishes
sessions with a capacity, like registration sessions, and citizens book seats.

A session's seats are the `capacity_slot` row with the session's id: booking takes
one with the capacity service's conditional UPDATE (`booked < capacity`), a
cancellation gives it back at once. One booked seat per elder per session is a
unique partial index on the elder's blind index. Seats are bookable within the
home-care booking window and until the session starts (no minimum notice: a
canteen lunch is booked in the morning).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import CHINA_TZ, clock
from core.errors import (
    CancelReasonRequired,
    DateRangeTooLong,
    DuplicateSeat,
    ElderUnderage,
    NotFound,
    OutsideBookingWindow,
    VisitCancelDeadlinePassed,
)
from core.ids import new_id
from core.principal import Principal
from core.protected import PHONE
from core.settings import Settings
from core.writes import unique_violation
from schemas.common import Page
from schemas.home_care import (
    CentreBookingCreate,
    CentreBookingPublic,
    CentreSessionCreate,
    CentreSessionPublic,
    HomeCareCentreBooking,
    HomeCareCentreSession,
)
from services import audit, capacity, identity, scopes, transitions
from services.home_care import catalogue, rules

SLOT_KIND = "home_care_centre"
MAX_RANGE_DAYS = 31


def _local(d: dt.datetime) -> str:
    return d.astimezone(CHINA_TZ).strftime("%H:%M")


def _bookable(s: HomeCareCentreSession, settings: Settings) -> bool:
    last = clock.today() + dt.timedelta(days=settings.home_care_booking_window_days)
    return clock.now() < s.starts_at and s.session_date <= last


def session_public(s: HomeCareCentreSession, booked: int,
                   settings: Settings) -> CentreSessionPublic:
    remaining = max(s.capacity - booked, 0)
    return CentreSessionPublic(
        id=s.id, provider_id=s.provider_id, service_code=s.service_code, date=s.session_date,
        start=_local(s.starts_at), end=_local(s.ends_at),
        starts_at=s.starts_at, ends_at=s.ends_at,
        capacity=s.capacity, remaining=remaining, price_fen=s.price_fen,
        bookable=remaining > 0 and _bookable(s, settings))


async def publish(session: AsyncSession, principal: Principal, settings: Settings,
                  provider_id: str, body: CentreSessionCreate) -> CentreSessionPublic:
    catalogue.own_provider(principal, provider_id)
    day_start, _ = rules.day_bounds(body.date)
    s = HomeCareCentreSession(
        id=new_id("hcs"), provider_id=provider_id, service_code=body.service_code.value,
        session_date=body.date,
        starts_at=day_start + dt.timedelta(minutes=rules.minutes(body.start)),
        ends_at=day_start + dt.timedelta(minutes=rules.minutes(body.end)),
        capacity=body.capacity, price_fen=body.price_fen, created_at=clock.now())
    session.add(s)
    await session.flush()
    await capacity.ensure(session, s.id, owner_org_id=provider_id, kind=SLOT_KIND,
                          capacity=body.capacity)
    await audit.record(session, principal, "home_care_centre_session.create",
                       "home_care_centre_session", s.id, org_id=provider_id)
    return session_public(s, 0, settings)


SESSION_ORDER = pages.Keyset(pages.Key(HomeCareCentreSession.starts_at, pages.AT),
                             pages.Key(HomeCareCentreSession.id, pages.IdOf("hcs")))


async def list_sessions(session: AsyncSession, settings: Settings, provider_id: str,
                        first: dt.date, last: dt.date, *, limit: int,
                        cursor: str | None) -> Page[CentreSessionPublic]:
    if not 0 <= (last - first).days < MAX_RANGE_DAYS:
        raise DateRangeTooLong(days=MAX_RANGE_DAYS)
    await catalogue.provider(session, provider_id)
    page = await SESSION_ORDER.page(session, select(HomeCareCentreSession).where(
        HomeCareCentreSession.provider_id == provider_id,
        HomeCareCentreSession.session_date >= first,
        HomeCareCentreSession.session_date <= last), limit=limit, cursor=cursor)
    used = await capacity.usage(session, [s.id for s in page.items])
    return page.map(lambda s: session_public(s, used.get(s.id, (0, 0))[1], settings))


async def _session(session: AsyncSession, session_id: str) -> HomeCareCentreSession:
    s = await session.get(HomeCareCentreSession, session_id)
    if s is None:
        raise NotFound(what="centre session")
    return s


async def book(session: AsyncSession, principal: Principal, settings: Settings,
               body: CentreBookingCreate) -> CentreBookingPublic:
    s = await _session(session, body.session_id)
    if not _bookable(s, settings):
        raise OutsideBookingWindow(opens_days=settings.home_care_booking_window_days,
                                   notice_hours=0)
    idn, prot = identity.protect_input(body.elder.id_number, field="elder.id_number")
    if idn.age_on(s.session_date) < settings.home_care_min_elder_age:
        raise ElderUnderage(min_age=settings.home_care_min_elder_age)
    phone = PHONE.protect(body.elder.phone, settings, field="elder.phone")
    remaining = await capacity.take(session, s.id)
    now = clock.now()
    delegation_id = await scopes.acting_for(session, principal, SEAT, prot.blind_index)
    b = HomeCareCentreBooking(
        id=new_id("hccb"), session_id=s.id, provider_id=s.provider_id, status="booked",
        citizen_subject=principal.subject, delegation_id=delegation_id,
        elder_name=body.elder.name,
        elder_id_encrypted=prot.encrypted, elder_id_blind=prot.blind_index or "",
        elder_id_masked=prot.masked, elder_phone_encrypted=phone.encrypted,
        elder_phone_masked=phone.masked, created_at=now, updated_at=now)
    session.add(b)
    with unique_violation(DuplicateSeat(), constraint="uq_home_care_centre_booking_elder_session"):
        await session.flush()
    await audit.record(session, principal, "home_care_centre_booking.create",
                       "home_care_centre_booking", b.id, org_id=s.provider_id)
    return booking_public(b, s, s.capacity - remaining, settings)


def booking_public(b: HomeCareCentreBooking, s: HomeCareCentreSession, booked: int,
                   settings: Settings) -> CentreBookingPublic:
    return CentreBookingPublic(
        id=b.id, status=b.status, session=session_public(s, booked, settings),
        elder_name=b.elder_name, id_number_masked=b.elder_id_masked,
        phone_masked=b.elder_phone_masked, cancelled_at=b.cancelled_at,
        cancelled_by=b.cancelled_by, cancel_reason=b.cancel_reason, created_at=b.created_at,
        delegation_id=b.delegation_id)


SEAT = scopes.Resource(
    model=HomeCareCentreBooking, noun="centre booking", audit_type="home_care_centre_booking",
    rules={"citizen": scopes.own_party_or_delegated(
               HomeCareCentreBooking.citizen_subject, HomeCareCentreBooking.elder_id_blind,
               "home_care", HomeCareCentreBooking.delegation_id),
           "provider": scopes.of_org(HomeCareCentreBooking.provider_id)},
    org_attr="provider_id")
LIFE = transitions.Machine(SEAT, {
    "cancel": transitions.Transition(frm={"booked"}, to="cancelled", stamp="cancelled_at"),
}, touched="updated_at")


async def _public(session: AsyncSession, settings: Settings,
                  b: HomeCareCentreBooking) -> CentreBookingPublic:
    s = await _session(session, b.session_id)
    used = await capacity.usage(session, [s.id])
    return booking_public(b, s, used.get(s.id, (0, 0))[1], settings)


async def get(session: AsyncSession, principal: Principal, settings: Settings,
              booking_id: str) -> CentreBookingPublic:
    return await _public(session, settings, await scopes.load(session, principal, SEAT,
                                                              booking_id))


async def cancel(session: AsyncSession, principal: Principal, settings: Settings,
                 booking_id: str, reason: str | None) -> CentreBookingPublic:
    """The citizen until the session starts; the provider, with a reason, until it
    ends. The seat goes back to the pool at once."""
    b = await scopes.load(session, principal, SEAT, booking_id, audit_read=False)
    s = await _session(session, b.session_id)

    def guard(_obj: HomeCareCentreBooking) -> None:
        now = clock.now()
        if principal.is_citizen and now >= s.starts_at:
            raise VisitCancelDeadlinePassed(hours=0)
        if not principal.is_citizen:
            if not reason:
                raise CancelReasonRequired()
            if now >= s.ends_at:
                raise VisitCancelDeadlinePassed(hours=0)

    b = await LIFE.move(session, principal, b, "cancel", guard=guard, values={
        "cancelled_by": "citizen" if principal.is_citizen else "provider",
        "cancel_reason": reason})
    await capacity.give_back(session, s.id)
    return await _public(session, settings, b)


BOOKING_ORDER = pages.Keyset(pages.Key(HomeCareCentreBooking.id, pages.IdOf("hccb")))


async def list_bookings(session: AsyncSession, principal: Principal, settings: Settings, *,
                        session_id: str | None, limit: int,
                        cursor: str | None) -> Page[CentreBookingPublic]:
    stmt = scopes.select_visible(SEAT, principal)
    if session_id is not None:
        stmt = stmt.where(HomeCareCentreBooking.session_id == session_id)
    page = await BOOKING_ORDER.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, SEAT, principal.org_id)
    sessions = {s.id: s for s in (await session.execute(select(HomeCareCentreSession).where(
        HomeCareCentreSession.id.in_({b.session_id for b in page.items})))).scalars()}
    used = await capacity.usage(session, list(sessions))
    return page.map(lambda b: booking_public(b, sessions[b.session_id],
                                             used.get(b.session_id, (0, 0))[1], settings))
