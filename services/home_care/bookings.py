"""Visits at the elder's home: availability, booking, and the service record.

**Availability** (public): for a provider, service and date, the start times on the
grid (`HUIMIN_HOME_CARE_GRID_MINUTES`, 30) from which at least one active caregiver
with the skill is free for the whole visit: inside their weekly hours, not on
leave, and clear of their other visits by the travel buffer before and after. Only
times at least `MIN_NOTICE_HOURS` ahead and dates within `BOOKING_WINDOW_DAYS`.

**Booking**: the caregiver asked for, or else the least-booked skilled caregiver
that day (fewest visits holding time that local date; ties by id), so work is
spread fairly. For each candidate in that order, its row is locked (a conditional
UPDATE, `caregivers.lock`) and only then are its visits and leave read: a second
booking of that caregiver waits for the first to commit and then sees it. On
PostgreSQL the exclusion constraint over `[starts_at, blocked_until)` backs this.
None fits: 409 `no_caregiver_available`.

**Record**: check-in (provider, on the visit's day, within the check-in window of
its start) -> `in_service`; check-out -> `completed`, paid from the month's
allowance first (`subsidies.pay`); locations far from the elder's (or else the
provider's) known location set `location_flagged`, never refuse. `no_show` by the
provider once the visit's end has passed; `cancel` by the citizen until the
deadline, by the provider with a reason; `rate` once, by the booking citizen,
after completion.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import CHINA_TZ, clock
from core.errors import (
    AlreadyRated,
    CancelReasonRequired,
    CheckInOutsideWindow,
    ElderUnderage,
    InvalidStartTime,
    NoCaregiverAvailable,
    OutsideBookingWindow,
    VisitCancelDeadlinePassed,
    VisitNotEnded,
)
from core.ids import new_id
from core.principal import Principal
from core.protected import ADDRESS, PHONE
from core.settings import Settings
from schemas.common import Page
from schemas.home_care import (
    HOLDING_STATUSES,
    AvailabilityPublic,
    BookingCreate,
    BookingPublic,
    BookingStatus,
    CancelIn,
    CaregiverRef,
    ElderPublic,
    HomeCareBooking,
    HomeCareCaregiver,
    HomeCareTimeOff,
    LedgerEntryPublic,
    LocationIn,
    RatingIn,
    ServiceCode,
)
from services import audit, identity, scopes, transitions
from services.home_care import caregivers, catalogue, events, providers, rules, subsidies

S = BookingStatus


# --- availability ------------------------------------------------------------------


def _buffer(settings: Settings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.home_care_travel_buffer_minutes)


async def _day_context(session: AsyncSession, caregiver_ids: list[str], day: dt.date,
                       settings: Settings) -> tuple[dict[str, list[rules.Interval]],
                                                    dict[str, list[rules.Interval]]]:
    """Each caregiver's buffered visits and leave around `day` (a day either side)."""
    lo, hi = rules.day_bounds(day)
    lo, hi = lo - dt.timedelta(days=1), hi + dt.timedelta(days=1)
    visits: dict[str, list[rules.Interval]] = {c: [] for c in caregiver_ids}
    leave: dict[str, list[rules.Interval]] = {c: [] for c in caregiver_ids}
    if not caregiver_ids:
        return visits, leave
    for cid, s, b in (await session.execute(
            select(HomeCareBooking.caregiver_id, HomeCareBooking.starts_at,
                   HomeCareBooking.blocked_until)
            .where(HomeCareBooking.caregiver_id.in_(caregiver_ids),
                   HomeCareBooking.status.in_(HOLDING_STATUSES),
                   HomeCareBooking.starts_at < hi, HomeCareBooking.blocked_until > lo))).all():
        visits[cid].append((s, b))
    for cid, s, e in (await session.execute(
            select(HomeCareTimeOff.caregiver_id, HomeCareTimeOff.starts_at,
                   HomeCareTimeOff.ends_at)
            .where(HomeCareTimeOff.caregiver_id.in_(caregiver_ids),
                   HomeCareTimeOff.starts_at < hi, HomeCareTimeOff.ends_at > lo))).all():
        leave[cid].append((s, e))
    return visits, leave


