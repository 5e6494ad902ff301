"""Appeals (复核, DOMAIN.md section 5): a citizen asks for a refusal to be looked at
again by someone who did not make it.

- `appeal`: one row per appeal. It keeps, from the refused record at filing time,
  when it was refused (`refused_at`), the division whose bureaus are in charge
  (`division_code`: the institution's, the claim's household division, the
  provider's) and the staff identities that took part in the refusal (`refusers`,
  `core.principal.Principal.staff_identity`, normalised), so the decision needs no
  read of another domain's table. A unique partial index allows one `submitted`
  appeal per subject: two filed at once give one 201 and one 409 `duplicate_appeal`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import JSON, CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, StrictModel, free_text, id_field, utc_datetime


class AppealSubjectType(StrEnum):
    bed_application = "bed_application"
    burial_claim = "burial_claim"
    home_care_visit = "home_care_visit"


class AppealStatus(StrEnum):
    submitted = "submitted"
    upheld = "upheld"
    overturned = "overturned"
    withdrawn = "withdrawn"


class AppealDecision(StrEnum):
    upheld = "upheld"
    overturned = "overturned"


_OPEN_SQL = "status = 'submitted'"


class Appeal(SQLModel, table=True):
    __tablename__ = "appeal"
    __table_args__ = (
        # One open appeal per subject (the race-safe rule behind 409 duplicate_appeal).
        Index("uq_appeal_open_subject", "subject_type", "subject_id", unique=True,
              postgresql_where=text(_OPEN_SQL)),
        Index("ix_appeal_appellant", "appellant_subject", "id"),
        Index("ix_appeal_division", "division_code", "id"),
        Index("ix_appeal_due", "status", "decide_by_date"),
        CheckConstraint("status IN ('submitted', 'upheld', 'overturned', 'withdrawn')",
                        name="status_known"),
        CheckConstraint("subject_type IN ('bed_application', 'burial_claim', "
                        "'home_care_visit')", name="subject_type_known"),
    )

    id: str = id_field()
    subject_type: str = Field(max_length=24)
    subject_id: str = Field(max_length=40)
    appellant_subject: str = Field(max_length=128)
    # The delegation an appeal was filed through (delegation, API.md): set by later work.
    delegation_id: str | None = Field(default=None, max_length=40)
    reason: str = Field(max_length=1000)
    status: str = Field(max_length=16)
    filed_at: datetime = utc_datetime()
    # The 20th working day after the day of filing (China time, official calendar).
    decide_by_date: date
    overdue_notified_at: datetime | None = utc_datetime(default=None, nullable=True)
    division_code: str = Field(max_length=6)
    refused_at: datetime = utc_datetime()
    refusers: list[str] = Field(default_factory=list, sa_type=JSON)
    decision: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, max_length=500)
    decided_at: datetime | None = utc_datetime(default=None, nullable=True)
    decided_by: str | None = Field(default=None, max_length=200)  # staff identity
    decided_by_name: str | None = Field(default=None, max_length=100)
    decided_org_id: str | None = Field(default=None, max_length=40)
    withdrawn_at: datetime | None = utc_datetime(default=None, nullable=True)
    updated_at: datetime = utc_datetime()


# --- request and response models ---------------------------------------------


class AppealSubject(StrictModel):
    type: AppealSubjectType
    id: str = PField(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$",
                     description="The refused record's id")


AppealReason = free_text(1000, description="Why the refusal should be looked at again; not blank")


class AppealCreate(StrictModel):
    subject: AppealSubject
    reason: AppealReason

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"subject": {"type": "burial_claim", "id": "bcl_0193a1b2c3d4e5f6a7b8c9d0e1f2"},
         "reason": "户口注销证明已补齐，申请复核"},
        {"subject": {"type": "bed_application", "id": "bap_0193a1b2c3d4e5f6a7b8c9d0e1f2"},
         "reason": "老人能力评估结果有误"},
    ]})


class AppealDecideIn(StrictModel):
    decision: AppealDecision
    note: str | None = PField(default=None, max_length=500,
                              description="The reasons, shown to the appellant")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "overturned", "note": "原驳回理由不成立，退回重新审核"},
        {"decision": "upheld", "note": "材料仍不齐全，维持原决定"},
    ]})


class AppealSubjectPublic(BaseModel):
    type: AppealSubjectType
    id: str


class AppealDeciderPublic(BaseModel):
    org_id: str
    staff_name: str


class AppealPublic(BaseModel):
    id: str
    status: AppealStatus
    subject: AppealSubjectPublic
    reason: str
    filed_at: ChinaTime
    decide_by: date = PField(description="The 20th working day after the day of filing "
                                         "(China time, official calendar, 调休 included)")
    overdue: bool = PField(description="Still `submitted` after the end of `decide_by` "
                                       "(China time)")
    division_code: str = PField(description="The division whose bureaus are in charge")
    refused_at: ChinaTime
    delegation_id: str | None = None
    decision: AppealDecision | None = None
    note: str | None = None
    decided_at: ChinaTime | None = None
    decided_by: AppealDeciderPublic | None = None
    withdrawn_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "apl_0193a1b2c3d4e5f6a7b8c9d0e1f2", "status": "submitted",
        "subject": {"type": "burial_claim", "id": "bcl_0193a1b2c3d4e5f6a7b8c9d0e1f2"},
        "reason": "户口注销证明已补齐，申请复核", "filed_at": "2026-12-07T10:00:00+08:00",
        "decide_by": "2027-01-05", "overdue": False, "division_code": "110105",
        "refused_at": "2026-12-01T15:30:00+08:00", "delegation_id": None, "decision": None,
        "note": None, "decided_at": None, "decided_by": None, "withdrawn_at": None,
    }]})
