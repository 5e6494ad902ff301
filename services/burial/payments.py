"""Paying approved claims: an approver gathers the approved, unpaid claims of the
bureau's jurisdiction into a payment batch (each claim in at most one batch),
exports it as CSV for the bank (the one place full account numbers appear; the
export is audited), then marks each claim paid with the bank's reference
(services.burial.claims.mark_paid). Totals per bureau and month of payment.
"""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import NothingToPay, ValidationFailed
from core.ids import new_id
from core.principal import Principal
from core.protected import BANK_ACCOUNT
from core.settings import Settings
from schemas.burial import (
    BatchPaymentsIn,
    BurialClaim,
    BurialPaymentBatch,
    ClaimStatus,
    MarkPaidIn,
    MonthlyTotal,
    PaymentBatchPublic,
)
from schemas.common import Page
from services import audit, organisations, scopes
from services.burial import claims
from services.burial.lifecycle import BATCH, CLAIM

BATCHES = pages.Keyset(pages.Key(BurialPaymentBatch.id, pages.IdOf("bpay"), descending=True))
TOTALS = pages.Keyset(
    pages.Key(BurialClaim.paid_month, pages.Text(7), descending=True, attr="month"),
    pages.Key(BurialClaim.decided_org_id, pages.IdOf("org"), attr="org_id"))


async def _public(session: AsyncSession, b: BurialPaymentBatch) -> PaymentBatchPublic:
    rows = (await session.execute(select(BurialClaim.id, BurialClaim.status,
                                         BurialClaim.amount_fen).where(
        BurialClaim.payment_batch_id == b.id).order_by(BurialClaim.id))).all()
    paid = [r for r in rows if r.status == ClaimStatus.paid]
    return PaymentBatchPublic(id=b.id, org_id=b.org_id, division_code=b.division_code,
                              claim_count=b.claim_count, total_fen=b.total_fen,
                              paid_count=len(paid), paid_fen=sum(r.amount_fen for r in paid),
                              created_by=b.created_by_name, created_at=b.created_at,
                              claim_ids=[r.id for r in rows])


async def create_batch(session: AsyncSession, principal: Principal) -> PaymentBatchPublic:
    """Every approved, unpaid claim of the jurisdiction not yet in a batch. One
    conditional UPDATE takes them, so two approvers at once never batch a claim twice."""
    batch = BurialPaymentBatch(
        id=new_id("bpay"), org_id=principal.org_id or "",
        division_code=principal.division_code or "",
        created_by=principal.staff_identity or principal.subject,
        created_by_name=principal.staff_name, claim_count=0, total_fen=0,
        created_at=clock.now())
    session.add(batch)
    await session.flush()
    taken = await session.execute(
        update(BurialClaim)
        .where(CLAIM.condition(principal), BurialClaim.status == ClaimStatus.approved,
               BurialClaim.payment_batch_id.is_(None))
        .values(payment_batch_id=batch.id)
        .execution_options(synchronize_session=False))
    if taken.rowcount == 0:
        raise NothingToPay()  # the request's transaction, batch row included, rolls back
    count, total = (await session.execute(
        select(func.count(), func.coalesce(func.sum(BurialClaim.amount_fen), 0))
        .where(BurialClaim.payment_batch_id == batch.id))).one()
    batch.claim_count, batch.total_fen = int(count), int(total)
    await session.flush()
    await audit.record(session, principal, "burial_payment_batch.create",
                       "burial_payment_batch", batch.id)
    return await _public(session, batch)


async def get_batch(session: AsyncSession, principal: Principal,
                    batch_id: str) -> PaymentBatchPublic:
    batch = await scopes.load(session, principal, BATCH, batch_id, audit_read=False)
    return await _public(session, batch)


async def list_batches(session: AsyncSession, principal: Principal, *, limit: int,
                       cursor: str | None) -> Page[PaymentBatchPublic]:
    stmt = scopes.select_visible(BATCH, principal)
    page = await BATCHES.page(session, stmt, limit=limit, cursor=cursor)
    return Page(items=[await _public(session, b) for b in page.items],
                next_cursor=page.next_cursor)