def _bookable(starts_at: dt.datetime, settings: Settings) -> bool:
    now = clock.now()
    last_day = clock.today() + dt.timedelta(days=settings.home_care_booking_window_days)
    return (starts_at >= now + dt.timedelta(hours=settings.home_care_min_notice_hours)
            and starts_at.astimezone(CHINA_TZ).date() <= last_day)


async def _skilled(session: AsyncSession, provider_id: str,
                   service: str) -> list[HomeCareCaregiver]:
    rows = (await session.execute(
        select(HomeCareCaregiver).where(HomeCareCaregiver.provider_id == provider_id,
                                        HomeCareCaregiver.active.is_(True))
        .order_by(HomeCareCaregiver.id))).scalars()
    return [c for c in rows if service in c.skills]


async def availability(session: AsyncSession, settings: Settings, provider_id: str,
                       service: ServiceCode, day: dt.date) -> AvailabilityPublic:
    await catalogue.provider(session, provider_id)
    offering = await catalogue.get_offering(session, provider_id, service.value)
    duration = dt.timedelta(minutes=offering.duration_minutes)
    buffer = _buffer(settings)
    staff = await _skilled(session, provider_id, service.value)
    visits, leave = await _day_context(session, [c.id for c in staff], day, settings)
    day_start, day_end = rules.day_bounds(day)
    step = dt.timedelta(minutes=settings.home_care_grid_minutes)
    found: list[dt.datetime] = []
    t = day_start
    while t + duration <= day_end:
        end = t + duration
        if _bookable(t, settings) and any(
                rules.fits(c.skills, c.weekly_hours, service.value, t, end, end + buffer,
                           visits=visits[c.id], leave=leave[c.id]) for c in staff):
            found.append(t)
        t += step
    return AvailabilityPublic(
        provider_id=provider_id, service_code=service, date=day,
        duration_minutes=offering.duration_minutes, price_fen=offering.price_fen,
        start_times=[x.astimezone(CHINA_TZ).strftime("%H:%M") for x in found],
        starts_at=[x.astimezone(CHINA_TZ) for x in found])


# --- booking -------------------------------------------------------------------------


async def _visits_that_day(session: AsyncSession, caregiver_ids: list[str],
                           day: dt.date) -> Counter[str]:
    rows = (await session.execute(
        select(HomeCareBooking.caregiver_id, func.count())
        .where(HomeCareBooking.caregiver_id.in_(caregiver_ids),
               HomeCareBooking.visit_date == day,
               HomeCareBooking.status.in_(HOLDING_STATUSES))
        .group_by(HomeCareBooking.caregiver_id))).all()
    return Counter({cid: n for cid, n in rows})


