"""Eco-burial subsidy claims (节地生态安葬奖补, DOMAIN.md section 4): tables and,
beside them, the request and response models.

- `burial_policy`: per division and burial method, a one-off amount, an effective
  period (`effective_to` inclusive, open when null) and a claim deadline in days
  after the burial. Periods of one division and method never overlap; a policy is
  never edited in place: a later period supersedes an open one by closing it the
  day before (`superseded_by`).
- `burial_policy_line`: one row per division and method, locked (a conditional
  UPDATE) by every policy write of that line, so two admins adding overlapping
  periods at once are serialised on both databases.
- `burial_claim`: one claim. The amount and the policy are decided by the server.
  A unique partial index on the deceased's blind index over every claim that is
  not withdrawn or rejected allows one live claim per deceased.
- `burial_claim_event`: the claim's history (each step, who took it, the reason,
  and the sections a resubmission corrected, as they were before).
- `burial_payment_batch`: approved, unpaid claims of a bureau exported for payment.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from schemas.common import (
    ChinaTime,
    Day,
    DivisionCode,
    IdNumberIn,
    Name,
    Phone,
    StrictModel,
    id_field,
    utc_datetime,
)


class BurialMethod(StrEnum):
    sea = "sea"  # 海葬
    tree = "tree"  # 树葬
    flower = "flower"  # 花坛葬
    lawn = "lawn"  # 草坪葬
    scattering = "scattering"  # 骨灰撒散
    deep_burial = "deep_burial"  # 深埋
    wall = "wall"  # 壁葬 / 格位存放


class Relation(StrEnum):
    spouse = "spouse"
    child = "child"
    parent = "parent"
    sibling = "sibling"
    agent = "agent"


class DocumentKind(StrEnum):
    death_certificate = "death_certificate"  # 死亡证明
    cremation_certificate = "cremation_certificate"  # 火化证明
    hukou_cancellation = "hukou_cancellation"  # 户口注销证明
    burial_certificate = "burial_certificate"  # 安葬证明 (service unit)
    authorisation = "authorisation"  # 委托书 (agents)
    relation_proof = "relation_proof"  # 亲属关系证明 (optional)


REQUIRED_DOCUMENTS = (DocumentKind.death_certificate, DocumentKind.cremation_certificate,
                      DocumentKind.hukou_cancellation, DocumentKind.burial_certificate)


class ClaimStatus(StrEnum):
    submitted = "submitted"
    returned = "returned"
    reviewed = "reviewed"
    approved = "approved"
    rejected = "rejected"
    paid = "paid"
    withdrawn = "withdrawn"


class ReviewDecision(StrEnum):
    pass_ = "pass"  # noqa: S105 - a decision, not a secret
    return_ = "return"
    reject = "reject"


class ReasonCode(StrEnum):
    """Why a claim is returned for correction or rejected."""

    hukou_not_in_division = "hukou_not_in_division"  # 户籍不在本行政区
    not_cremated = "not_cremated"  # 未火化
    method_not_eligible = "method_not_eligible"  # 安葬方式不符合
    service_unit_not_designated = "service_unit_not_designated"  # 非指定服务单位
    documents_incomplete = "documents_incomplete"  # 材料不全
    documents_invalid = "documents_invalid"  # 材料不实
    relation_not_proven = "relation_not_proven"  # 亲属关系无法证明
    information_mismatch = "information_mismatch"  # 信息与证明不一致
    already_subsidised = "already_subsidised"  # 已享受过补贴
    other = "other"


# A claim that is not withdrawn or rejected holds its deceased.
LIVE_CLAIM_SQL = "status NOT IN ('withdrawn', 'rejected')"
WITHDRAWABLE = (ClaimStatus.submitted, ClaimStatus.returned, ClaimStatus.reviewed)
_STATUS_SQL = ("status IN ('submitted', 'returned', 'reviewed', 'approved', 'rejected', "
               "'paid', 'withdrawn')")


# --- tables ------------------------------------------------------------------


class BurialPolicyLine(SQLModel, table=True):
    __tablename__ = "burial_policy_line"

    division_code: str = Field(primary_key=True, max_length=6)
    method: str = Field(primary_key=True, max_length=16)
    lock_seq: int = 0


class BurialPolicy(SQLModel, table=True):
    __tablename__ = "burial_policy"
    __table_args__ = (
        Index("ix_burial_policy_line_period", "division_code", "method", "effective_from"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("claim_deadline_days > 0", name="deadline_positive"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from",
                        name="period_ordered"),
    )

    id: str = id_field()
    division_code: str = Field(max_length=6)
    method: str = Field(max_length=16)
    amount_fen: int
    effective_from: date
    effective_to: date | None = None
    claim_deadline_days: int
    superseded_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = utc_datetime()


class BurialClaim(SQLModel, table=True):
    __tablename__ = "burial_claim"
    __table_args__ = (
        Index("uq_burial_claim_live_deceased", "deceased_id_blind", unique=True,
              postgresql_where=text(LIVE_CLAIM_SQL)),
        Index("ix_burial_claim_queue", "status", "submitted_at", "id"),
        Index("ix_burial_claim_division_queue", "division_code", "submitted_at", "id"),
        Index("ix_burial_claim_citizen", "citizen_subject", "submitted_at", "id"),
        Index("ix_burial_claim_batch", "payment_batch_id"),
        Index("ix_burial_claim_paid_totals", "status", "decided_org_id", "paid_month"),
        CheckConstraint(_STATUS_SQL, name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: str = id_field()
    citizen_subject: str = Field(max_length=128)
    # The delegation (代办) the record was made through, when a delegate made it for
    # its principal (services.delegations); NULL otherwise.
    delegation_id: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=16)
    # Decided by the server: the policy in force on the burial date.
    policy_id: str = Field(foreign_key="burial_policy.id", max_length=40, index=True)
    amount_fen: int
    claim_deadline: date
    # The deceased's household-registration division: jurisdiction goes by it.
    division_code: str = Field(max_length=6)
    deceased_name: str = Field(max_length=100)
    deceased_id_encrypted: str = Field(max_length=255)
    deceased_id_blind: str = Field(max_length=64)
    deceased_id_masked: str = Field(max_length=18)
    death_date: date
    burial_method: str = Field(max_length=16)
    burial_date: date
    service_unit: str = Field(max_length=200)
    certificate_no: str = Field(max_length=64)
    claimant_name: str = Field(max_length=100)
    claimant_id_encrypted: str = Field(max_length=255)
    claimant_id_blind: str = Field(max_length=64, index=True)
    claimant_id_masked: str = Field(max_length=18)
    claimant_phone_encrypted: str = Field(max_length=255)
    claimant_phone_masked: str = Field(max_length=32)
    relation: str = Field(max_length=16)
    bank_name: str = Field(max_length=100)
    account_encrypted: str = Field(max_length=255)
    account_masked: str = Field(max_length=32)
    documents: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    # Review (reviewer), decision (approver), payment.
    review_decision: str | None = Field(default=None, max_length=16)
    review_reason_code: str | None = Field(default=None, max_length=40)
    review_note: str | None = Field(default=None, max_length=500)
    reviewed_by: str | None = Field(default=None, max_length=200)  # staff identity
    reviewed_by_name: str | None = Field(default=None, max_length=100)
    reviewed_org_id: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime | None = utc_datetime(default=None, nullable=True)
    decision_reason_code: str | None = Field(default=None, max_length=40)
    decision_note: str | None = Field(default=None, max_length=500)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_by_name: str | None = Field(default=None, max_length=100)
    decided_org_id: str | None = Field(default=None, max_length=40)
    decided_at: datetime | None = utc_datetime(default=None, nullable=True)
    # Staff identities who took part in a refusal overturned on appeal: none of them
    # may review or approve the claim again (None: nobody barred).
    barred_staff: list[str] | None = Field(default=None, sa_type=JSON)
    payment_batch_id: str | None = Field(default=None, foreign_key="burial_payment_batch.id",
                                         max_length=40)
    payment_reference: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = utc_datetime(default=None, nullable=True)
    paid_month: str | None = Field(default=None, max_length=7)  # YYYY-MM, China time
    withdrawn_at: datetime | None = utc_datetime(default=None, nullable=True)
    resubmissions: int = 0
    created_at: datetime = utc_datetime()  # first filed
    submitted_at: datetime = utc_datetime()  # last (re)submitted: the queue's order
    updated_at: datetime = utc_datetime()


class BurialClaimEvent(SQLModel, table=True):
    __tablename__ = "burial_claim_event"
    __table_args__ = (Index("ix_burial_claim_event_claim", "claim_id", "id"),)

    id: str = id_field()
    claim_id: str = Field(foreign_key="burial_claim.id", max_length=40)
    at: datetime = utc_datetime()
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor_kind: str = Field(max_length=16)  # citizen | staff
    actor_name: str | None = Field(default=None, max_length=100)
    actor_org_id: str | None = Field(default=None, max_length=40)
    reason_code: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=500)
    # Resubmission: the corrected sections as they were before (masked forms only).
    previous: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class BurialPaymentBatch(SQLModel, table=True):
    __tablename__ = "burial_payment_batch"
    __table_args__ = (Index("ix_burial_payment_batch_org", "org_id", "id"),)

    id: str = id_field()
    org_id: str = Field(foreign_key="organisation.id", max_length=40)
    division_code: str = Field(max_length=6)
    created_by: str = Field(max_length=200)
    created_by_name: str | None = Field(default=None, max_length=100)
    claim_count: int
    total_fen: int
    created_at: datetime = utc_datetime()


# --- request models ----------------------------------------------------------

_Short = PField(min_length=1, max_length=64)


class PolicyCreate(StrictModel):
    division_code: DivisionCode = PField(description="Six-digit division code",
                                         examples=["110000"])
    method: BurialMethod
    amount_fen: int = PField(gt=0, le=100_000_000, description="One-off amount, in fen")
    effective_from: Day
    effective_to: Day | None = PField(default=None, description="Inclusive; open when left out")
    claim_deadline_days: int = PField(gt=0, le=3650,
                                      description="Days after the burial date to claim")

    @model_validator(mode="after")
    def _ordered(self) -> PolicyCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"division_code": "110000", "method": "sea", "amount_fen": 400000,
         "effective_from": "2026-01-01", "claim_deadline_days": 180},
        {"division_code": "610400", "method": "wall", "amount_fen": 50000,
         "effective_from": "2026-01-01", "effective_to": "2026-12-31",
         "claim_deadline_days": 365},
    ]})


class DeceasedIn(StrictModel):
    name: Name
    id_number: IdNumberIn
    death_date: Day
    hukou_division_code: DivisionCode = PField(examples=["110105"],
                                               description="Household-registration division")


class BurialIn(StrictModel):
    method: BurialMethod
    date: Day
    service_unit: str = PField(min_length=1, max_length=200, examples=["北京市骨灰海撒服务中心"])
    certificate_no: str = _Short


class ClaimantIn(StrictModel):
    name: Name
    id_number: IdNumberIn
    phone: Phone
    relation: str = PField(
        min_length=1, max_length=32,
        description="`spouse`, `child`, `parent`, `sibling` or `agent` (an agent also sends "
                    "an `authorisation` document); anything else is 422 `invalid_relation`",
        json_schema_extra={"enum": [r.value for r in Relation]})


class PayoutIn(StrictModel):
    bank_name: str = PField(min_length=1, max_length=100, examples=["中国工商银行北京朝阳支行"])
    account_no: str = PField(min_length=8, max_length=40, examples=["6222020200112233445"],
                             description="Returned only as `account_no_masked`")


class DocumentIn(StrictModel):
    kind: DocumentKind
    number: str = _Short


_CLAIM_EXAMPLE = {
    "deceased": {"name": "王建国", "id_number": "11010519491231002X",
                 "death_date": "2026-10-02", "hukou_division_code": "110105"},
    "burial": {"method": "sea", "date": "2026-11-08", "service_unit": "北京市骨灰海撒服务中心",
               "certificate_no": "HS2026-0815"},
    "claimant": {"name": "王丽", "id_number": "110105197503150027", "phone": "13800138000",
                 "relation": "child"},
    "payout": {"bank_name": "中国工商银行北京朝阳支行", "account_no": "6222020200112233445"},
    "documents": [{"kind": "death_certificate", "number": "SW2026-1002"},
                  {"kind": "cremation_certificate", "number": "HH2026-3321"},
                  {"kind": "hukou_cancellation", "number": "HZ2026-0099"},
                  {"kind": "burial_certificate", "number": "HS2026-0815"}],
}


class ClaimCreate(StrictModel):
    deceased: DeceasedIn
    burial: BurialIn
    claimant: ClaimantIn
    payout: PayoutIn
    documents: list[DocumentIn] = PField(max_length=20)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CLAIM_EXAMPLE]})


class ClaimResubmit(StrictModel):
    """The corrected sections after a return; a section left out stays as it was
    (`documents`, when sent, replaces the list)."""

    deceased: DeceasedIn | None = None
    burial: BurialIn | None = None
    claimant: ClaimantIn | None = None
    payout: PayoutIn | None = None
    documents: list[DocumentIn] | None = PField(default=None, max_length=20)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"documents": _CLAIM_EXAMPLE["documents"]},
        {"payout": {"bank_name": "中国建设银行北京朝阳支行", "account_no": "6217000010001234567"}},
    ]})


_Note = PField(default=None, max_length=500)


class ReviewIn(StrictModel):
    decision: ReviewDecision
    reason_code: ReasonCode | None = PField(
        default=None, description="Required to `reject`; optional to `return`")
    note: str | None = PField(default=None, max_length=500,
                              description="What the claimant sees; required to `return`")

    @model_validator(mode="after")
    def _reasons(self) -> ReviewIn:
        if self.decision == ReviewDecision.reject and self.reason_code is None:
            raise ValueError("a rejection needs a reason_code")
        if self.decision == ReviewDecision.return_ and not (self.note or "").strip():
            raise ValueError("a return needs a note telling the claimant what to correct")
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "pass"},
        {"decision": "return", "reason_code": "documents_incomplete",
         "note": "火化证明照片不清晰，请重新上传"},
        {"decision": "reject", "reason_code": "hukou_not_in_division"},
    ]})


class ApproveIn(StrictModel):
    note: str | None = _Note

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})


class RejectIn(StrictModel):
    reason_code: ReasonCode
    note: str | None = _Note

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason_code": "already_subsidised", "note": "已在原籍领取"}]})


class MarkPaidIn(StrictModel):
    payment_reference: str = PField(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$",
                                    examples=["ICBC-20261210-000123"])

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"payment_reference": "ICBC-20261210-000123"}]})


# --- response models ---------------------------------------------------------


class PolicyPublic(BaseModel):
    id: str
    division_code: str
    division_name: str | None
    method: BurialMethod
    amount_fen: int
    effective_from: date
    effective_to: date | None
    claim_deadline_days: int
    superseded_by: str | None = None
    created_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bpol_0193a1b2c3d4e5f6a7b8c9d0e1f2", "division_code": "110000",
        "division_name": "北京市", "method": "sea", "amount_fen": 400000,
        "effective_from": "2026-01-01", "effective_to": None, "claim_deadline_days": 180,
        "superseded_by": None, "created_at": "2026-01-01T08:00:00+08:00"}]})


class DeceasedPublic(BaseModel):
    name: str
    id_number_masked: str
    death_date: date
    hukou_division_code: str
    hukou_division_name: str | None


class BurialPublic(BaseModel):
    method: BurialMethod
    date: date
    service_unit: str
    certificate_no: str


class ClaimantPublic(BaseModel):
    name: str
    id_number_masked: str
    phone_masked: str
    relation: Relation


class PayoutPublic(BaseModel):
    bank_name: str
    account_no_masked: str


class DocumentPublic(BaseModel):
    kind: DocumentKind
    number: str


class ReviewPublic(BaseModel):
    decision: ReviewDecision
    reason_code: ReasonCode | None
    note: str | None
    reviewed_by: str | None = PField(description="The reviewing staff member's name")
    reviewed_at: ChinaTime


class DecisionPublic(BaseModel):
    status: ClaimStatus
    reason_code: ReasonCode | None
    note: str | None
    decided_by: str | None
    decided_at: ChinaTime


class ClaimPublic(BaseModel):
    id: str
    status: ClaimStatus
    amount_fen: int
    policy_id: str
    claim_deadline: date
    deceased: DeceasedPublic
    burial: BurialPublic
    claimant: ClaimantPublic
    payout: PayoutPublic
    documents: list[DocumentPublic]
    review: ReviewPublic | None = None
    return_reason: str | None = PField(
        default=None, description="While `returned`: what the claimant is asked to correct")
    decision: DecisionPublic | None = None
    payment_batch_id: str | None = None
    payment_reference: str | None = None
    paid_at: ChinaTime | None = None
    withdrawn_at: ChinaTime | None = None
    resubmissions: int
    created_at: ChinaTime
    submitted_at: ChinaTime
    updated_at: ChinaTime
    delegation_id: str | None = PField(
        default=None, description="The delegation (代办) through which a delegate made this "
                                  "record for its principal; null otherwise")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bcl_0193a1b2c3d4e5f6a7b8c9d0e1f2", "status": "submitted", "amount_fen": 400000,
        "policy_id": "bpol_0193a1b2c3d4e5f6a7b8c9d0e1f2", "claim_deadline": "2027-05-07",
        "deceased": {"name": "王建国", "id_number_masked": "110105********002X",
                     "death_date": "2026-10-02", "hukou_division_code": "110105",
                     "hukou_division_name": "北京市朝阳区"},
        "burial": {"method": "sea", "date": "2026-11-08",
                   "service_unit": "北京市骨灰海撒服务中心", "certificate_no": "HS2026-0815"},
        "claimant": {"name": "王丽", "id_number_masked": "110105********0027",
                     "phone_masked": "138****8000", "relation": "child"},
        "payout": {"bank_name": "中国工商银行北京朝阳支行",
                   "account_no_masked": "6222 **** **** 3445"},
        "documents": _CLAIM_EXAMPLE["documents"], "review": None, "return_reason": None,
        "decision": None, "payment_batch_id": None, "payment_reference": None,
        "paid_at": None, "withdrawn_at": None, "resubmissions": 0,
        "created_at": "2026-11-20T10:00:00+08:00", "submitted_at": "2026-11-20T10:00:00+08:00",
        "updated_at": "2026-11-20T10:00:00+08:00"}]})


class ClaimEventPublic(BaseModel):
    id: str
    at: ChinaTime
    action: str
    from_status: ClaimStatus | None
    to_status: ClaimStatus
    actor_kind: str
    actor_name: str | None
    reason_code: ReasonCode | None
    note: str | None
    previous: dict[str, Any] | None = PField(
        default=None, description="Resubmission: the corrected sections as they were")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bcev_0193a1b2c3d4e5f6a7b8c9d0e1f2", "at": "2026-11-21T09:30:00+08:00",
        "action": "return", "from_status": "submitted", "to_status": "returned",
        "actor_kind": "staff", "actor_name": "审核-张伟", "reason_code": "documents_incomplete",
        "note": "火化证明照片不清晰，请重新上传", "previous": None}]})


class PaymentIn(StrictModel):
    claim_id: str = PField(min_length=1, max_length=40)
    payment_reference: str = PField(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")


class BatchPaymentsIn(StrictModel):
    """The bank's references for claims of the batch, all recorded or none."""

    payments: list[PaymentIn] = PField(min_length=1, max_length=1000)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"payments": [
        {"claim_id": "bcl_0193a1b2c3d4e5f6a7b8c9d0e1f2",
         "payment_reference": "ICBC-20261210-000123"}]}]})


class PaymentBatchPublic(BaseModel):
    id: str
    org_id: str
    division_code: str
    claim_count: int
    total_fen: int
    paid_count: int
    paid_fen: int
    created_by: str | None
    created_at: ChinaTime
    claim_ids: list[str]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bpay_0193a1b2c3d4e5f6a7b8c9d0e1f2", "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2",
        "division_code": "110105", "claim_count": 2, "total_fen": 800000, "paid_count": 1,
        "paid_fen": 400000, "created_by": "审批-李四", "created_at": "2026-12-10T09:00:00+08:00",
        "claim_ids": ["bcl_0193a1b2c3d4e5f6a7b8c9d0e1f2", "bcl_0193a1b2c3d4e5f6a7b8c9d0e1f3"]}]})


class MonthlyTotal(BaseModel):
    org_id: str
    org_name: str | None
    month: str = PField(description="YYYY-MM (China time) of payment", examples=["2026-12"])
    claims_paid: int
    paid_fen: int

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2", "org_name": "朝阳区民政局",
        "month": "2026-12", "claims_paid": 12, "paid_fen": 4800000}]})