async def record_payments(session: AsyncSession, principal: Principal, batch_id: str,
                          body: BatchPaymentsIn) -> PaymentBatchPublic:
    """Mark claims of the batch paid with the bank's references, all or none: a
    claim outside the batch is 404, one not `approved` any more 409 `invalid_state`."""
    batch = await scopes.load(session, principal, BATCH, batch_id, audit_read=False)
    ids = [p.claim_id for p in body.payments]
    if len(set(ids)) != len(ids):
        raise ValidationFailed()
    for payment in sorted(body.payments, key=lambda p: p.claim_id):  # lock in id order
        claim = await scopes.load(session, principal, CLAIM, payment.claim_id,
                                  audit_read=False)
        if claim.payment_batch_id != batch.id:
            raise CLAIM.not_found()
        await claims.mark_paid(session, principal, claim.id,
                               MarkPaidIn(payment_reference=payment.payment_reference),
                               loaded=claim)
    return await _public(session, batch)


CSV_COLUMNS = ["claim_id", "claimant_name", "bank_name", "account_no", "amount_fen",
               "amount_yuan", "deceased_name", "hukou_division_code", "status",
               "payment_reference"]


def _cell(value: object) -> str:
    """No cell a spreadsheet would run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_batch(session: AsyncSession, principal: Principal, batch_id: str,
                       settings: Settings) -> str:
    """The batch as CSV (UTF-8 with BOM, for spreadsheets) with full account
    numbers; the export itself is audited."""
    batch = await scopes.load(session, principal, BATCH, batch_id, audit_read=False)
    claims = (await session.execute(select(BurialClaim).where(
        BurialClaim.payment_batch_id == batch.id).order_by(BurialClaim.id))).scalars().all()
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for c in claims:
        writer.writerow([_cell(v) for v in (
            c.id, c.claimant_name, c.bank_name, BANK_ACCOUNT.reveal(c.account_encrypted, settings),
            c.amount_fen, f"{c.amount_fen // 100}.{c.amount_fen % 100:02d}", c.deceased_name,
            c.division_code, c.status, c.payment_reference)])
    await audit.record(session, principal, "burial_payment_batch.export",
                       "burial_payment_batch", batch.id)
    return out.getvalue()


async def monthly_totals(session: AsyncSession, principal: Principal, *, month: str | None,
                         limit: int, cursor: str | None) -> Page[MonthlyTotal]:
    """Paid claims per approving bureau and month of payment (China time), newest
    month first. Staff see their own bureau's; the platform admin every bureau's."""
    month_col = BurialClaim.paid_month.label("month")
    org_col = BurialClaim.decided_org_id.label("org_id")
    stmt = (select(month_col, org_col, func.count().label("claims_paid"),
                   func.sum(BurialClaim.amount_fen).label("paid_fen"))
            .where(BurialClaim.status == ClaimStatus.paid))
    if principal.role != "admin":
        stmt = stmt.where(BurialClaim.decided_org_id == principal.org_id)
    if month is not None:
        stmt = stmt.where(BurialClaim.paid_month == month)
    stmt = stmt.group_by(BurialClaim.paid_month, BurialClaim.decided_org_id)
    page = await TOTALS.page(session, stmt, limit=limit, cursor=cursor, scalars=False,
                             values_of=lambda r: (r.month, r.org_id))
    orgs = await organisations.get_many(session, sorted({r.org_id for r in page.items}))
    items = [MonthlyTotal(org_id=r.org_id,
                          org_name=orgs[r.org_id].name if r.org_id in orgs else None,
                          month=r.month, claims_paid=int(r.claims_paid),
                          paid_fen=int(r.paid_fen)) for r in page.items]
    return Page(items=items, next_cursor=page.next_cursor)
