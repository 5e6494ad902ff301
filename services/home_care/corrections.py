"""Visit verification's workflow (EVV): the provider corrects an exception, the
civil-affairs bureau that pays the subsidy decides, and the worker's timed jobs.

The rules themselves (which codes, what a visit bills, which corrected times are
possible) are `services.home_care.verification`'s; this module moves visits.

**Who**: the visit's provider submits a correction; a reviewer or approver of a
bureau whose division contains the provider's (prefix containment) approves or
rejects it; a bureau outside does not see the visit (404), the provider may not
decide (403, the role). The exceptions list shows a provider its own visits and a
bureau its providers' (`REVIEW`).

**The decision is made once**: `submit_correction`, `approve_correction` and
`reject_correction` are transitions of the visit's `verification` column (a
conditional UPDATE, `services.transitions`): of two decisions at the same moment one
wins, the other is 409 `invalid_state`. `exception` -> `correction_submitted` ->
`corrected` | `rejected`; a rejected correction is final. Each is audited
(`home_care_booking.<action>`) and writes its event (`.correction_submitted`,
`.corrected`, `.rejected`), located at the provider's division so the bureau's
subscription hears of it. An approval pays on the corrected time through
`subsidies.pay`, whose conditional UPDATE never lets the month's allowance go below
zero however many approvals of one elder run at once.

**Timed jobs** (`scheduled`, in `huimin worker`'s schedule):
- a visit still `in_service` `HUIMIN_HOME_CARE_MISSING_CHECK_OUT_HOURS` after its
  end is completed without a check-out (`check_out_at` null, `missing_check_out`,
  verification `exception`, its subsidy held), by the `auto_complete` transition
  (conditional on `in_service`): run twice, or on two nodes at once, it completes
  each visit once, and emits `.completed` once;
- a visit still `booked` `HUIMIN_HOME_CARE_MISSED_CHECK_IN_MINUTES` after its start
  writes `.missed_check_in`, once per visit (the outbox's unique key). Only visits
  that started within the last day are looked at (so an event the outbox has purged
  is never written again).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ, clock
from core.errors import InvalidState
from core.principal import Principal
from core.settings import Settings
from schemas.common import Page
from schemas.home_care import (
    AWAITING_DECISION,
    BookingPublic,
    BookingStatus,
    CorrectionApproveIn,
    CorrectionIn,
    CorrectionRejectIn,
    HomeCareBooking,
    HomeCareCaregiver,
    VerificationStatus,
)
from services import organisations, outbox, scopes, transitions
from services.home_care import bookings, catalogue, events, verification

V = VerificationStatus
T = transitions.Transition

REVIEW = scopes.Resource(
    model=HomeCareBooking, noun="home-care booking", audit_type="home_care_booking",
    rules={"provider": scopes.of_org(HomeCareBooking.provider_id),
           "reviewer": scopes.org_within_division(HomeCareBooking.provider_id),
           "approver": scopes.org_within_division(HomeCareBooking.provider_id)},
    org_attr="provider_id")

VERIFY = transitions.Machine(REVIEW, {
    # provider
    "submit_correction": T(frm={V.exception}, to=V.correction_submitted,
                           stamp="correction_submitted_at"),
    # bureau reviewer or approver
    "approve_correction": T(frm={V.correction_submitted}, to=V.corrected,
                            stamp="verification_decided_at"),
    "reject_correction": T(frm={V.correction_submitted}, to=V.rejected,
                           stamp="verification_decided_at"),
    # a rejection overturned on appeal (services.home_care.appeals)
    "appeal_overturn": T(frm={V.rejected}, to=V.corrected, stamp="verification_decided_at"),
}, status_column="verification",
    # A visit not completed yet has no verification: it is refused from its status.
    status_of=lambda b: str(b.verification or b.status), touched="updated_at")

MISSED_CHECK_IN_HORIZON = dt.timedelta(days=1)
BATCH = 500


def _china(at: dt.datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat() if at is not None else None


async def _emit(session: AsyncSession, name: str, b: HomeCareBooking) -> None:
    """The decision's event, with what it settled, located at the provider's division."""
    org = await catalogue.provider(session, b.provider_id)
    await events.LOCATED.emit(session, name, events.Located(b, org.division_code), extra={
        "subsidy_paid_fen": b.subsidy_paid_fen, "family_paid_fen": b.family_paid_fen,
        "subsidy_held_fen": b.subsidy_held_fen,
        "correction": {"reason_code": b.correction_reason_code, "note": b.correction_note,
                       "actual_start_at": _china(b.correction_start_at),
                       "actual_end_at": _china(b.correction_end_at),
                       "decision_note": b.verification_decision_note}})


async def submit(session: AsyncSession, principal: Principal, settings: Settings,
                 booking_id: str, body: CorrectionIn) -> HomeCareBooking:
    """The provider's correction of an `exception` visit -> `correction_submitted`;
    what is held is worked out again on the corrected time."""
    b = await scopes.load(session, principal, REVIEW, booking_id, audit_read=False)
    now = clock.now()
    start, end = body.actual_start_at.astimezone(dt.UTC), body.actual_end_at.astimezone(dt.UTC)

    def guard(obj: HomeCareBooking) -> None:
        verification.check_correction(settings, obj, start, end, now)

    b = await VERIFY.move(session, principal, b, "submit_correction", guard=guard, values={
        "correction_submitted_at": now, "correction_reason_code": body.reason_code.value,
        "correction_note": body.note, "correction_start_at": start,
        "correction_end_at": end, "correction_submitted_by": principal.staff_identity})
    await verification.settle(session, b)
    await _emit(session, "correction_submitted", b)
    return b


async def _decide(session: AsyncSession, principal: Principal, booking_id: str,
                  action: str, event: str, note: str | None) -> HomeCareBooking:
    b = await scopes.load(session, principal, REVIEW, booking_id, audit_read=False)
    b = await VERIFY.move(session, principal, b, action, values={
        "verification_decided_by": principal.staff_identity,
        "verification_decision_note": note})
    # Only the winner of the move settles: pays on the corrected time, or bills the
    # family alone.
    await verification.settle(session, b)
    await _emit(session, event, b)
    return b


async def overturn_rejection(session: AsyncSession, principal: Principal, booking_id: str,
                             note: str | None) -> HomeCareBooking:
    """A rejected correction overturned on appeal: `corrected`, and paid on the
    corrected time exactly as an approved correction is (`verification.settle`)."""
    b = (await session.execute(select(HomeCareBooking).where(HomeCareBooking.id == booking_id)
                               .execution_options(populate_existing=True))).scalar_one()
    b = await VERIFY.move(session, principal, b, "appeal_overturn", values={
        "verification_decided_by": principal.staff_identity,
        "verification_decision_note": note})
    await verification.settle(session, b)
    await _emit(session, "corrected", b)
    return b


async def approve(session: AsyncSession, principal: Principal, booking_id: str,
                  body: CorrectionApproveIn) -> HomeCareBooking:
    return await _decide(session, principal, booking_id, "approve_correction", "corrected",
                         body.note)


async def reject(session: AsyncSession, principal: Principal, booking_id: str,
                 body: CorrectionRejectIn) -> HomeCareBooking:
    return await _decide(session, principal, booking_id, "reject_correction", "rejected",
                         body.note)


# --- the exceptions list ------------------------------------------------------------------


async def list_exceptions(session: AsyncSession, principal: Principal, settings: Settings, *,
                          status: VerificationStatus | None, limit: int,
                          cursor: str | None) -> Page[BookingPublic]:
    """Visits awaiting a decision (`exception`, `correction_submitted`), or those of
    one verification: the provider's own, a bureau's providers'; oldest first."""
    stmt = scopes.select_visible(REVIEW, principal)
    if status is None:
        stmt = stmt.where(HomeCareBooking.verification.in_(AWAITING_DECISION))
    else:
        stmt = stmt.where(HomeCareBooking.verification == status.value)
    page = await bookings.BY_START.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, REVIEW, principal.org_id, read="exceptions")
    ids = {b.caregiver_id for b in page.items}
    names: dict[str, str] = dict((await session.execute(
        select(HomeCareCaregiver.id, HomeCareCaregiver.name)
        .where(HomeCareCaregiver.id.in_(ids)))).all()) if ids else {}
    return page.map(lambda b: bookings.to_public(b, names.get(b.caregiver_id, ""), settings,
                                                 principal))


