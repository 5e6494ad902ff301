"""Who sees a burial claim, and the actions that move it.

The citizen who filed a claim sees it; reviewers and approvers see the claims
whose household-registration division lies within their bureau's division
(prefix containment, DOMAIN.md); nobody else (404). Every step is one declared
transition: of two concurrent steps (an approval racing a withdrawal) exactly one
moves the claim, the other is 409 `invalid_state`.
"""

from __future__ import annotations

from schemas.burial import WITHDRAWABLE, BurialClaim, BurialPaymentBatch, ClaimStatus
from services import scopes, transitions
from services.burial import events

S = ClaimStatus
T = transitions.Transition

CLAIM = scopes.Resource(
    model=BurialClaim, noun="burial claim", audit_type="burial_claim",
    rules={"citizen": scopes.own_party_or_delegated(  # the claimant, and its delegates
               BurialClaim.citizen_subject, BurialClaim.claimant_id_blind, "burial",
               BurialClaim.delegation_id),
           "reviewer": scopes.within_division(BurialClaim.division_code),
           "approver": scopes.within_division(BurialClaim.division_code)})

BATCH = scopes.Resource(
    model=BurialPaymentBatch, noun="payment batch", audit_type="burial_payment_batch",
    rules={"approver": scopes.of_org(BurialPaymentBatch.org_id)}, org_attr="org_id",
    personal=False)  # no person in the batch view; its CSV export is audited

LIFE = transitions.Machine(CLAIM, {
    # reviewer (town/street or county)
    "pass": T(frm={S.submitted}, to=S.reviewed, stamp="reviewed_at"),
    "return": T(frm={S.submitted}, to=S.returned, stamp="reviewed_at"),
    "reject_at_review": T(frm={S.submitted}, to=S.rejected, stamp="reviewed_at"),
    # citizen
    "resubmit": T(frm={S.returned}, to=S.submitted, stamp="submitted_at"),
    "withdraw": T(frm=set(WITHDRAWABLE), to=S.withdrawn, stamp="withdrawn_at"),
    # approver (county)
    "approve": T(frm={S.reviewed}, to=S.approved, stamp="decided_at"),
    "reject": T(frm={S.reviewed}, to=S.rejected, stamp="decided_at"),
    "mark_paid": T(frm={S.approved}, to=S.paid, stamp="paid_at"),
    # an appeal overturned by the bureau (services.burial.appeals)
    "appeal_overturn": T(frm={S.rejected}, to=S.submitted, stamp="submitted_at"),
}, touched="updated_at")
LIFE.emits(events.CLAIM, {"return": "returned", "approve": "approved", "reject": "rejected",
                          "reject_at_review": "rejected", "mark_paid": "paid"})
