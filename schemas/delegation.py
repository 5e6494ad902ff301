"""Delegation (代办) and guardianship (监护, DOMAIN.md section 5): one table and,
beside it, the request and response models.

- `delegation`: a principal lets a delegate act for them in named services
  (`scopes`: `beds`, `home_care`, `burial`) until `expires_on` (a China date,
  inclusive). Both people are stored as identity numbers are (encrypted, blind
  index, masked), so a delegate with no bound account yet finds the delegation once
  bound (by the blind index). A citizen's delegation starts `pending` until the
  delegate accepts it; a guardianship a civil-affairs bureau registers on paper
  evidence is `active` at once (`registered_by_org_id`, `registered_by_name`,
  `evidence_kind`, `evidence_number`, `principal_division_code`).
  A partial unique index allows one pending or active delegation per principal and
  delegate (`uq_delegation_live_pair`); one past `expires_on` reads `expired` and is
  settled (stored `expired`) before a new one for the pair is written.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PField
from sqlalchemy import ARRAY, CheckConstraint, Column, Index, String, text
from sqlmodel import Field, SQLModel

from schemas.common import (
    ChinaTime,
    Day,
    DivisionCode,
    IdNumberIn,
    Name,
    StrictModel,
    id_field,
    utc_datetime,
)


class DelegationScope(StrEnum):
    beds = "beds"
    home_care = "home_care"
    burial = "burial"


class DelegationStatus(StrEnum):
    pending = "pending"
    active = "active"
    declined = "declined"
    revoked = "revoked"
    expired = "expired"  # past `expires_on` (read so at once; stored when settled)


class EvidenceKind(StrEnum):
    guardianship_certificate = "guardianship_certificate"
    notarised_authorisation = "notarised_authorisation"
    court_order = "court_order"


LIVE_STATUSES = (DelegationStatus.pending, DelegationStatus.active)
_LIVE_SQL = "status IN ('pending', 'active')"


class Delegation(SQLModel, table=True):
    __tablename__ = "delegation"
    __table_args__ = (
        Index("uq_delegation_live_pair", "principal_id_blind", "delegate_id_blind",
              unique=True, postgresql_where=text(_LIVE_SQL)),
        # `delegated_principals` (services/delegations.sql): a delegate's active ones.
        Index("ix_delegation_delegate_active", "delegate_id_blind", "expires_on",
              postgresql_where=text("status = 'active'")),
        Index("ix_delegation_principal", "principal_id_blind", "id"),
        Index("ix_delegation_registered_by", "registered_by_org_id", "id"),
        CheckConstraint("status IN ('pending', 'active', 'declined', 'revoked', 'expired')",
                        name="status_known"),
        CheckConstraint("cardinality(scopes) >= 1", name="scopes_not_empty"),
        CheckConstraint("principal_id_blind <> delegate_id_blind", name="not_self"),
    )

    id: str = id_field()
    status: str = Field(max_length=16)
    principal_name: str = Field(max_length=100)
    principal_id_encrypted: str = Field(max_length=255)
    principal_id_blind: str = Field(max_length=64)
    principal_id_masked: str = Field(max_length=18)
    delegate_name: str = Field(max_length=100)
    delegate_id_encrypted: str = Field(max_length=255)
    delegate_id_blind: str = Field(max_length=64)
    delegate_id_masked: str = Field(max_length=18)
    scopes: list[str] = Field(sa_column=Column(ARRAY(String(16)), nullable=False))
    expires_on: date
    # The account that asked for it (the principal's own), or the staff key that
    # registered a guardianship.
    created_by: str = Field(max_length=128)
    registered_by_org_id: str | None = Field(default=None, max_length=40)
    registered_by_name: str | None = Field(default=None, max_length=100)
    evidence_kind: str | None = Field(default=None, max_length=32)
    evidence_number: str | None = Field(default=None, max_length=64)
    principal_division_code: str | None = Field(default=None, max_length=6)
    created_at: datetime = utc_datetime()
    accepted_at: datetime | None = utc_datetime(default=None)
    declined_at: datetime | None = utc_datetime(default=None)
    revoked_at: datetime | None = utc_datetime(default=None)
    # `citizen:<subject>` or `staff:<key id>`: who revoked it.
    revoked_by: str | None = Field(default=None, max_length=140)
    updated_at: datetime = utc_datetime()


# --- requests -------------------------------------------------------------------


class PersonIn(StrictModel):
    name: Name = PField(examples=["王丽"])
    id_number: IdNumberIn


def _scopes(value: list[DelegationScope]) -> list[DelegationScope]:
    if len(set(value)) != len(value):
        raise ValueError("each scope at most once")
    return value


# `uniqueItems` states in the document the rule `_scopes` enforces: without it a list
# with a scope twice was valid by the document and refused by the server (schemathesis).
_SCOPES_FIELD = PField(min_length=1, max_length=3, examples=[["beds", "home_care"]],
                       json_schema_extra={"uniqueItems": True},
                       description="Non-empty, no duplicates: `beds`, `home_care`, `burial`")
_EXPIRES_FIELD = PField(examples=["2027-12-31"],
                        description="China date, inclusive: the delegation is active through "
                                    "that day. From tomorrow to 5 years ahead (else 422 "
                                    "`invalid_expiry`).")


class DelegationCreate(StrictModel):
    delegate: PersonIn
    scopes: list[DelegationScope] = _SCOPES_FIELD
    expires_on: Day = _EXPIRES_FIELD

    _unique = field_validator("scopes")(_scopes)

    model_config = {"json_schema_extra": {"examples": [{
        "delegate": {"name": "王丽", "id_number": "110105197503150027"},
        "scopes": ["beds", "home_care", "burial"], "expires_on": "2027-12-31"}]}}


class EvidenceIn(StrictModel):
    kind: EvidenceKind
    number: str = PField(min_length=1, max_length=64,
                         examples=["(2026)京0105民特123号"],
                         description="The document's number, as printed on it")


class GuardianshipCreate(StrictModel):
    principal: PersonIn
    principal_division_code: DivisionCode = PField(
        examples=["110105"], description="Where the principal lives: must lie within the "
                                         "registering bureau's division")
    delegate: PersonIn
    scopes: list[DelegationScope] = _SCOPES_FIELD
    expires_on: Day = _EXPIRES_FIELD
    evidence: EvidenceIn

    _unique = field_validator("scopes")(_scopes)

    model_config = {"json_schema_extra": {"examples": [{
        "principal": {"name": "王建国", "id_number": "11010519491231002X"},
        "principal_division_code": "110105",
        "delegate": {"name": "王丽", "id_number": "110105197503150027"},
        "scopes": ["beds", "home_care"], "expires_on": "2030-12-31",
        "evidence": {"kind": "guardianship_certificate", "number": "JH2026-0815"}}]}}


# --- responses ------------------------------------------------------------------


class PersonPublic(BaseModel):
    name: str
    id_number_masked: str = PField(examples=["110105********0027"])


class RegisteredBy(BaseModel):
    org_id: str
    staff_name: str


class EvidencePublic(BaseModel):
    kind: EvidenceKind
    number: str


class DelegationPublic(BaseModel):
    id: str
    status: DelegationStatus = PField(
        description="`pending`, `active`, `declined`, `revoked`, or `expired` once past "
                    "`expires_on`")
    principal: PersonPublic
    delegate: PersonPublic
    scopes: list[DelegationScope]
    expires_on: date
    registered_by: RegisteredBy | None = PField(
        default=None, description="The bureau that registered a guardianship; null for a "
                                  "citizen's own delegation")
    principal_division_code: str | None = None
    evidence: EvidencePublic | None = None
    created_at: ChinaTime
    accepted_at: ChinaTime | None = None
    declined_at: ChinaTime | None = None
    revoked_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "dlg_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4", "status": "active",
        "principal": {"name": "王建国", "id_number_masked": "110105********002X"},
        "delegate": {"name": "王丽", "id_number_masked": "110105********0027"},
        "scopes": ["beds", "home_care", "burial"], "expires_on": "2027-12-31",
        "registered_by": None, "principal_division_code": None, "evidence": None,
        "created_at": "2026-12-07T10:00:00+08:00", "accepted_at": "2026-12-07T10:05:00+08:00",
        "declined_at": None, "revoked_at": None}, {
        "id": "dlg_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b5", "status": "active",
        "principal": {"name": "王建国", "id_number_masked": "110105********002X"},
        "delegate": {"name": "王丽", "id_number_masked": "110105********0027"},
        "scopes": ["beds", "home_care"], "expires_on": "2030-12-31",
        "registered_by": {"org_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b6",
                          "staff_name": "审核-张伟"},
        "principal_division_code": "110105",
        "evidence": {"kind": "guardianship_certificate", "number": "(2026)京0105民特123号"},
        "created_at": "2026-12-07T10:00:00+08:00", "accepted_at": "2026-12-07T10:00:00+08:00",
        "declined_at": None, "revoked_at": None}]})