# --- timed jobs ---------------------------------------------------------------------------


async def complete_missing_check_outs(session: AsyncSession, settings: Settings,
                                      now: dt.datetime) -> int:
    """Complete the visits still in service long after their end; how many this call
    completed (a visit another node or a check-out completed first is skipped)."""
    due = (await session.execute(
        select(HomeCareBooking)
        .where(HomeCareBooking.status == BookingStatus.in_service,
               HomeCareBooking.ends_at <= verification.missing_check_out_due(settings, now))
        .order_by(HomeCareBooking.id).limit(BATCH))).scalars().all()
    done = 0
    for b in due:
        check_in = verification.Fix(b.check_in_at, verification.point(
            b.check_in_lat, b.check_in_lon)) if b.check_in_at is not None else None
        codes = verification.exceptions(
            settings, starts_at=b.starts_at, ends_at=b.ends_at,
            home=verification.point(b.elder_lat, b.elder_lon),
            provider=await bookings.provider_point(session, b), check_in=check_in,
            missing_check_out=True)
        try:
            moved: Any = await bookings.LIFE.move(session, None, b, "auto_complete", values={
                "completed_at": now, "exceptions": codes,
                "verification": verification.state_of(codes),
                "location_flagged": "location_mismatch" in codes})
        except InvalidState:
            continue  # completed meanwhile, by a check-out or by another node
        await verification.settle(session, moved)
        done += 1
    return done


async def missed_check_ins(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    """`.missed_check_in` for each visit still booked well after its start; once."""
    due = (await session.execute(
        select(HomeCareBooking)
        .where(HomeCareBooking.status == BookingStatus.booked,
               HomeCareBooking.starts_at <= verification.missed_check_in_due(settings, now),
               HomeCareBooking.starts_at > now - MISSED_CHECK_IN_HORIZON,
               outbox.scheduled_once("home_care.booking.missed_check_in", HomeCareBooking.id))
        .order_by(HomeCareBooking.id).limit(BATCH))).scalars().all()
    if not due:
        return 0
    orgs = await organisations.get_many(session, sorted({b.provider_id for b in due}))
    written = 0
    for b in due:
        org = orgs.get(b.provider_id)
        located = events.Located(b, org.division_code if org is not None else None)
        written += await events.LOCATED.emit(session, "missed_check_in", located, once=True)
    return written


async def scheduled(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    """The worker's visit-verification jobs; how many visits or events they wrote."""
    return (await complete_missing_check_outs(session, settings, now)
            + await missed_check_ins(session, settings, now))
