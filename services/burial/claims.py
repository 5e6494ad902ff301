"""Burial subsidy claims: a family files one, town/street or county reviewers
pass, return or reject it, a county approver (never the reviewer) approves or
rejects it, and it is paid to the claimant's bank account.

The amount is decided here, from the policy in force on the burial date for the
deceased's household-registration division (services.burial.policies), never
from the request. Identity numbers, the phone and the bank account are stored
encrypted and shown masked; the full account number leaves only in a payment
batch export (services.burial.payments).

One live claim per deceased is the unique partial index
`uq_burial_claim_live_deceased`: two claims arriving at once give one 201 and
one 409 `duplicate_claim`, whatever the interleaving.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import CHINA_TZ, clock
from core.errors import (
    AuthorisationRequired,
    BurialBeforeDeath,
    BurialDateInFuture,
    ClaimantIsDeceased,
    ClaimantNotAccountHolder,
    ClaimantNotAdult,
    ClaimDeadlinePassed,
    DeathBeforeBirth,
    DeathDateInFuture,
    DuplicateClaim,
    InvalidRelation,
    MissingDocument,
    SeparationOfDuties,
)
from core.ids import new_id
from core.principal import Principal
from core.protected import BANK_ACCOUNT, PHONE
from core.settings import Settings
from core.writes import constraint_of, unique_violation
from schemas.burial import (
    REQUIRED_DOCUMENTS,
    ApproveIn,
    BurialClaim,
    BurialClaimEvent,
    BurialIn,
    BurialPublic,
    ClaimantIn,
    ClaimantPublic,
    ClaimCreate,
    ClaimEventPublic,
    ClaimPublic,
    ClaimResubmit,
    ClaimStatus,
    DeceasedIn,
    DeceasedPublic,
    DecisionPublic,
    DocumentIn,
    DocumentKind,
    DocumentPublic,
    MarkPaidIn,
    PayoutIn,
    PayoutPublic,
    RejectIn,
    Relation,
    ReviewDecision,
    ReviewIn,
    ReviewPublic,
)
from schemas.common import Page
from services import audit, divisions, identity, scopes
from services.burial import policies
from services.burial.lifecycle import CLAIM, LIFE

S = ClaimStatus
RELATIONS = {r.value for r in Relation}

QUEUE = pages.Keyset(pages.Key(BurialClaim.submitted_at, pages.AT),
                     pages.Key(BurialClaim.id, pages.IdOf("bcl")))
HISTORY = pages.Keyset(pages.Key(BurialClaimEvent.id, pages.IdOf("bcev")))
LIVE_DECEASED = "uq_burial_claim_live_deceased"


# --- representation ------------------------------------------------------------


def _sections(c: BurialClaim) -> dict[str, Any]:
    return {
        "deceased": DeceasedPublic(
            name=c.deceased_name, id_number_masked=c.deceased_id_masked,
            death_date=c.death_date, hukou_division_code=c.division_code,
            hukou_division_name=divisions.name_of(c.division_code)),
        "burial": BurialPublic(method=c.burial_method, date=c.burial_date,
                               service_unit=c.service_unit, certificate_no=c.certificate_no),
        "claimant": ClaimantPublic(name=c.claimant_name, id_number_masked=c.claimant_id_masked,
                                   phone_masked=c.claimant_phone_masked, relation=c.relation),
        "payout": PayoutPublic(bank_name=c.bank_name, account_no_masked=c.account_masked),
        "documents": [DocumentPublic(**d) for d in c.documents],
    }


def to_public(c: BurialClaim) -> ClaimPublic:
    review = None
    if c.review_decision is not None and c.reviewed_at is not None:
        review = ReviewPublic(decision=c.review_decision, reason_code=c.review_reason_code,
                              note=c.review_note, reviewed_by=c.reviewed_by_name,
                              reviewed_at=c.reviewed_at)
    decision = None
    if c.decided_at is not None and c.status in (S.approved, S.rejected, S.paid):
        decision = DecisionPublic(status=S.rejected if c.status == S.rejected else S.approved,
                                  reason_code=c.decision_reason_code, note=c.decision_note,
                                  decided_by=c.decided_by_name, decided_at=c.decided_at)
    return ClaimPublic(
        id=c.id, status=c.status, amount_fen=c.amount_fen, policy_id=c.policy_id,
        claim_deadline=c.claim_deadline, **_sections(c), review=review,
        return_reason=c.review_note if c.status == S.returned else None, decision=decision,
        payment_batch_id=c.payment_batch_id, payment_reference=c.payment_reference,
        paid_at=c.paid_at, withdrawn_at=c.withdrawn_at, resubmissions=c.resubmissions,
        created_at=c.created_at, submitted_at=c.submitted_at, updated_at=c.updated_at,
        delegation_id=c.delegation_id)


# --- deciding a claim from its sections ------------------------------------------


async def _decide(session: AsyncSession, principal: Principal, body: ClaimCreate,
                  settings: Settings, *, filed_on: date) -> dict[str, Any]:
    """Every rule a claim must meet, in the order a family would fix them; the
    table's column values (amount and policy decided here) when it meets them."""
    deceased = identity.parse(body.deceased.id_number, field="deceased.id_number")
    claimant = identity.parse(body.claimant.id_number, field="claimant.id_number")
    today = clock.today()
    death, burial = body.deceased.death_date, body.burial.date
    if death > today:
        raise DeathDateInFuture()
    if death < deceased.birth_date:
        raise DeathBeforeBirth()
    if burial < death:
        raise BurialBeforeDeath()
    if burial > today:
        raise BurialDateInFuture()
    if deceased.number == claimant.number:
        raise ClaimantIsDeceased()
    if claimant.age_on(today) < settings.burial_claimant_min_age:
        raise ClaimantNotAdult(min_age=settings.burial_claimant_min_age)
    relation = body.claimant.relation.strip()
    if relation not in RELATIONS:
        raise InvalidRelation()
    claimant_id = identity.protect(claimant, settings)
    delegation_id = None
    if principal.identity_blind is not None and claimant_id.blind_index != principal.identity_blind:
        # Only the account's own person, or a principal of an active `burial`
        # delegation to it (the delegate files in the principal's name).
        delegation_id = await scopes.acting_for(session, principal, CLAIM,
                                                claimant_id.blind_index)
        if delegation_id is None:
            raise ClaimantNotAccountHolder()
    kinds = {d.kind for d in body.documents}
    if relation == Relation.agent and DocumentKind.authorisation not in kinds:
        raise AuthorisationRequired()
    missing = [k.value for k in REQUIRED_DOCUMENTS if k not in kinds]
    if missing:
        raise MissingDocument(missing=missing)
    division = divisions.validate(body.deceased.hukou_division_code)
    method = body.burial.method.value
    policy = await policies.applicable(session, division_code=division, method=method,
                                       burial_date=burial)
    deadline = burial + timedelta(days=policy.claim_deadline_days)
    if filed_on > deadline:
        raise ClaimDeadlinePassed(days=policy.claim_deadline_days, deadline=deadline.isoformat())
    deceased_id = identity.protect(deceased, settings)
    phone = PHONE.protect(body.claimant.phone, settings, field="claimant.phone")
    account = BANK_ACCOUNT.protect(body.payout.account_no, settings, field="payout.account_no")
    return dict(
        policy_id=policy.id, amount_fen=policy.amount_fen, claim_deadline=deadline,
        division_code=division, deceased_name=body.deceased.name,
        deceased_id_encrypted=deceased_id.encrypted, deceased_id_blind=deceased_id.blind_index,
        deceased_id_masked=deceased_id.masked, death_date=death, burial_method=method,
        burial_date=burial, service_unit=body.burial.service_unit,
        certificate_no=body.burial.certificate_no, claimant_name=body.claimant.name,
        claimant_id_encrypted=claimant_id.encrypted, claimant_id_blind=claimant_id.blind_index,
        claimant_id_masked=claimant_id.masked, claimant_phone_encrypted=phone.encrypted,
        claimant_phone_masked=phone.masked, relation=relation, bank_name=body.payout.bank_name,
        account_encrypted=account.encrypted, account_masked=account.masked,
        documents=[{"kind": d.kind.value, "number": d.number} for d in body.documents],
        delegation_id=delegation_id)


