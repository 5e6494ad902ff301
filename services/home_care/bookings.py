"""Visits at the elder's home: availability, booking, and the service record.

**Availability** (public): for a provider, service and date, the start times on the
grid (`HUIMIN_HOME_CARE_GRID_MINUTES`, 30) from which at least one active caregiver
with the skill is free for the whole visit: inside their weekly hours, not on
leave, and clear of their other visits by the travel buffer before and after. Only
times at least `MIN_NOTICE_HOURS` ahead and dates within `BOOKING_WINDOW_DAYS`.
Those rules are SQL (services/home_care/rules.sql), asked in one statement.

**Booking** (a hot command, api.hotpath): one read, then one write. The read
(`home_care_choice`) gives the offering and the caregiver the visit would be given:
the one asked for, or else the least-booked skilled caregiver free then (fewest
visits holding time that local date; ties by id), so work is spread fairly. The
write (`home_care_book`) locks that caregiver's row and asks again; if anything
changed meanwhile the request runs again (40001) and chooses anew. Nobody free:
409 `no_caregiver_available`, without a write. The exclusion constraint over
`[starts_at, blocked_until)` backs it.

**Record** (by the provider, or the visit's own caregiver with its own key):
check-in (from the check-in window before its start until its end: late is an
exception, not a refusal) -> `in_service`; check-out -> `completed` with its
verification (`services.home_care.verification`: the exception codes, `verified` or
`exception`), then settled: a verified visit is paid from the month's allowance
first (`subsidies.pay`), an exception's subsidy is held until the bureau decides
(`services.home_care.corrections`). A visit never checked out is completed by the
worker (`auto_complete`). `location_flagged` is kept for older clients: true iff
`location_mismatch`. `no_show` by the provider once the visit's end has passed;
`cancel` by the citizen until the deadline, by the provider with a reason; `rate`
once, by the booking citizen, after completion.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import CHINA_TZ, clock
from core.context import delegation_var
from core.db import sqlstate
from core.errors import (
    AlreadyRated,
    CancelReasonRequired,
    CheckInOutsideWindow,
    DomainError,
    ElderUnderage,
    IdempotencyInFlight,
    InvalidIdNumber,
    InvalidStartTime,
    NoCaregiverAvailable,
    NotFound,
    OutsideBookingWindow,
    VisitCancelDeadlinePassed,
    VisitNotEnded,
)
from core.ids import new_id
from core.prepared import Sql
from core.principal import Principal
from core.protected import ADDRESS, PHONE
from core.settings import Settings
from schemas.common import Page
from schemas.home_care import (
    AvailabilityPublic,
    BookingCreate,
    BookingPublic,
    BookingStatus,
    CancelIn,
    CaregiverRef,
    CorrectionPublic,
    ElderPublic,
    HomeCareBooking,
    HomeCareCaregiver,
    LedgerEntryPublic,
    LocationIn,
    RatingIn,
    ServiceCode,
)
from services import (
    audit,
    citizens,
    commands,
    idempotency,
    identity,
    outbox,
    scopes,
    transitions,
)
from services.home_care import catalogue, events, providers, rules, verification

S = BookingStatus


# --- availability ---------------------------------------------------------------
#
# The rules of when a caregiver can take a visit live in SQL
# (services/home_care/rules.sql: `home_care_fitting`, `home_care_choice`), asked by
# the availability read, the booking's choice, and `home_care_book` again under the
# caregiver's lock. Python decides only the booking window (`bookable_from`).


def _buffer(settings: Settings) -> int:
    return settings.home_care_travel_buffer_minutes


def bookable_from(day: dt.date, settings: Settings) -> dt.datetime | None:
    """The earliest start bookable on local day `day` now (the minimum notice ahead),
    or None when the day is past or beyond the booking window."""
    last_day = clock.today() + dt.timedelta(days=settings.home_care_booking_window_days)
    if day > last_day:
        return None
    earliest = clock.now() + dt.timedelta(hours=settings.home_care_min_notice_hours)
    day_start, day_end = rules.day_bounds(day)
    if earliest >= day_end:
        return None
    return max(earliest, day_start)


# One statement (`home_care_availability`): the offering's price and duration, and
# the day's start times at which at least one caregiver is free; no row: no such
# offering. $1 provider, $2 service, $3 day, $4 buffer, $5 grid, $6 and $7 the first
# and last start looked at (none when $6 is null).
_AVAILABILITY = Sql("SELECT * FROM home_care_availability($1, $2, $3, $4, $5, $6, $7)")


async def availability(session: AsyncSession, settings: Settings, provider_id: str,
                       service: ServiceCode, day: dt.date) -> str:
    """The availability of `provider_id`'s `service` on local day `day`, as JSON."""
    earliest = bookable_from(day, settings)
    _day_start, day_end = rules.day_bounds(day)
    db = await prepared.driver(session)
    row = await db.fetchrow_alone(_AVAILABILITY, provider_id, service.value, day,
                                  _buffer(settings), settings.home_care_grid_minutes,
                                  earliest, day_end)
    if row is None:
        await catalogue.provider(session, provider_id)  # 404 provider, else offering
        raise NotFound(what="service offering")
    price, duration, found = row
    local = [t.astimezone(CHINA_TZ) for t in (found if earliest is not None else ())]
    return AvailabilityPublic(
        provider_id=provider_id, service_code=service, date=day, duration_minutes=duration,
        price_fen=price, start_times=[t.strftime("%H:%M") for t in local],
        starts_at=local).model_dump_json()


