"""Who sees a bed application, and the actions that move it.

An offer past its `offer_expires_at` reads `expired` from that instant, whether or
not anything has settled it yet (`effective_status`); the machine judges actions
by that status, and its conditional UPDATE by the stored one.
"""

from __future__ import annotations

from datetime import datetime

from core.clock import clock, utc
from schemas.beds import ACTIVE_STATUSES, ApplicationStatus, BedApplication
from services import scopes, transitions
from services.beds import events

S = ApplicationStatus
T = transitions.Transition


def effective_status(app: BedApplication, now: datetime | None = None) -> str:
    """An offer past its expiry is `expired`, whether or not it has been settled."""
    now = now or clock.now()
    if (app.status == S.offered and app.offer_expires_at is not None
            and utc(app.offer_expires_at) <= now):
        return S.expired
    return app.status


# The applying citizen, the elder's own bound account, a delegate of the elder's in
# `beds`, and the institution applied to; nobody else.
APPLICATION = scopes.Resource(
    model=BedApplication, noun="bed application", audit_type="bed_application",
    rules={"citizen": scopes.own_party_or_delegated(
               BedApplication.citizen_subject, BedApplication.elder_id_blind, "beds",
               BedApplication.delegation_id),
           "institution": scopes.of_org(BedApplication.institution_id)},
    org_attr="institution_id")

LIFE = transitions.Machine(APPLICATION, {
    "assess": T(frm={S.submitted, S.waitlisted}, to=S.waitlisted, stamp="assessed_at"),
    "offer": T(frm={S.waitlisted}, to=S.offered, stamp="offered_at"),
    "accept": T(frm={S.offered}, to=S.accepted, stamp="accepted_at"),
    "decline": T(frm={S.offered}, to=S.declined, stamp="closed_at"),
    "withdraw": T(frm=ACTIVE_STATUSES, to=S.withdrawn, stamp="closed_at"),
    "reject": T(frm=ACTIVE_STATUSES, to=S.rejected, stamp="closed_at"),
    "expire": T(frm={S.expired}, to=S.expired, stamp="closed_at"),
    "admit": T(frm={S.accepted}, to=S.admitted, stamp="admitted_at"),
    # an appeal (services.beds.appeals): a rejection overturned by the bureau
    "appeal_overturn": T(frm={S.rejected}, to=S.waitlisted),
    "appeal_reopen": T(frm={S.rejected}, to=S.submitted),  # rejected before assessment
    "appeal_supersede": T(frm=ACTIVE_STATUSES, to=S.withdrawn, stamp="closed_at"),
    # overturned while a later application of the elder's holds or fills a bed there
    "appeal_moot": T(frm={S.rejected}, to=S.withdrawn, stamp="closed_at"),
}, status_of=effective_status, touched="updated_at")
LIFE.emits(events.APPLICATION, {"offer": "offered", "expire": "expired"}, once={"expired"})