async def _event(session: AsyncSession, principal: Principal, claim_id: str, action: str,
                 frm: str | None, to: str, *, reason_code: str | None = None,
                 note: str | None = None, previous: dict[str, Any] | None = None) -> None:
    await session.execute(insert(BurialClaimEvent).values(
        id=new_id("bcev"), claim_id=claim_id, at=clock.now(), action=action, from_status=frm,
        to_status=to, actor_kind=principal.kind, actor_name=principal.staff_name,
        actor_org_id=principal.org_id, reason_code=reason_code, note=note, previous=previous))


async def _step(session: AsyncSession, principal: Principal, claim: BurialClaim, action: str,
                *, values: dict[str, Any] | None = None, guard: Any = None,
                reason_code: str | None = None, note: str | None = None,
                previous: dict[str, Any] | None = None) -> BurialClaim:
    """One transition, audited by the machine, and its line in the claim's history."""
    frm = claim.status
    fresh = await LIFE.move(session, principal, claim, action, values=values, guard=guard)
    await _event(session, principal, fresh.id, action, frm, fresh.status,
                 reason_code=reason_code, note=note, previous=previous)
    return fresh


# --- citizen -------------------------------------------------------------------


async def create(session: AsyncSession, principal: Principal, body: ClaimCreate,
                 settings: Settings) -> ClaimPublic:
    values = await _decide(session, principal, body, settings, filed_on=clock.today())
    now = clock.now()
    claim = BurialClaim(id=new_id("bcl"), citizen_subject=principal.subject,
                        status=S.submitted, created_at=now, submitted_at=now, updated_at=now,
                        **values)
    session.add(claim)
    # The unique partial index decides when two claims for one person arrive at once.
    with unique_violation(DuplicateClaim(),
                          constraint=constraint_of(BurialClaim, LIVE_DECEASED)):
        await session.flush()
    await _event(session, principal, claim.id, "submit", None, S.submitted)
    await audit.record(session, principal, "burial_claim.create", "burial_claim", claim.id)
    return to_public(claim)


