"""A change that would strand what is booked: refuse it, or cancel what it strands.

Marriage schedules (a session cut below its bookings) and home-care caregivers (new
hours, leave, deactivation) share the rule: without the request's
`cancel_affected`, the change is refused with 409 and the number affected (in the
problem's `affected_field`); with it, the caller cancels them.

    if stranding.refuse_or_cancel(len(stranded), cancel=body.cancel_affected,
                                  error=BookingsAffected, affected_field="affected_bookings"):
        ... cancel them ...
"""

from __future__ import annotations

from core.errors import CapacityBelowBooked, DomainError


def refuse_or_cancel(affected: int, *, cancel: bool,
                     error: type[DomainError] = CapacityBelowBooked,
                     affected_field: str = "affected_appointments") -> bool:
    """True when there are `affected` items and the request said to cancel them;
    False when nothing is affected; raises `error(affected=n)`, with the number
    also in `affected_field`, when something is and it did not say so."""
    if affected <= 0:
        return False
    if not cancel:
        err = error(affected=affected)
        err.extra[affected_field] = affected
        raise err
    return True