async def book(session: AsyncSession, principal: Principal, settings: Settings,
               body: BookingCreate) -> tuple[HomeCareBooking, str]:
    await catalogue.provider(session, body.provider_id)
    offering = await catalogue.get_offering(session, body.provider_id, body.service_code.value)
    starts_at = body.start_at.astimezone(dt.UTC)
    local = starts_at.astimezone(CHINA_TZ)
    grid = settings.home_care_grid_minutes
    if local.second or local.microsecond or (local.hour * 60 + local.minute) % grid:
        raise InvalidStartTime(minutes=grid)
    if not _bookable(starts_at, settings):
        raise OutsideBookingWindow(opens_days=settings.home_care_booking_window_days,
                                   notice_hours=settings.home_care_min_notice_hours)
    day = local.date()
    idn = identity.parse(body.elder.id_number, field="elder.id_number")
    if idn.age_on(day) < settings.home_care_min_elder_age:
        raise ElderUnderage(min_age=settings.home_care_min_elder_age)
    elder_id = identity.protect(idn, settings)
    phone = PHONE.protect(body.elder.phone, settings, field="elder.phone")
    address = ADDRESS.protect(body.elder.address, settings, field="elder.address")
    ends_at = starts_at + dt.timedelta(minutes=offering.duration_minutes)
    blocked_until = ends_at + _buffer(settings)

    if body.caregiver_id is not None:
        candidates = [body.caregiver_id]
    else:
        staff = await _skilled(session, body.provider_id, body.service_code.value)
        load = await _visits_that_day(session, [c.id for c in staff], day)
        candidates = [c.id for c in sorted(staff, key=lambda c: (load[c.id], c.id))]
    chosen: Any = None
    for cid in candidates:
        c = await caregivers.lock(session, cid, body.provider_id)
        if c is None:
            continue
        visits, leave = await _day_context(session, [c.id], day, settings)
        if rules.fits(c.skills, c.weekly_hours, body.service_code.value, starts_at, ends_at,
                      blocked_until, visits=visits[c.id], leave=leave[c.id]):
            chosen = c
            break
    if chosen is None:
        raise NoCaregiverAvailable()
    now = clock.now()
    values = dict(
        id=new_id("hcb"), provider_id=body.provider_id, caregiver_id=chosen.id,
        service_code=body.service_code.value, status=S.booked,
        citizen_subject=principal.subject, visit_date=day, starts_at=starts_at,
        ends_at=ends_at, blocked_until=blocked_until, price_fen=offering.price_fen,
        elder_name=body.elder.name, elder_id_encrypted=elder_id.encrypted,
        elder_id_blind=elder_id.blind_index or "", elder_id_masked=elder_id.masked,
        elder_phone_encrypted=phone.encrypted, elder_phone_masked=phone.masked,
        elder_address_encrypted=address.encrypted, elder_address_masked=address.masked,
        elder_lat=body.elder.lat, elder_lon=body.elder.lon, location_flagged=False,
        created_at=now, updated_at=now)
    try:
        # A Core INSERT of a plain row: nothing for the session to track or flush.
        await session.execute(_INSERT_BOOKING, values)
    except IntegrityError as exc:  # the PostgreSQL exclusion constraint, as a backstop
        if "ex_home_care_booking_caregiver_time" in str(exc.orig):
            raise NoCaregiverAvailable() from None
        raise
    booking = HomeCareBooking.model_construct(**values)
    await audit.record(session, principal, "home_care_booking.create", "home_care_booking",
                       booking.id, org_id=body.provider_id)
    await events.BOOKING.emit(session, "booked", booking)
    return booking, chosen.name


_INSERT_BOOKING = insert(HomeCareBooking.__table__)  # type: ignore[attr-defined]


# --- who sees a visit, and its life ----------------------------------------------------

BOOKING = scopes.Resource(
    model=HomeCareBooking, noun="home-care booking", audit_type="home_care_booking",
    rules={"citizen": scopes.own(HomeCareBooking.citizen_subject),
           "provider": scopes.of_org(HomeCareBooking.provider_id)},
    org_attr="provider_id")

T = transitions.Transition
LIFE = transitions.Machine(BOOKING, {
    "check_in": T(frm={S.booked}, to=S.in_service, stamp="check_in_at"),
    "check_out": T(frm={S.in_service}, to=S.completed, stamp="check_out_at"),
    "no_show": T(frm={S.booked}, to=S.no_show, stamp="no_show_at"),
    "cancel": T(frm={S.booked}, to=S.cancelled, stamp="cancelled_at"),
    "rate": T(frm={S.completed}, to=None, stamp="rated_at"),
}, touched="updated_at")
LIFE.emits(events.BOOKING, {"cancel": "cancelled", "check_out": "completed"})


def cancel_deadline(b: HomeCareBooking, settings: Settings) -> dt.datetime:
    return b.starts_at - dt.timedelta(hours=settings.home_care_cancel_deadline_hours)


async def _names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(HomeCareCaregiver.id, HomeCareCaregiver.name)
                                       .where(HomeCareCaregiver.id.in_(ids)))).all())