def _as_request(c: BurialClaim, settings: Settings) -> ClaimCreate:
    """The stored claim as the request that would file it (clear values decrypted
    here only to re-run the rules over the corrected claim)."""
    return ClaimCreate(
        deceased=DeceasedIn(name=c.deceased_name,
                            id_number=identity.decrypt(c.deceased_id_encrypted, settings),
                            death_date=c.death_date, hukou_division_code=c.division_code),
        burial=BurialIn(method=c.burial_method, date=c.burial_date,
                        service_unit=c.service_unit, certificate_no=c.certificate_no),
        claimant=ClaimantIn(name=c.claimant_name,
                            id_number=identity.decrypt(c.claimant_id_encrypted, settings),
                            phone=PHONE.reveal(c.claimant_phone_encrypted, settings),
                            relation=c.relation),
        payout=PayoutIn(bank_name=c.bank_name,
                        account_no=BANK_ACCOUNT.reveal(c.account_encrypted, settings)),
        documents=[DocumentIn(**d) for d in c.documents])


async def resubmit(session: AsyncSession, principal: Principal, claim_id: str,
                   body: ClaimResubmit, settings: Settings) -> ClaimPublic:
    """After a return: the corrected sections replace the old ones, every rule runs
    again over the whole claim (the amount is decided again if the burial or the
    division changed), and the history keeps the old sections (masked). The
    deadline counts from the first filing: a claim filed in time stays in time."""
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    LIFE.check(claim, "resubmit")
    corrected = body.model_dump(exclude_none=True)
    merged = _as_request(claim, settings).model_copy(
        update={k: getattr(body, k) for k in corrected})
    filed_on = claim.created_at.astimezone(CHINA_TZ).date()
    values = await _decide(session, principal, merged, settings, filed_on=filed_on)
    old = _sections(claim)
    previous = {k: (old[k].model_dump(mode="json") if k != "documents"
                    else [d.model_dump(mode="json") for d in old[k]]) for k in corrected}
    values.pop("delegation_id")  # what the claim was filed through stays as it was
    values.update(resubmissions=claim.resubmissions + 1, review_decision=None,
                  review_reason_code=None, review_note=None, reviewed_by=None,
                  reviewed_by_name=None, reviewed_org_id=None, reviewed_at=None)
    with unique_violation(DuplicateClaim(),
                          constraint=constraint_of(BurialClaim, LIVE_DECEASED)):
        fresh = await _step(session, principal, claim, "resubmit", values=values,
                            previous=previous or None)
    return to_public(fresh)


async def withdraw(session: AsyncSession, principal: Principal, claim_id: str) -> ClaimPublic:
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    return to_public(await _step(session, principal, claim, "withdraw"))


# --- reads ---------------------------------------------------------------------


async def get(session: AsyncSession, principal: Principal, claim_id: str) -> ClaimPublic:
    return to_public(await scopes.load(session, principal, CLAIM, claim_id))


async def list_(session: AsyncSession, principal: Principal, *, status: str | None,
                division_code: str | None, limit: int,
                cursor: str | None) -> Page[ClaimPublic]:
    """Oldest (last submitted) first: for staff, `?status=submitted` is the review
    queue and `?status=reviewed` the approval queue of their jurisdiction."""
    stmt = scopes.select_visible(CLAIM, principal)
    if status is not None:
        stmt = stmt.where(BurialClaim.status == status)
    if division_code:
        stmt = stmt.where(divisions.prefix_condition(BurialClaim.division_code, division_code))
    page = await QUEUE.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, CLAIM)
    return page.map(to_public)


