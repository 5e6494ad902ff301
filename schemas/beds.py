"""Elderly-care institution beds (DOMAIN.md section 2): tables and, beside them,
the request and response models.

- `bed_pool`: one row per institution and bed category. It carries the vacancy
  count (beds whose status is `available`), kept in the same transaction as every
  bed status change, so a search never counts beds; and it is the row every
  change to that category's beds or waiting list locks first, which serialises
  matching beds to applicants per pool on both databases.
- `bed`: an individual bed, with its own `version` for ETags.
- `bed_application`: an elder's application for a category at one institution.
  A unique partial index (blind index, institution, category) over the active
  statuses allows one active application per elder per pool.
- `bed_application_priority_step`: the dates from which an elder's age lowers the
  application's priority class (turning 80, under the default rules), so the
  class is computed for the current date, never frozen at assessment.
- `bed_applicant`: one row per elder (by blind index) with the number of active
  applications, raised by a conditional UPDATE (`active_count < limit`).
- `bed_occupancy`: who occupied which bed when; at most one open record per bed,
  and at most one per person (by blind index): an elder lives in one institution
  at a time.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, RootModel, Tag, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, IdNumberIn, Name, Phone, StrictModel, id_field, utc_datetime
from schemas.organisation import (
    InstitutionFacts,
    Organisation,
    Ownership,
)


class BedCategory(StrEnum):
    self_care = "self_care"
    semi_care = "semi_care"
    full_care = "full_care"
    dementia = "dementia"


class BedStatus(StrEnum):
    available = "available"
    held = "held"
    occupied = "occupied"
    maintenance = "maintenance"


class PriorityGroup(StrEnum):
    destitute = "destitute"
    minimum_living = "minimum_living"
    low_income = "low_income"
    entitled_group = "entitled_group"
    lost_only_child = "lost_only_child"


class ApplicationStatus(StrEnum):
    submitted = "submitted"
    waitlisted = "waitlisted"
    offered = "offered"
    accepted = "accepted"
    admitted = "admitted"
    declined = "declined"
    expired = "expired"
    withdrawn = "withdrawn"
    rejected = "rejected"


ACTIVE_STATUSES = ("submitted", "waitlisted", "offered", "accepted")
_ACTIVE_SQL = "status IN ('submitted', 'waitlisted', 'offered', 'accepted')"
_OPEN_STAY_SQL = "ended_at IS NULL AND resident_id_blind IS NOT NULL"
_BED_STATUS_SQL = "status IN ('available', 'held', 'occupied', 'maintenance')"


# --- tables ------------------------------------------------------------------


class BedPool(SQLModel, table=True):
    __tablename__ = "bed_pool"
    __table_args__ = (
        CheckConstraint("vacant >= 0 AND vacant <= total", name="vacant_within_total"),
        Index("ix_bed_pool_category_vacant", "category", "vacant"),
    )

    institution_id: str = Field(primary_key=True, foreign_key="organisation.id", max_length=40)
    category: str = Field(primary_key=True, max_length=16)
    total: int = 0
    vacant: int = 0
    lock_seq: int = 0


class Bed(SQLModel, table=True):
    __tablename__ = "bed"
    __table_args__ = (
        UniqueConstraint("institution_id", "code", name="uq_bed_institution_code"),
        CheckConstraint(_BED_STATUS_SQL, name="status_known"),
        CheckConstraint("monthly_fee_fen >= 0", name="fee_non_negative"),
        Index("ix_bed_institution_category_status_fee", "institution_id", "category", "status",
              "monthly_fee_fen"),
    )

    id: str = id_field()
    institution_id: str = Field(foreign_key="organisation.id", max_length=40)
    code: str = Field(max_length=32)
    category: str = Field(max_length=16)
    monthly_fee_fen: int
    reserved_for_destitute: bool = False
    status: str = Field(max_length=16)
    version: int = 1
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


class BedApplication(SQLModel, table=True):
    __tablename__ = "bed_application"
    __table_args__ = (
        Index("uq_bed_application_active_elder", "elder_id_blind", "institution_id", "category",
              unique=True, postgresql_where=text(_ACTIVE_SQL)),
        Index("ix_bed_application_waitlist", "institution_id", "category", "status",
              "priority_class", "applied_at"),
        Index("ix_bed_application_elder_status", "elder_id_blind", "status"),
        Index("ix_bed_application_citizen", "citizen_subject", "id"),
        Index("ix_bed_application_offer_expiry", "status", "offer_expires_at"),
        CheckConstraint("ability_level IS NULL OR ability_level BETWEEN 0 AND 4",
                        name="ability_range"),
        CheckConstraint("max_monthly_fee_fen IS NULL OR max_monthly_fee_fen >= 0",
                        name="max_fee_non_negative"),
    )

    id: str = id_field()
    institution_id: str = Field(foreign_key="organisation.id", max_length=40)
    category: str = Field(max_length=16)
    citizen_subject: str = Field(max_length=128)
    # The delegation (代办) the record was made through, when a delegate made it for
    # its principal (services.delegations); NULL otherwise.
    delegation_id: str | None = Field(default=None, max_length=40)
    elder_name: str = Field(max_length=100)
    elder_id_encrypted: str = Field(max_length=255)
    elder_id_blind: str = Field(max_length=64)
    elder_id_masked: str = Field(max_length=18)
    # Personal data (core.protected.PHONE): encrypted, in full only to the institution.
    elder_phone_encrypted: str = Field(max_length=255)
    elder_phone_masked: str = Field(max_length=32)
    priority_groups: list[str] = Field(default_factory=list, sa_type=JSON)
    declared_ability_level: int | None = None
    # The most the family can pay a month: no offer exceeds it (None: no limit).
    max_monthly_fee_fen: int | None = None
    ability_level: int | None = None
    verified_priority_groups: list[str] = Field(default_factory=list, sa_type=JSON)
    # The class on the day of assessment; later classes are in the steps below.
    priority_class: int | None = None
    destitute: bool = False
    status: str = Field(max_length=16)
    bed_id: str | None = Field(default=None, foreign_key="bed.id", max_length=40, index=True)
    applied_at: datetime = utc_datetime()
    assessed_at: datetime | None = utc_datetime(default=None, nullable=True)
    offered_at: datetime | None = utc_datetime(default=None, nullable=True)
    offer_expires_at: datetime | None = utc_datetime(default=None, nullable=True)
    accepted_at: datetime | None = utc_datetime(default=None, nullable=True)
    admitted_at: datetime | None = utc_datetime(default=None, nullable=True)
    closed_at: datetime | None = utc_datetime(default=None, nullable=True)
    updated_at: datetime = utc_datetime()


class BedApplicationPriorityStep(SQLModel, table=True):
    """From `from_date` on, the application is in `priority_class` (lower than the
    class at assessment): the day the elder reaches an age a priority rule names.
    Written with the assessment, replaced by a reassessment."""

    __tablename__ = "bed_application_priority_step"
    __table_args__ = (CheckConstraint("priority_class >= 0", name="class_non_negative"),)

    application_id: str = Field(primary_key=True, foreign_key="bed_application.id",
                                max_length=40)
    from_date: date = Field(primary_key=True)
    priority_class: int


class BedApplicant(SQLModel, table=True):
    """One row per elder (by blind index): the count of active applications."""

    __tablename__ = "bed_applicant"
    __table_args__ = (CheckConstraint("active_count >= 0", name="active_non_negative"),)

    elder_id_blind: str = Field(primary_key=True, max_length=64)
    active_count: int = 0
    updated_at: datetime = utc_datetime()


class BedOccupancy(SQLModel, table=True):
    __tablename__ = "bed_occupancy"
    __table_args__ = (
        Index("uq_bed_occupancy_open_bed", "bed_id", unique=True,
              postgresql_where=text("ended_at IS NULL")),
        # An elder lives in one institution at a time: one open stay per person.
        Index("uq_bed_occupancy_open_resident", "resident_id_blind", unique=True,
              postgresql_where=text(_OPEN_STAY_SQL)),
        Index("ix_bed_occupancy_institution", "institution_id", "id"),
        Index("ix_bed_occupancy_bed", "bed_id", "id"),
    )

    id: str = id_field()
    institution_id: str = Field(foreign_key="organisation.id", max_length=40)
    bed_id: str = Field(foreign_key="bed.id", max_length=40)
    application_id: str | None = Field(default=None, foreign_key="bed_application.id",
                                       max_length=40)
    resident_name: str = Field(max_length=100)
    resident_id_encrypted: str | None = Field(default=None, max_length=255)
    resident_id_blind: str | None = Field(default=None, max_length=64)
    resident_id_masked: str | None = Field(default=None, max_length=18)
    outside_huimin: bool = False
    started_at: datetime = utc_datetime()
    ended_at: datetime | None = utc_datetime(default=None, nullable=True)
    end_reason: str | None = Field(default=None, max_length=200)


# Nearest-institution search narrows by a latitude/longitude box first.
Index("ix_organisation_lat_lon", Organisation.__table__.c.lat, Organisation.__table__.c.lon)




# --- request and response models ---------------------------------------------


class Vacancies(BaseModel):
    self_care: int = 0
    semi_care: int = 0
    full_care: int = 0
    dementia: int = 0


class FeeRange(BaseModel):
    min_fen: int
    max_fen: int


class MonthlyFees(BaseModel):
    """Per category, the lowest and highest monthly fee of the institution's beds
    (null: no bed of that category)."""

    self_care: FeeRange | None = None
    semi_care: FeeRange | None = None
    full_care: FeeRange | None = None
    dementia: FeeRange | None = None


class InstitutionPublic(InstitutionFacts):
    vacancies: Vacancies
    monthly_fees: MonthlyFees = PField(
        default_factory=MonthlyFees,
        description="Each category's monthly fee range over the institution's beds")
    distance_km: float | None = PField(
        default=None, description="Great-circle distance from `near`, in kilometres")
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2", "name": "武侯区社会福利院",
        "division_code": "510107", "division_name": "四川省成都市武侯区",
        "address": "成都市武侯区武侯祠大街 1 号", "phone": "028-85550000",
        "lat": 30.646, "lon": 104.048, "ownership": "public", "rating": 4,
        "medical_care": True,
        "vacancies": {"self_care": 3, "semi_care": 1, "full_care": 0, "dementia": 0},
        "monthly_fees": {"self_care": {"min_fen": 200000, "max_fen": 260000},
                         "semi_care": {"min_fen": 300000, "max_fen": 300000},
                         "full_care": {"min_fen": 380000, "max_fen": 450000},
                         "dementia": None},
        "distance_km": 2.41, "updated_at": "2026-11-29T10:00:00+08:00",
    }]})


class InstitutionUpdate(StrictModel):
    """The institution's own profile; every field optional (PATCH). The name, the
    division code and the star rating are the platform admin's to set
    (`PATCH /v1/admin/organisations/{org_id}`): naming one here is refused (422)."""

    address: str | None = PField(default=None, max_length=300)
    phone: Phone | None = None
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    ownership: Ownership | None = None
    medical_care: bool | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"medical_care": True, "phone": "028-85550001"},
        {"address": "成都市武侯区武侯祠大街 3 号", "lat": 30.645, "lon": 104.047},
    ]})


class BedCreate(StrictModel):
    code: str = PField(min_length=1, max_length=32, pattern=r"^\S(.*\S)?$",
                       description="Room and bed number, unique in the institution")
    category: BedCategory
    monthly_fee_fen: int = PField(ge=0, le=100_000_000)
    reserved_for_destitute: bool = False
    status: Literal["available", "maintenance"] = PField(
        default="available", description="A new bed starts available (offered at once to "
        "the waiting list) or in maintenance")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "3-301-1", "category": "full_care", "monthly_fee_fen": 380000,
         "reserved_for_destitute": False},
        {"code": "1-101-2", "category": "self_care", "monthly_fee_fen": 200000,
         "reserved_for_destitute": True, "status": "maintenance"},
    ]})


class BedUpdate(StrictModel):
    status: Literal["available", "maintenance"] | None = PField(
        default=None, description="Only `available` or `maintenance`; `held` and "
        "`occupied` follow offers and admissions")
    monthly_fee_fen: int | None = PField(default=None, ge=0, le=100_000_000)
    reserved_for_destitute: bool | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"status": "maintenance"}, {"status": "available", "monthly_fee_fen": 390000},
    ]})


class BedPublic(BaseModel):
    id: str
    institution_id: str
    code: str
    category: BedCategory
    monthly_fee_fen: int
    reserved_for_destitute: bool
    status: BedStatus
    application_id: str | None = PField(
        default=None, description="The application the bed is held for or occupied by")
    offer_expires_at: ChinaTime | None = None
    etag: str
    created_at: ChinaTime
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bed_0193a1b2c3d4e5f6a7b8c9d0e1f2", "institution_id": "org_0193a1b2c3d4",
        "code": "3-301-1", "category": "full_care", "monthly_fee_fen": 380000,
        "reserved_for_destitute": False, "status": "available", "application_id": None,
        "offer_expires_at": None, "etag": '"bed_0193a1b2c3d4e5f6a7b8c9d0e1f2.1"',
        "created_at": "2026-11-29T10:00:00+08:00", "updated_at": "2026-11-29T10:00:00+08:00",
    }]})


class ElderIn(StrictModel):
    name: Name
    id_number: IdNumberIn
    phone: Phone


class BedApplicationCreate(StrictModel):
    institution_id: str = PField(min_length=1, max_length=40)
    category: BedCategory
    elder: ElderIn
    priority_groups: list[PriorityGroup] = PField(default_factory=list, max_length=5)
    ability_level: int | None = PField(
        default=None, ge=0, le=4,
        description="The applicant's own statement (0 intact to 4 total); only a hint, "
                    "the institution's assessment counts")
    max_monthly_fee_fen: int | None = PField(
        default=None, ge=0, le=100_000_000,
        description="The most the family can pay a month, in fen: no bed above it is offered")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "institution_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2", "category": "full_care",
        "elder": {"name": "张秀英", "id_number": "11010519491231002X", "phone": "13800138000"},
        "priority_groups": ["lost_only_child"], "ability_level": 3,
        "max_monthly_fee_fen": 400000,
    }]})

    @model_validator(mode="after")
    def _unique_groups(self) -> BedApplicationCreate:
        self.priority_groups = sorted(set(self.priority_groups))
        return self


class AssessmentIn(StrictModel):
    ability_level: int = PField(ge=0, le=4, description="GB/T 42195-2022: 0 intact, 1 mild, "
                                "2 moderate, 3 severe, 4 total")
    verified_priority_groups: list[PriorityGroup] = PField(default_factory=list, max_length=5)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"ability_level": 3, "verified_priority_groups": ["lost_only_child"]},
    ]})

    @model_validator(mode="after")
    def _unique_groups(self) -> AssessmentIn:
        self.verified_priority_groups = sorted(set(self.verified_priority_groups))
        return self


class ElderPublic(BaseModel):
    name: str
    id_number_masked: str
    phone_masked: str = PField(examples=["138****8000"])
    phone: str | None = PField(
        default=None, description="In full only to the institution applied to, which must "
        "be able to call the family; absent for everyone else (the applying citizen too)",
        examples=["13800138000"])


class BedApplicationPublic(BaseModel):
    id: str
    institution_id: str
    category: BedCategory
    status: ApplicationStatus
    elder: ElderPublic
    priority_groups: list[PriorityGroup]
    declared_ability_level: int | None = None
    max_monthly_fee_fen: int | None = PField(
        default=None, description="The family's monthly limit; no offer exceeds it")
    ability_level: int | None = None
    verified_priority_groups: list[PriorityGroup]
    priority_class: int | None = PField(
        default=None, description="0 goes first; set by the assessment, and on the "
        "current date: an elder who reaches a priority age (80) while waiting moves up")
    waitlist_position: int | None = PField(
        default=None, description="1-based place on the waiting list while `waitlisted`")
    bed_id: str | None = None
    bed_code: str | None = PField(default=None, description="The offered (or held) bed's "
                                  "room and bed number")
    bed_monthly_fee_fen: int | None = PField(
        default=None, description="That bed's monthly fee in fen, shown before accepting")
    offer_expires_at: ChinaTime | None = None
    applied_at: ChinaTime
    assessed_at: ChinaTime | None = None
    offered_at: ChinaTime | None = None
    accepted_at: ChinaTime | None = None
    admitted_at: ChinaTime | None = None
    closed_at: ChinaTime | None = None
    delegation_id: str | None = PField(
        default=None, description="The delegation (代办) through which a delegate made this "
                                  "record for its principal; null otherwise")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "bap_0193a1b2c3d4e5f6a7b8c9d0e1f2", "institution_id": "org_0193a1b2c3d4",
        "category": "full_care", "status": "offered",
        "elder": {"name": "张秀英", "id_number_masked": "110105********002X",
                  "phone_masked": "138****8000", "phone": "13800138000"},
        "priority_groups": ["lost_only_child"], "declared_ability_level": 3,
        "max_monthly_fee_fen": 400000, "ability_level": 3,
        "verified_priority_groups": ["lost_only_child"],
        "priority_class": 2, "waitlist_position": None,
        "bed_id": "bed_0193a1b2c3d4e5f6a7b8c9d0e1f2", "bed_code": "3-301-1",
        "bed_monthly_fee_fen": 380000, "offer_expires_at": "2026-12-02T10:00:00+08:00",
        "applied_at": "2026-11-28T09:00:00+08:00", "assessed_at": "2026-11-29T10:00:00+08:00",
        "offered_at": "2026-11-29T10:00:00+08:00", "accepted_at": None, "admitted_at": None,
        "closed_at": None,
    }]})


class _OutsideResidentFields(StrictModel):
    name: Name
    id_number: IdNumberIn | None = None


class OutsideResidentInBed(_OutsideResidentFields):
    """Into the given bed."""

    bed_id: str = PField(max_length=40, description="The bed")
    category: None = PField(default=None, description="Only without `bed_id`")


class OutsideResidentInCategory(_OutsideResidentFields):
    """Into any free bed of the category."""

    category: BedCategory = PField(description="Take any free bed of this category")
    bed_id: None = PField(default=None, description="Only without `category`")


def _bed_or_category(body: Any) -> str | None:
    """Which variant a body is: `bed` when it names a bed (then `category` must be
    absent), `category` when it names only a category; neither is refused."""
    get = body.get if isinstance(body, dict) else lambda name: getattr(body, name, None)
    if get("bed_id") is not None:
        return "bed"
    return "category" if get("category") is not None else None


class OutsideResidentIn(RootModel[Annotated[
        Annotated[OutsideResidentInBed, Tag("bed")]
        | Annotated[OutsideResidentInCategory, Tag("category")],
        Discriminator(_bed_or_category, custom_error_type="bed_or_category",
                      custom_error_message="give exactly one of bed_id and category")]]):
    """Exactly one of `bed_id` and `category`: a `oneOf` of the two in the document,
    so a generated client refuses a body with neither."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"bed_id": "bed_0193a1b2c3d4e5f6a7b8c9d0e1f2", "name": "王建国",
         "id_number": "110105194805050011"},
        {"category": "self_care", "name": "李桂兰"},
    ]})


# What the service takes: the chosen variant (`OutsideResidentIn.root`).
OutsideResident = OutsideResidentInBed | OutsideResidentInCategory


class DischargeIn(StrictModel):
    reason: str | None = PField(default=None, max_length=200)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "moved to a hospital"}]})


class OccupancyPublic(BaseModel):
    id: str
    institution_id: str
    bed_id: str
    bed_code: str | None = None
    application_id: str | None = None
    resident_name: str
    resident_id_number_masked: str | None = None
    outside_huimin: bool
    started_at: ChinaTime
    ended_at: ChinaTime | None = None
    end_reason: str | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "occ_0193a1b2c3d4e5f6a7b8c9d0e1f2", "institution_id": "org_0193a1b2c3d4",
        "bed_id": "bed_0193a1b2c3d4e5f6a7b8c9d0e1f2", "bed_code": "3-301-1",
        "application_id": "bap_0193a1b2c3d4e5f6a7b8c9d0e1f2", "resident_name": "张秀英",
        "resident_id_number_masked": "110105********002X", "outside_huimin": False,
        "started_at": "2026-12-01T09:00:00+08:00", "ended_at": None, "end_reason": None,
    }]})