# --- booking -------------------------------------------------------------------------

# What booking reads before it writes, in one statement (`home_care_choice`): the
# offering's price and duration, and the caregiver the visit would be given (null:
# nobody is free) with its row's version and lock_seq; no row: no such offering.
# With them, the delegation (代办) through which the account acts for the elder, if
# it does (`delegated_principals`, services/delegations.sql: the elder is a principal
# of an active `home_care` delegation to the account's person), else null;
# `home_care_book` asks again under the write.
# $1 provider, $2 service, $3 caregiver asked for (or null), $4 day, $5 buffer,
# $6 grid, $7 start, $8 the account, $9 today, $10 the elder's blind index.
_CHOICE = Sql("SELECT c.*, (SELECT d.delegation_id FROM citizen_identity AS i "
              "CROSS JOIN LATERAL delegated_principals(i.id_blind_index, 'home_care', $9) AS d "
              "WHERE i.subject = $8 AND d.principal_blind = $10 ORDER BY d.delegation_id "
              "LIMIT 1) FROM home_care_choice($1, $2, $3, $4, $5, $6, $7) AS c")
# Every write of a booking in one call of `home_care_book`
# (services/home_care/home_care_book.sql), outside any transaction block.
_BOOK = Sql("SELECT home_care_book(" + ", ".join(f"${n}" for n in range(1, 18)) + ")")
_NO_CAREGIVER = "23P01"  # the exclusion constraint, should the lock ever be bypassed


class Booked(NamedTuple):
    booking_id: str
    json: str  # the 201 body, as stored for an idempotent replay


async def book(session: AsyncSession, principal: Principal, settings: Settings,
               body: BookingCreate, claim: idempotency.Claim | None = None) -> Booked:
    """Book a visit, and the 201 body: a hot command (services.commands). The write
    is one statement that also stores `claim`'s record of that body
    (`home_care_book`); a refusal is a `commands.Refusal`."""
    try:
        return await _book(session, principal, settings, body, claim)
    except DomainError as refusal:
        raise commands.Refusal(refusal) from None