async def history(session: AsyncSession, principal: Principal, claim_id: str, *, limit: int,
                  cursor: str | None) -> Page[ClaimEventPublic]:
    await scopes.load(session, principal, CLAIM, claim_id)
    stmt = select(BurialClaimEvent).where(BurialClaimEvent.claim_id == claim_id)
    page = await HISTORY.page(session, stmt, limit=limit, cursor=cursor)
    return page.map(lambda e: ClaimEventPublic(
        id=e.id, at=e.at, action=e.action, from_status=e.from_status, to_status=e.to_status,
        actor_kind=e.actor_kind, actor_name=e.actor_name, reason_code=e.reason_code,
        note=e.note, previous=e.previous))


# --- staff ---------------------------------------------------------------------


def _staff(principal: Principal, prefix: str) -> dict[str, Any]:
    return {f"{prefix}_by": principal.staff_identity, f"{prefix}_by_name": principal.staff_name,
            f"{prefix}_org_id": principal.org_id}


async def review(session: AsyncSession, principal: Principal, claim_id: str,
                 body: ReviewIn) -> ClaimPublic:
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    action = {ReviewDecision.pass_: "pass", ReviewDecision.return_: "return",
              ReviewDecision.reject: "reject_at_review"}[body.decision]
    reason = body.reason_code.value if body.reason_code else None
    values = {**_staff(principal, "reviewed"), "review_decision": body.decision.value,
              "review_reason_code": reason, "review_note": body.note}
    return to_public(await _step(session, principal, claim, action, values=values,
                                 reason_code=reason, note=body.note,
                                 guard=_not_barred(principal)))


def _not_barred(principal: Principal) -> Any:
    """Nobody who took part in a refusal overturned on appeal acts on the claim again."""
    def guard(claim: BurialClaim) -> None:
        if principal.staff_identity in (claim.barred_staff or ()):
            raise SeparationOfDuties()
    return guard


def _not_the_reviewer(principal: Principal) -> Any:
    barred = _not_barred(principal)

    def guard(claim: BurialClaim) -> None:
        if claim.reviewed_by is not None and claim.reviewed_by == principal.staff_identity:
            raise SeparationOfDuties()
        barred(claim)
    return guard


async def approve(session: AsyncSession, principal: Principal, claim_id: str,
                  body: ApproveIn) -> ClaimPublic:
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    values = {**_staff(principal, "decided"), "decision_note": body.note}
    return to_public(await _step(session, principal, claim, "approve", values=values,
                                 guard=_not_the_reviewer(principal), note=body.note))


async def reject(session: AsyncSession, principal: Principal, claim_id: str,
                 body: RejectIn) -> ClaimPublic:
    claim = await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    values = {**_staff(principal, "decided"), "decision_note": body.note,
              "decision_reason_code": body.reason_code.value}
    return to_public(await _step(session, principal, claim, "reject", values=values,
                                 guard=_not_the_reviewer(principal),
                                 reason_code=body.reason_code.value, note=body.note))


async def mark_paid(session: AsyncSession, principal: Principal, claim_id: str,
                    body: MarkPaidIn, *, loaded: BurialClaim | None = None) -> ClaimPublic:
    claim = loaded or await scopes.load(session, principal, CLAIM, claim_id, audit_read=False)
    now = clock.now()
    values = {"payment_reference": body.payment_reference, "paid_at": now,
              "paid_month": now.astimezone(CHINA_TZ).strftime("%Y-%m")}
    return to_public(await _step(session, principal, claim, "mark_paid", values=values,
                                 note=body.payment_reference))


# --- appeals (services.burial.appeals) -------------------------------------------


async def reopen_on_appeal(session: AsyncSession, principal: Principal, claim_id: str,
                           barred: tuple[str, ...], note: str | None) -> ClaimPublic:
    """A rejection overturned on appeal: the claim is `submitted` again, its review
    and decision cleared, and `barred` (who took part in the refusal) may not review
    or approve it again. Another live claim for the deceased filed meanwhile is 409
    `duplicate_claim` (the one-live-claim index decides)."""
    claim = (await session.execute(select(BurialClaim).where(BurialClaim.id == claim_id)
                                   .execution_options(populate_existing=True))).scalar_one()
    values = {"review_decision": None, "review_reason_code": None, "review_note": None,
              "reviewed_by": None, "reviewed_by_name": None, "reviewed_org_id": None,
              "reviewed_at": None, "decision_reason_code": None, "decision_note": None,
              "decided_by": None, "decided_by_name": None, "decided_org_id": None,
              "decided_at": None,
              "barred_staff": sorted({*(claim.barred_staff or ()), *barred})}
    with unique_violation(DuplicateClaim(),
                          constraint=constraint_of(BurialClaim, LIVE_DECEASED)):
        fresh = await _step(session, principal, claim, "appeal_overturn", values=values,
                            note=note)
    return to_public(fresh)
