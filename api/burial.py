"""Eco-burial subsidy claims (节地生态安葬奖补): policies (admin, public list),
the family's claims, the bureau's review, approval and payment."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Body, Depends, Response

from api.deps import (
    AdminPrincipal,
    ApproverStaff,
    CitizenPrincipal,
    Db,
    DivisionPrefix,
    Idempotent,
    Paging,
    ReviewerStaff,
    SettingsDep,
    date_query,
    division_query,
    month_query,
    require_role,
)
from api.problems import PUBLIC_RESPONSES, responses, with_headers
from api.route import Router
from core import errors
from core.principal import Principal
from schemas.burial import (
    ApproveIn,
    BatchPaymentsIn,
    BurialMethod,
    ClaimCreate,
    ClaimEventPublic,
    ClaimPublic,
    ClaimResubmit,
    ClaimStatus,
    MarkPaidIn,
    MonthlyTotal,
    PaymentBatchPublic,
    PolicyCreate,
    PolicyPublic,
    RejectIn,
    ReviewIn,
)
from schemas.common import Page
from services.burial import claims, payments, policies

router = Router(tags=["burial"])
public_router = Router(tags=["burial"], public=True)

ClaimReader = Annotated[Principal, Depends(require_role("citizen", "reviewer", "approver"))]
BureauStaff = Annotated[Principal, Depends(require_role("reviewer", "approver", "admin"))]

_PUBLIC = {k: v for k, v in responses(errors.NotFound, errors.InvalidCursor,
                                      errors.InvalidDivisionCode).items() if k != 401}
_CLAIM_RULES = (errors.InvalidIdNumber, errors.InvalidDivisionCode, errors.DeathDateInFuture,
                errors.DeathBeforeBirth, errors.BurialBeforeDeath, errors.BurialDateInFuture,
                errors.ClaimantIsDeceased, errors.ClaimantNotAdult,
                errors.ClaimantNotAccountHolder, errors.InvalidRelation,
                errors.AuthorisationRequired, errors.MissingDocument,
                errors.NoApplicablePolicy, errors.ClaimDeadlinePassed)


# --- policies ------------------------------------------------------------------


@router.post(
    "/v1/burial/policies", status_code=201, response_model=PolicyPublic,
    summary="Add a subsidy policy for a division and burial method (admin)",
    description="Periods of one division and method never overlap (409 `policy_overlap`). "
                "A policy is never edited: a new period that starts after today and after an "
                "open-ended policy began supersedes it (the old one then ends the day before "
                "and shows `superseded_by`).",
    responses=responses(errors.Forbidden, errors.PolicyOverlap, errors.InvalidDivisionCode)
    | with_headers(201, "Location"))
async def create_policy(body: PolicyCreate, session: Db, principal: AdminPrincipal,
                        response: Response) -> PolicyPublic:
    policy = await policies.create(session, principal, body)
    response.headers["Location"] = f"/v1/burial/policies/{policy.id}"
    return policy


@public_router.get(
    "/v1/burial/policies", response_model=Page[PolicyPublic],
    summary="List subsidy policies by division (with the division's name)",
    description="`division_code` is a prefix (`11`: every policy in Beijing); `in_force_on` "
                "keeps the policies in force on that date.",
    responses={**PUBLIC_RESPONSES, **_PUBLIC})
async def list_policies(session: Db, paging: Paging, division_code: DivisionPrefix = None,
                        method: BurialMethod | None = None,
                        in_force_on: Annotated[date | None, date_query(
                            "Only policies in force on this date")] = None,
                        ) -> Page[PolicyPublic]:
    return await policies.list_(session, division_code=division_code,
                                method=method.value if method else None,
                                in_force_on=in_force_on, limit=paging.limit,
                                cursor=paging.cursor)


@public_router.get(
    "/v1/burial/policies/applicable", response_model=PolicyPublic,
    summary="The policy that would decide a claim",
    description="In force on `burial_date` for `method`, at the most specific of the "
                "household-registration division, its city and its province that has one.",
    responses={**PUBLIC_RESPONSES, **{k: v for k, v in responses(
        errors.NoApplicablePolicy, errors.InvalidDivisionCode).items() if k != 401}})
async def get_applicable_policy(
    session: Db, method: BurialMethod,
    burial_date: Annotated[date, date_query("The burial date", example="2026-11-20")],
    division_code: Annotated[str, division_query(
        "Six-digit division code of the household registration")],
) -> PolicyPublic:
    return await policies.applicable_public(session, division_code=division_code,
                                            method=method.value, burial_date=burial_date)


@public_router.get(
    "/v1/burial/policies/{policy_id}", response_model=PolicyPublic,
    summary="Read one subsidy policy", responses={**PUBLIC_RESPONSES, **_PUBLIC})
async def get_policy(policy_id: str, session: Db) -> PolicyPublic:
    return await policies.get(session, policy_id)


# --- claims --------------------------------------------------------------------


@router.post(
    "/v1/burial/claims", status_code=201, response_model=ClaimPublic,
    summary="File an eco-burial subsidy claim (citizen, Idempotency-Key)",
    description="The amount comes from the policy in force on the burial date for the "
                "deceased's household-registration division, never from the request. One "
                "claim per deceased (409 `duplicate_claim`). Required documents: "
                "`death_certificate`, `cremation_certificate`, `hukou_cancellation`, "
                "`burial_certificate`, and `authorisation` when the claimant is an `agent`.",
    responses=responses(errors.Forbidden, errors.IdempotencyKeyRequired,
                        errors.DuplicateClaim, errors.IdempotencyInFlight,
                        errors.IdempotencyKeyReused, *_CLAIM_RULES)
    | with_headers(201, "Location"))
async def create_claim(body: ClaimCreate, session: Db, principal: CitizenPrincipal,
                       settings: SettingsDep, _idem: Idempotent,
                       response: Response) -> ClaimPublic:
    claim = await claims.create(session, principal, body, settings)
    response.headers["Location"] = f"/v1/burial/claims/{claim.id}"
    return claim


@router.get(
    "/v1/burial/claims", response_model=Page[ClaimPublic],
    summary="List claims: the citizen's own, or the bureau's jurisdiction (oldest first)",
    description="Staff see the claims whose household-registration division lies within "
                "their bureau's division: `?status=submitted` is the review queue, "
                "`?status=reviewed` the approval queue, `?status=approved` awaits payment.",
    responses=responses(errors.Forbidden, errors.InvalidCursor, errors.InvalidDivisionCode))
async def list_claims(session: Db, principal: ClaimReader, paging: Paging,
                      status: ClaimStatus | None = None,
                      division_code: DivisionPrefix = None) -> Page[ClaimPublic]:
    return await claims.list_(session, principal, status=status.value if status else None,
                              division_code=division_code, limit=paging.limit,
                              cursor=paging.cursor)


@router.get(
    "/v1/burial/claims/{claim_id}", response_model=ClaimPublic,
    summary="Read one claim (staff reads are audited)",
    responses=responses(errors.Forbidden, errors.NotFound))
async def get_claim(claim_id: str, session: Db, principal: ClaimReader) -> ClaimPublic:
    return await claims.get(session, principal, claim_id)


@router.get(
    "/v1/burial/claims/{claim_id}/history", response_model=Page[ClaimEventPublic],
    summary="A claim's steps: who did what, why, and what a resubmission corrected",
    responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def get_claim_history(claim_id: str, session: Db, principal: ClaimReader,
                        paging: Paging) -> Page[ClaimEventPublic]:
    return await claims.history(session, principal, claim_id, limit=paging.limit,
                                cursor=paging.cursor)


@router.action(
    "/v1/burial/claims/{claim_id}/review", response_model=ClaimPublic,
    summary="Review a submitted claim: pass, return for correction, or reject (reviewer)",
    description="`return` needs a `note` (what the claimant must correct, shown to them); "
                "`reject` needs a `reason_code`.")
async def review_claim(claim_id: str, body: ReviewIn, session: Db,
                       principal: ReviewerStaff) -> ClaimPublic:
    return await claims.review(session, principal, claim_id, body)


@router.action(
    "/v1/burial/claims/{claim_id}/resubmit", response_model=ClaimPublic,
    summary="Resubmit a returned claim with corrected sections (citizen)",
    description="Sections left out stay as they were; every rule runs again over the whole "
                "claim. The history keeps the sections as they were before.",
    errors=(*_CLAIM_RULES, errors.DuplicateClaim))
async def resubmit_claim(claim_id: str, body: ClaimResubmit, session: Db,
                         principal: CitizenPrincipal, settings: SettingsDep) -> ClaimPublic:
    return await claims.resubmit(session, principal, claim_id, body, settings)


@router.action(
    "/v1/burial/claims/{claim_id}/approve", response_model=ClaimPublic,
    summary="Approve a reviewed claim (approver; not the staff member who reviewed it)",
    errors=(errors.SeparationOfDuties,))
async def approve_claim(claim_id: str, session: Db, principal: ApproverStaff,
                        body: Annotated[ApproveIn | None, Body(openapi_examples={
                            "none": {"summary": "No body", "value": {}},
                            "note": {"summary": "With a note", "value": {"note": "材料齐全"}},
                        })] = None) -> ClaimPublic:
    return await claims.approve(session, principal, claim_id, body or ApproveIn())


@router.action(
    "/v1/burial/claims/{claim_id}/reject", response_model=ClaimPublic,
    summary="Reject a reviewed claim with a reason code (approver; not the reviewer)",
    errors=(errors.SeparationOfDuties,))
async def reject_claim(claim_id: str, body: RejectIn, session: Db,
                       principal: ApproverStaff) -> ClaimPublic:
    return await claims.reject(session, principal, claim_id, body)


@router.action(
    "/v1/burial/claims/{claim_id}/mark-paid", response_model=ClaimPublic,
    summary="Record the payment of an approved claim with the bank's reference (approver)")
async def mark_claim_paid(claim_id: str, body: MarkPaidIn, session: Db,
                          principal: ApproverStaff) -> ClaimPublic:
    return await claims.mark_paid(session, principal, claim_id, body)


@router.action(
    "/v1/burial/claims/{claim_id}/withdraw", response_model=ClaimPublic,
    summary="Withdraw a claim before approval (citizen)")
async def withdraw_claim(claim_id: str, session: Db,
                         principal: CitizenPrincipal) -> ClaimPublic:
    return await claims.withdraw(session, principal, claim_id)


# --- payment -------------------------------------------------------------------


@router.post(
    "/v1/burial/payment-batches", status_code=201, response_model=PaymentBatchPublic,
    summary="Gather the jurisdiction's approved, unpaid claims into a payment batch (approver)",
    description="Each claim goes into one batch at most; 409 `nothing_to_pay` when none waits.",
    responses=responses(errors.Forbidden, errors.NothingToPay, errors.IdempotencyKeyRequired,
                        errors.IdempotencyInFlight, errors.IdempotencyKeyReused)
    | with_headers(201, "Location"))
async def create_payment_batch(session: Db, principal: ApproverStaff, _idem: Idempotent,
                               response: Response) -> PaymentBatchPublic:
    batch = await payments.create_batch(session, principal)
    response.headers["Location"] = f"/v1/burial/payment-batches/{batch.id}"
    return batch


@router.get(
    "/v1/burial/payment-batches", response_model=Page[PaymentBatchPublic],
    summary="The bureau's payment batches, newest first (approver)",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_payment_batches(session: Db, principal: ApproverStaff,
                               paging: Paging) -> Page[PaymentBatchPublic]:
    return await payments.list_batches(session, principal, limit=paging.limit,
                                       cursor=paging.cursor)


@router.get(
    "/v1/burial/payment-batches/{batch_id}", response_model=PaymentBatchPublic,
    summary="Read one payment batch (approver)",
    responses=responses(errors.Forbidden, errors.NotFound))
async def get_payment_batch(batch_id: str, session: Db,
                            principal: ApproverStaff) -> PaymentBatchPublic:
    return await payments.get_batch(session, principal, batch_id)


@router.post(
    "/v1/burial/payment-batches/{batch_id}/payments", response_model=PaymentBatchPublic,
    summary="Record the bank's references for claims of a batch, all or none (approver)",
    description="Each claim moves `approved` -> `paid` as `mark-paid` would; a claim not in "
                "the batch is 404, one already paid or no longer approved 409 `invalid_state`.",
    responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidState))
async def record_batch_payments(batch_id: str, body: BatchPaymentsIn, session: Db,
                                principal: ApproverStaff) -> PaymentBatchPublic:
    return await payments.record_payments(session, principal, batch_id, body)


@router.get(
    "/v1/burial/payment-batches/{batch_id}/export.csv",
    summary="Export a payment batch as CSV for the bank, with full account numbers (audited)",
    description="The only response that carries full bank account numbers. Columns: "
                + ", ".join(f"`{c}`" for c in payments.CSV_COLUMNS) + ".",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"example": (
        "claim_id,claimant_name,bank_name,account_no,amount_fen,amount_yuan,deceased_name,"
        "hukou_division_code,status,payment_reference\r\nbcl_0193a1b2...,王丽,"
        "中国工商银行北京朝阳支行,6222020200112233445,400000,4000.00,王建国,110105,"
        "approved,\r\n")}}}, **responses(errors.Forbidden, errors.NotFound)})
async def export_payment_batch(batch_id: str, session: Db, principal: ApproverStaff,
                               settings: SettingsDep) -> Response:
    body = await payments.export_batch(session, principal, batch_id, settings)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{batch_id}.csv"',
        "Cache-Control": "no-store"})


@router.get(
    "/v1/burial/totals", response_model=Page[MonthlyTotal],
    summary="Paid claims and amounts per bureau and month (staff: own bureau; admin: all)",
    responses=responses(errors.Forbidden, errors.InvalidCursor))
async def get_monthly_totals(
    session: Db, principal: BureauStaff, paging: Paging,
    month: Annotated[str | None, month_query("Only this month of payment")] = None,
) -> Page[MonthlyTotal]:
    return await payments.monthly_totals(session, principal, month=month, limit=paging.limit,
                                         cursor=paging.cursor)