def to_public(b: HomeCareBooking, caregiver_name: str, settings: Settings,
              viewer: Principal) -> BookingPublic:
    """The visit as `viewer` sees it: the elder's phone in full only to the provider
    (whose caregiver must be able to call the family), masked to everyone else."""
    return BookingPublic(
        id=b.id, status=b.status, provider_id=b.provider_id, service_code=b.service_code,
        caregiver=CaregiverRef(id=b.caregiver_id, name=caregiver_name), date=b.visit_date,
        starts_at=b.starts_at.astimezone(CHINA_TZ), ends_at=b.ends_at.astimezone(CHINA_TZ),
        price_fen=b.price_fen,
        elder=ElderPublic(name=b.elder_name, id_number_masked=b.elder_id_masked,
                          phone_masked=b.elder_phone_masked,
                          phone=PHONE.reveal(b.elder_phone_encrypted, settings)
                          if viewer.role == "provider" else None,
                          address_masked=b.elder_address_masked),
        cancel_deadline_at=cancel_deadline(b, settings).astimezone(CHINA_TZ),
        check_in_at=b.check_in_at, check_out_at=b.check_out_at,
        location_flagged=b.location_flagged, completed_at=b.completed_at,
        no_show_at=b.no_show_at, cancelled_at=b.cancelled_at, cancelled_by=b.cancelled_by,
        cancel_reason=b.cancel_reason, subsidy_paid_fen=b.subsidy_paid_fen,
        family_paid_fen=b.family_paid_fen, rating_stars=b.rating_stars,
        rating_comment=b.rating_comment, created_at=b.created_at)


async def public(session: AsyncSession, settings: Settings, viewer: Principal,
                 b: HomeCareBooking) -> BookingPublic:
    names = await _names(session, {b.caregiver_id})
    return to_public(b, names.get(b.caregiver_id, ""), settings, viewer)


async def get(session: AsyncSession, principal: Principal, booking_id: str) -> HomeCareBooking:
    return await scopes.load(session, principal, BOOKING, booking_id)


async def _far(session: AsyncSession, settings: Settings, b: HomeCareBooking,
               at: LocationIn) -> bool:
    """Far from the elder's known location, or (unknown) from the provider's."""
    if b.elder_lat is not None and b.elder_lon is not None:
        return rules.distance_km(at.lat, at.lon, b.elder_lat, b.elder_lon) \
            > settings.home_care_location_tolerance_km
    org = await catalogue.provider(session, b.provider_id)
    if org.lat is not None and org.lon is not None:
        return rules.distance_km(at.lat, at.lon, org.lat, org.lon) \
            > settings.home_care_service_radius_km
    return False


async def check_in(session: AsyncSession, principal: Principal, settings: Settings,
                   booking_id: str, at: LocationIn) -> HomeCareBooking:
    b = await scopes.load(session, principal, BOOKING, booking_id, audit_read=False)
    window = dt.timedelta(minutes=settings.home_care_check_in_window_minutes)

    def guard(obj: HomeCareBooking) -> None:
        now = clock.now()
        if clock.today() != obj.visit_date or not (
                obj.starts_at - window <= now <= obj.starts_at + window):
            raise CheckInOutsideWindow(minutes=settings.home_care_check_in_window_minutes)

    far = await _far(session, settings, b, at)
    return await LIFE.move(session, principal, b, "check_in", guard=guard, values={
        "check_in_lat": at.lat, "check_in_lon": at.lon, "location_flagged": far})


async def check_out(session: AsyncSession, principal: Principal, settings: Settings,
                    booking_id: str, at: LocationIn) -> HomeCareBooking:
    b = await scopes.load(session, principal, BOOKING, booking_id, audit_read=False)
    far = await _far(session, settings, b, at)
    now = clock.now()
    b = await LIFE.move(session, principal, b, "check_out", values={
        "check_out_lat": at.lat, "check_out_lon": at.lon, "completed_at": now,
        "location_flagged": b.location_flagged or far})
    # Only the winner of the move pays; in the same transaction.
    subsidy, family = await subsidies.pay(session, elder_blind=b.elder_id_blind,
                                          elder_masked=b.elder_id_masked, day=b.visit_date,
                                          price_fen=b.price_fen)
    b.subsidy_paid_fen, b.family_paid_fen = subsidy, family
    await session.flush()
    return b


async def no_show(session: AsyncSession, principal: Principal,
                  booking_id: str) -> HomeCareBooking:
    def guard(obj: HomeCareBooking) -> None:
        if clock.now() < obj.ends_at:
            raise VisitNotEnded(ends_at=obj.ends_at.astimezone(CHINA_TZ).strftime(
                "%Y-%m-%d %H:%M"))
    return await LIFE.apply(session, principal, booking_id, "no_show", guard=guard)