async def _book(session: AsyncSession, principal: Principal, settings: Settings,
                body: BookingCreate, claim: idempotency.Claim | None) -> Booked:
    starts_at = body.start_at.astimezone(dt.UTC)
    local = starts_at.astimezone(CHINA_TZ)
    grid = settings.home_care_grid_minutes
    day = local.date()
    db = await prepared.driver(session)
    try:  # refused below, in the rules' order, if it is not a valid number
        parsed: identity.IdNumber | None = identity.parse(body.elder.id_number,
                                                          field="elder.id_number")
    except InvalidIdNumber:
        parsed = None
    elder_blind = identity.blind_index(parsed.number, settings) if parsed else None
    row = await db.fetchrow_alone(_CHOICE, body.provider_id, body.service_code.value,
                                  body.caregiver_id, day, _buffer(settings), grid, starts_at,
                                  principal.subject, clock.today(), elder_blind)
    if row is None:
        await catalogue.provider(session, body.provider_id)  # 404 provider, else offering
        raise NotFound(what="service offering")
    price, duration, caregiver_id, caregiver_name, version, lock_seq, delegation_id = row
    if local.second or local.microsecond or (local.hour * 60 + local.minute) % grid:
        raise InvalidStartTime(minutes=grid)
    earliest = bookable_from(day, settings)
    if earliest is None or starts_at < earliest:
        raise OutsideBookingWindow(opens_days=settings.home_care_booking_window_days,
                                   notice_hours=settings.home_care_min_notice_hours)
    idn = parsed or identity.parse(body.elder.id_number, field="elder.id_number")
    if idn.age_on(day) < settings.home_care_min_elder_age:
        raise ElderUnderage(min_age=settings.home_care_min_elder_age)
    phone_clean = PHONE.clean(body.elder.phone, field="elder.phone")
    address_clean = ADDRESS.clean(body.elder.address, field="elder.address")
    if caregiver_id is None:
        raise NoCaregiverAvailable()
    elder_id = identity.protect(idn, settings, blind_index=elder_blind)
    phone = PHONE.protect_clean(phone_clean, settings)
    delegation_var.set(delegation_id)  # the audit row names it
    address = ADDRESS.protect_clean(address_clean, settings)
    ends_at = starts_at + dt.timedelta(minutes=duration)
    now = clock.now()
    values = dict(
        id=new_id("hcb"), provider_id=body.provider_id, caregiver_id=caregiver_id,
        service_code=body.service_code.value, status=S.booked,
        citizen_subject=principal.subject, delegation_id=delegation_id, visit_date=day,
        starts_at=starts_at,
        ends_at=ends_at, blocked_until=ends_at + dt.timedelta(minutes=_buffer(settings)),
        price_fen=price, elder_name=body.elder.name, elder_id_encrypted=elder_id.encrypted,
        elder_id_blind=elder_id.blind_index or "", elder_id_masked=elder_id.masked,
        elder_phone_encrypted=phone.encrypted, elder_phone_masked=phone.masked,
        elder_address_encrypted=address.encrypted, elder_address_masked=address.masked,
        elder_lat=body.elder.lat, elder_lon=body.elder.lon, location_flagged=False,
        created_at=now, updated_at=now)
    booking = HomeCareBooking.model_construct(**values)
    answer = to_public(booking, caregiver_name, settings, principal).model_dump_json()
    audit_row = audit.row(principal, "home_care_booking.create", "home_care_booking",
                          booking.id, at=now, org_id=body.provider_id)
    event_row = events.BOOKING.row("booked", booking, at=now) if outbox.enabled() else None
    record = claim.record_values(201, answer) if claim is not None else (None,) * 4
    try:
        await db.fetchrow_alone(
            _BOOK, principal.subject, settings.identity_required,
            claim.scope if claim else None, claim.key if claim else None, *record,
            body.provider_id, body.service_code.value, price, duration, version, lock_seq,
            _row_json(values), audit.as_json([audit_row]), outbox.as_json([event_row]))
    except DBAPIError as exc:
        if claim is not None:
            claim.stored = False  # nothing of it was kept
        code = sqlstate(exc)
        if code == _NO_CAREGIVER:
            raise commands.Refusal(NoCaregiverAvailable(), checked=True) from None
        if code == idempotency.IN_FLIGHT:
            raise commands.Refusal(IdempotencyInFlight(), checked=True) from None
        refusal = citizens.write_refusal(code)
        if refusal is not None:
            raise commands.Refusal(refusal, checked=True) from None
        raise
    return Booked(booking.id, answer)


