"""The events of eco-burial subsidy claims: `burial.claim.returned`, `.approved`,
`.rejected` (at review or by the approver) and `.paid`. They are located by the
deceased's household-registration division, so a bureau's subscription hears of
the claims within its jurisdiction."""

from __future__ import annotations

from typing import Any

from services import outbox


def _claim(c: Any) -> dict[str, Any]:
    return {"claim_id": c.id, "status": str(c.status), "division_code": c.division_code,
            "amount_fen": c.amount_fen, "burial_method": c.burial_method,
            "claimant": {"name": c.claimant_name, "id_number_masked": c.claimant_id_masked},
            "account_no_masked": c.account_masked,
            "reason_code": c.decision_reason_code or c.review_reason_code,
            "payment_reference": c.payment_reference}


CLAIM = outbox.Events(
    "burial.claim", object_type="burial_claim", data=_claim,
    subject=lambda c: c.citizen_subject, division=lambda c: c.division_code)