async def cancel(session: AsyncSession, principal: Principal, settings: Settings,
                 booking_id: str, body: CancelIn | None) -> HomeCareBooking:
    reason = body.reason if body is not None else None
    values: dict[str, Any]
    if principal.is_citizen:
        def guard(obj: HomeCareBooking) -> None:
            if clock.now() > cancel_deadline(obj, settings):
                raise VisitCancelDeadlinePassed(hours=settings.home_care_cancel_deadline_hours)
        values = {"cancelled_by": "citizen", "cancel_reason": reason}
    else:
        def guard(obj: HomeCareBooking) -> None:
            if not reason:
                raise CancelReasonRequired()
        values = {"cancelled_by": "provider", "cancel_reason": reason}
    return await LIFE.apply(session, principal, booking_id, "cancel", guard=guard,
                            values=values)


async def rate(session: AsyncSession, principal: Principal, booking_id: str,
               body: RatingIn) -> HomeCareBooking:
    def guard(obj: HomeCareBooking) -> None:
        if obj.rated_at is not None:
            raise AlreadyRated()
    b = await LIFE.apply(session, principal, booking_id, "rate", guard=guard,
                         values={"rating_stars": body.stars,
                                 "rating_comment": body.comment},
                         where=[HomeCareBooking.rated_at.is_(None)])
    # The provider directory's count, in the same transaction (providers.count_rating).
    await providers.count_rating(session, b.provider_id, body.stars)
    return b


# --- lists ------------------------------------------------------------------------------

BY_START = pages.Keyset(pages.Key(HomeCareBooking.starts_at, pages.AT),
                        pages.Key(HomeCareBooking.id, pages.IdOf("hcb")))


async def list_(session: AsyncSession, principal: Principal, settings: Settings, *,
                day: dt.date | None, caregiver_id: str | None, status: BookingStatus | None,
                limit: int, cursor: str | None) -> Page[BookingPublic]:
    """A citizen's own visits; a provider's, by date and caregiver (the day's roster)."""
    stmt = scopes.select_visible(BOOKING, principal)
    if day is not None:
        stmt = stmt.where(HomeCareBooking.visit_date == day)
    if caregiver_id is not None:
        stmt = stmt.where(HomeCareBooking.caregiver_id == caregiver_id)
    if status is not None:
        stmt = stmt.where(HomeCareBooking.status == status.value)
    page = await BY_START.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, BOOKING, principal.org_id)
    names = await _names(session, {b.caregiver_id for b in page.items})
    return page.map(lambda b: to_public(b, names.get(b.caregiver_id, ""), settings, principal))


LEDGER_ORDER = pages.Keyset(pages.Key(HomeCareBooking.completed_at, pages.AT),
                            pages.Key(HomeCareBooking.id, pages.IdOf("hcb")))


async def provider_ledger(session: AsyncSession, principal: Principal, provider_id: str,
                          month: str, *, limit: int,
                          cursor: str | None) -> Page[LedgerEntryPublic]:
    """The provider's completed visits of a month, with what the subsidy and the family
    paid."""
    catalogue.own_provider(principal, provider_id)
    year, mon = (int(x) for x in month.split("-"))
    first = dt.date(year, mon, 1)
    nxt = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    stmt = select(HomeCareBooking).where(
        HomeCareBooking.provider_id == provider_id, HomeCareBooking.status == S.completed,
        HomeCareBooking.visit_date >= first, HomeCareBooking.visit_date < nxt)
    page = await LEDGER_ORDER.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, BOOKING, provider_id, read="ledger")
    return page.map(lambda b: LedgerEntryPublic(
        booking_id=b.id, provider_id=b.provider_id, date=b.visit_date,
        service_code=b.service_code, id_number_masked=b.elder_id_masked,
        price_fen=b.price_fen, subsidy_paid_fen=b.subsidy_paid_fen or 0,
        family_paid_fen=b.family_paid_fen or 0, completed_at=b.completed_at))
