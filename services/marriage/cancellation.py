"""Cancelling appointments in bulk (an office's calendar change, a withdrawn
divorce case) and releasing the people's holds.

Its own module so that schedules and divorce cases can cancel appointments
without importing the appointment service (which imports both of them).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.principal import Principal
from schemas.marriage import (
    AppointmentKind,
    AppointmentStatus,
    CancelledBy,
    CancelReason,
    MarriageAppointment,
    MarriagePartyHold,
)
from services import audit, capacity
from services.marriage import events

ACTIVE = (AppointmentStatus.booked, AppointmentStatus.checked_in)
# Who a bulk cancellation is shown as coming from: the office that closed the day
# or cut the session, or the citizen who withdrew the divorce application.
CANCELLED_BY = {CancelReason.office_closed: CancelledBy.office,
                CancelReason.case_withdrawn: CancelledBy.citizen,
                CancelReason.citizen: CancelledBy.citizen}


async def release_holds(session: AsyncSession, appointment_ids: list[str]) -> None:
    """The people of these appointments may book again (they left `booked`)."""
    if appointment_ids:
        await session.execute(delete(MarriagePartyHold).where(
            MarriagePartyHold.appointment_id.in_(appointment_ids)))


async def _cancel_many(session: AsyncSession, principal: Principal,
                       chosen: list[MarriageAppointment], reason: CancelReason,
                       from_statuses: tuple[AppointmentStatus, ...],
                       ) -> list[MarriageAppointment]:
    """Cancel those of `chosen` still in `from_statuses` (one conditional UPDATE);
    returns the ones actually cancelled."""
    if not chosen:
        return []
    now = clock.now()
    done = set((await session.execute(
        update(MarriageAppointment)
        .where(MarriageAppointment.id.in_([a.id for a in chosen]),
               MarriageAppointment.status.in_(from_statuses))
        .values(status=AppointmentStatus.cancelled, cancel_reason=reason, cancelled_at=now,
                cancelled_by=CANCELLED_BY[reason])
        .returning(MarriageAppointment.id))).scalars())
    cancelled = [a for a in chosen if a.id in done]
    if not cancelled:
        return []
    await release_holds(session, [a.id for a in cancelled])
    for a in cancelled:
        await audit.record(session, principal, "marriage_appointment.cancel",
                           "marriage_appointment", a.id, outcome=f"success:{reason}",
                           org_id=a.office_id)
        await events.APPOINTMENT.emit(session, "cancelled", a, extra={
            "status": AppointmentStatus.cancelled.value, "reason": str(reason),
            "cancelled_by": "citizen" if reason == CancelReason.citizen else "office"})
    return cancelled


async def cancel_for_office(session: AsyncSession, principal: Principal,
                            excess_by_slot: dict[str, int],
                            reason: CancelReason) -> dict[str, int]:
    """Cancel, in each slot, up to `excess` of its active appointments, most recently
    booked first. Seats are NOT given back here: the caller resets the slot rows.
    Returns how many were cancelled per slot."""
    rows = (await session.execute(
        select(MarriageAppointment)
        .where(MarriageAppointment.slot_id.in_(list(excess_by_slot)),
               MarriageAppointment.status.in_(ACTIVE))
        .order_by(MarriageAppointment.slot_id, MarriageAppointment.created_at.desc(),
                  MarriageAppointment.id.desc())
    )).scalars().all()
    chosen: list[MarriageAppointment] = []
    taken: dict[str, int] = defaultdict(int)
    for a in rows:
        if taken[a.slot_id] < excess_by_slot[a.slot_id]:
            taken[a.slot_id] += 1
            chosen.append(a)
    counts: dict[str, int] = defaultdict(int)
    for a in await _cancel_many(session, principal, chosen, reason, ACTIVE):
        counts[a.slot_id] += 1
    return dict(counts)


async def cancel_for_case(session: AsyncSession, principal: Principal, case_id: str) -> int:
    """A withdrawn divorce application takes its booked confirmation with it."""
    rows = (await session.execute(
        select(MarriageAppointment).where(
            MarriageAppointment.divorce_case_id == case_id,
            MarriageAppointment.kind == AppointmentKind.divorce_confirmation,
            MarriageAppointment.status == AppointmentStatus.booked)
    )).scalars().all()
    cancelled = await _cancel_many(session, principal, list(rows), CancelReason.case_withdrawn,
                                   (AppointmentStatus.booked,))
    for a in cancelled:
        await capacity.give_back(session, a.slot_id)
    return len(cancelled)