# The visit's columns that have a default, found once (not on every booking).
_DEFAULTED = tuple((name, f) for name, f in HomeCareBooking.model_fields.items()
                   if not f.is_required())


def _row_json(values: dict[str, Any]) -> str:
    """The visit's row as `home_care_book` inserts it (json_populate_record): every
    column the model declares, its default where `values` has none."""
    row = {name: f.get_default(call_default_factory=True)
           for name, f in _DEFAULTED if name not in values}
    row.update(values)
    return json.dumps({k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v)
                       for k, v in row.items()}, ensure_ascii=False, separators=(",", ":"))


# --- who sees a visit, and its life ----------------------------------------------------

BOOKING = scopes.Resource(
    model=HomeCareBooking, noun="home-care booking", audit_type="home_care_booking",
    # The booking citizen, the elder's own bound account, and the elder's delegates
    # in `home_care`.
    rules={"citizen": scopes.own_party_or_delegated(
               HomeCareBooking.citizen_subject, HomeCareBooking.elder_id_blind, "home_care",
               HomeCareBooking.delegation_id),
           "provider": scopes.of_org(HomeCareBooking.provider_id),
           # A caregiver's own key: the visits assigned to that caregiver, no other.
           "caregiver": scopes.of_caregiver(HomeCareBooking.caregiver_id)},
    org_attr="provider_id")

T = transitions.Transition
LIFE = transitions.Machine(BOOKING, {
    "check_in": T(frm={S.booked}, to=S.in_service, stamp="check_in_at"),
    "check_out": T(frm={S.in_service}, to=S.completed, stamp="check_out_at"),
    # the worker, for a visit still in service long after its end (missing_check_out)
    "auto_complete": T(frm={S.in_service}, to=S.completed, stamp="completed_at"),
    "no_show": T(frm={S.booked}, to=S.no_show, stamp="no_show_at"),
    "cancel": T(frm={S.booked}, to=S.cancelled, stamp="cancelled_at"),
    "rate": T(frm={S.completed}, to=None, stamp="rated_at"),
}, touched="updated_at")
LIFE.emits(events.BOOKING, {"cancel": "cancelled", "check_out": "completed",
                             "auto_complete": "completed"})


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
    and the visit's own caregiver (who must be able to call the family; no other
    caregiver sees the visit at all), masked to everyone else."""
    return BookingPublic(
        id=b.id, status=b.status, provider_id=b.provider_id, service_code=b.service_code,
        caregiver=CaregiverRef(id=b.caregiver_id, name=caregiver_name), date=b.visit_date,
        starts_at=b.starts_at, ends_at=b.ends_at,
        price_fen=b.price_fen,
        elder=ElderPublic(name=b.elder_name, id_number_masked=b.elder_id_masked,
                          phone_masked=b.elder_phone_masked,
                          phone=PHONE.reveal(b.elder_phone_encrypted, settings)
                          if viewer.role in ("provider", "caregiver") else None,
                          address_masked=b.elder_address_masked),
        cancel_deadline_at=cancel_deadline(b, settings),
        check_in_at=b.check_in_at, check_out_at=b.check_out_at,
        location_flagged=b.location_flagged, completed_at=b.completed_at,
        no_show_at=b.no_show_at, cancelled_at=b.cancelled_at, cancelled_by=b.cancelled_by,
        cancel_reason=b.cancel_reason, subsidy_paid_fen=b.subsidy_paid_fen,
        family_paid_fen=b.family_paid_fen, verification=b.verification,
        exceptions=list(b.exceptions or ()), subsidy_held_fen=b.subsidy_held_fen,
        correction=_correction(b), rating_stars=b.rating_stars,
        rating_comment=b.rating_comment, created_at=b.created_at,
        delegation_id=b.delegation_id)


def _correction(b: HomeCareBooking) -> CorrectionPublic | None:
    if b.correction_submitted_at is None:
        return None
    return CorrectionPublic(
        reason_code=b.correction_reason_code, note=b.correction_note,
        actual_start_at=b.correction_start_at, actual_end_at=b.correction_end_at,
        submitted_at=b.correction_submitted_at, decided_at=b.verification_decided_at,
        decision_note=b.verification_decision_note)


async def public(session: AsyncSession, settings: Settings, viewer: Principal,
                 b: HomeCareBooking) -> BookingPublic:
    names = await _names(session, {b.caregiver_id})
    return to_public(b, names.get(b.caregiver_id, ""), settings, viewer)


async def get(session: AsyncSession, principal: Principal, booking_id: str) -> HomeCareBooking:
    return await scopes.load(session, principal, BOOKING, booking_id)


async def provider_point(session: AsyncSession,
                         b: HomeCareBooking) -> verification.Point | None:
    """The provider's position, which the location rule needs only when the elder's
    home has none (then read; else not)."""
    if verification.point(b.elder_lat, b.elder_lon) is not None:
        return None
    org = await catalogue.provider(session, b.provider_id)
    return verification.point(org.lat, org.lon)


async def check_in(session: AsyncSession, principal: Principal, settings: Settings,
                   booking_id: str, at: LocationIn) -> HomeCareBooking:
    b = await scopes.load(session, principal, BOOKING, booking_id, audit_read=False)
    window = dt.timedelta(minutes=settings.home_care_check_in_window_minutes)
    now = clock.now()

    def guard(obj: HomeCareBooking) -> None:
        # Early only within the window; late until the visit's end (an exception).
        if not obj.starts_at - window <= now <= obj.ends_at:
            raise CheckInOutsideWindow(minutes=settings.home_care_check_in_window_minutes)

    codes = verification.exceptions(
        settings, starts_at=b.starts_at, ends_at=b.ends_at,
        home=verification.point(b.elder_lat, b.elder_lon),
        provider=await provider_point(session, b),
        check_in=verification.Fix(now, verification.Point(at.lat, at.lon)))
    return await LIFE.move(session, principal, b, "check_in", guard=guard, values={
        "check_in_at": now, "check_in_lat": at.lat, "check_in_lon": at.lon,
        "exceptions": codes, "location_flagged": "location_mismatch" in codes})


async def check_out(session: AsyncSession, principal: Principal, settings: Settings,
                    booking_id: str, at: LocationIn) -> HomeCareBooking:
    b = await scopes.load(session, principal, BOOKING, booking_id, audit_read=False)
    now = clock.now()
    codes = verification.exceptions(
        settings, starts_at=b.starts_at, ends_at=b.ends_at,
        home=verification.point(b.elder_lat, b.elder_lon),
        provider=await provider_point(session, b),
        check_in=verification.Fix(b.check_in_at, verification.point(b.check_in_lat,
                                                                    b.check_in_lon))
        if b.check_in_at is not None else None,
        check_out=verification.Fix(now, verification.Point(at.lat, at.lon)))
    b = await LIFE.move(session, principal, b, "check_out", values={
        "check_out_at": now, "check_out_lat": at.lat, "check_out_lon": at.lon,
        "completed_at": now, "exceptions": codes,
        "verification": verification.state_of(codes),
        "location_flagged": "location_mismatch" in codes})
    # Only the winner of the move settles (pays, or holds an exception's subsidy); in
    # the same transaction.
    return await verification.settle(session, b)


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
        family_paid_fen=b.family_paid_fen, verification=b.verification,
        subsidy_held_fen=b.subsidy_held_fen, completed_at=b.completed_at))
