"""Home and community care (DOMAIN.md section 3): tables and, beside them, the
request and response models.

- `home_care_offering`: a provider's price and duration for one catalogue service
  (ETag'd: `version`). Its `pos` and `division_code` are its provider's
  (`organisation.pos`, `organisation.division_code`), kept there by triggers
  (services/home_care/providers.sql) so that one GiST index on (service_code, pos,
  division_code) finds the nearest providers of a service, in a division or not.
- `home_care_provider_rating`: how many visits of a provider were rated and the sum
  of their stars, counted as each rating is given (the directory shows the mean).
- `home_care_caregiver`: a provider's caregiver with skills and weekly hours (and
  `week_minutes`, the same hours as PostgreSQL computes them for the rules). Its
  row is also the lock that serialises every booking of that caregiver and every
  change of it (`home_care_book` locks it; changes update it).
- `home_care_time_off`: a caregiver's leave, a range of time nobody is booked into.
- `home_care_booking`: a visit at the elder's home. `blocked_until` is the visit's
  end plus the travel buffer in force when it was booked; on PostgreSQL an
  exclusion constraint (btree_gist, created by the migration) forbids two active
  visits of one caregiver whose `[starts_at, blocked_until)` ranges overlap.
- `home_care_subsidy`: an elder's monthly service allowance (by blind index).
- `home_care_allowance_month`: what an elder's allowance paid in one month; a
  CHECK keeps `used_fen` within `allowance_fen`, and completions take from it by
  a conditional UPDATE.
- `home_care_centre_session`: a session at a centre (day care, canteen meals) with
  its capacity; its seats are a `capacity_slot` row of the same id, taken and given
  back through `services.capacity`.
- `home_care_centre_booking`: a seat an elder holds in a session; one booked seat
  per elder per session (a unique partial index on the blind index).
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, CheckConstraint, Column, Computed, Index, String, column, func, text
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE, ExcludeConstraint
from sqlmodel import Field, SQLModel

from core.clock import CHINA_TZ
from schemas.common import (
    ChinaTime,
    ClockTimeOrEndOfDay,
    Cube,
    Day,
    IdNumberIn,
    Instant,
    Name,
    Phone,
    StrictModel,
    free_text,
    id_field,
    utc_datetime,
)
from schemas.organisation import Role


class ServiceCode(StrEnum):
    meal_assist = "meal_assist"
    cleaning = "cleaning"
    bathing = "bathing"
    medical_escort = "medical_escort"
    mobility_assist = "mobility_assist"
    emergency_help = "emergency_help"
    day_care = "day_care"
    rehab_nursing = "rehab_nursing"


class BookingStatus(StrEnum):
    booked = "booked"
    in_service = "in_service"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


# Visits that hold their caregiver's time (the exclusion constraint's predicate).
HOLDING_STATUSES = ("booked", "in_service", "completed")
HOLDING_SQL = "status IN ('booked', 'in_service', 'completed')"


# --- visit verification (EVV): the vocabulary of a completed visit's record ------------


class VerificationStatus(StrEnum):
    """A completed visit's verification: `verified` and `corrected` draw on the
    subsidy; `exception` and `correction_submitted` await the bureau; `rejected` is
    decided without subsidy."""

    verified = "verified"
    exception = "exception"
    correction_submitted = "correction_submitted"
    corrected = "corrected"
    rejected = "rejected"


class ExceptionCode(StrEnum):
    location_mismatch = "location_mismatch"
    late_check_in = "late_check_in"
    short_visit = "short_visit"
    missing_check_out = "missing_check_out"


class CorrectionReason(StrEnum):
    device_problem = "device_problem"
    no_signal = "no_signal"
    ended_early_at_elder_request = "ended_early_at_elder_request"
    forgot_to_check = "forgot_to_check"
    address_changed = "address_changed"
    other = "other"


# Visits awaiting the bureau's decision (the exceptions list's default, and the
# predicate of its partial index).
AWAITING_DECISION = ("exception", "correction_submitted")
AWAITING_SQL = "verification IN ('exception', 'correction_submitted')"
# Verified and corrected visits draw on the subsidy; no other does.
PAYING = ("verified", "corrected")


# --- tables ------------------------------------------------------------------


class HomeCareOffering(SQLModel, table=True):
    __tablename__ = "home_care_offering"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_non_negative"),
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
    )

    provider_id: str = Field(primary_key=True, foreign_key="organisation.id", max_length=40)
    service_code: str = Field(primary_key=True, max_length=32)
    price_fen: int
    duration_minutes: int
    version: int = 1
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()



# The provider's place on the offering row (see the module's docstring): on the
# table, not on the model, like `organisation.pos`. Written only by the triggers of
# services/home_care/providers.sql; "the nearest providers of this service (in this
# division)" is one scan of this index, ordered by `pos <-> origin`, that starts
# within the service (a rare service does not walk past the nearest providers of
# every other) and prunes subtrees outside the division.
_offering = HomeCareOffering.__table__
_offering.append_column(Column("pos", Cube(), nullable=True))
_offering.append_column(Column("division_code", String(6), nullable=False))
Index("ix_home_care_offering_service_pos_division", _offering.c.service_code, _offering.c.pos,
      _offering.c.division_code, postgresql_using="gist")


class HomeCareProviderRating(SQLModel, table=True):
    """A provider's rated visits: counted in the transaction of each rating
    (`services.home_care.providers.count_rating`), so the directory reads one row per
    provider instead of its visits."""

    __tablename__ = "home_care_provider_rating"
    __table_args__ = (
        CheckConstraint("rating_count >= 0", name="count_non_negative"),
        CheckConstraint("rating_sum BETWEEN rating_count AND 5 * rating_count",
                        name="sum_within_stars"),
    )

    provider_id: str = Field(primary_key=True, foreign_key="organisation.id", max_length=40)
    rating_count: int = 0
    rating_sum: int = 0
    updated_at: datetime = utc_datetime()

class HomeCareCaregiver(SQLModel, table=True):
    __tablename__ = "home_care_caregiver"
    __table_args__ = (Index("ix_home_care_caregiver_provider", "provider_id", "id"),)

    id: str = id_field()
    provider_id: str = Field(foreign_key="organisation.id", max_length=40)
    name: str = Field(max_length=100)
    skills: list[str] = Field(sa_type=JSON)
    weekly_hours: list[dict] = Field(sa_type=JSON)
    # `weekly_hours` as minutes of the week, computed by PostgreSQL
    # (home_care_week_minutes, services/home_care/rules.sql): what the rules of when a
    # caregiver can take a visit read, so that no request parses the JSON again.
    week_minutes: Any = Field(default=None, sa_column=Column(
        INT4MULTIRANGE, Computed("home_care_week_minutes(weekly_hours)", persisted=True)))
    active: bool = True
    version: int = 1
    lock_seq: int = 0
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


class HomeCareTimeOff(SQLModel, table=True):
    __tablename__ = "home_care_time_off"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_home_care_time_off_caregiver", "caregiver_id", "starts_at"),
    )

    id: str = id_field()
    caregiver_id: str = Field(foreign_key="home_care_caregiver.id", max_length=40)
    provider_id: str = Field(foreign_key="organisation.id", max_length=40)
    starts_at: datetime = utc_datetime()
    ends_at: datetime = utc_datetime()
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = utc_datetime()


class HomeCareBooking(SQLModel, table=True):
    __tablename__ = "home_care_booking"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("blocked_until >= ends_at", name="blocked_after_end"),
        CheckConstraint("rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5",
                        name="rating_range"),
        CheckConstraint("subsidy_paid_fen IS NULL OR subsidy_paid_fen >= 0",
                        name="subsidy_non_negative"),
        CheckConstraint("family_paid_fen IS NULL OR family_paid_fen >= 0",
                        name="family_non_negative"),
        Index("ix_home_care_booking_caregiver_start", "caregiver_id", "starts_at"),
        Index("ix_home_care_booking_provider_date", "provider_id", "visit_date", "starts_at"),
        Index("ix_home_care_booking_citizen", "citizen_subject", "starts_at"),
        # A caregiver is in one place at a time, travel buffer included
        # (`blocked_until`): no two live visits of one caregiver overlap (btree_gist).
        ExcludeConstraint(
            (column("caregiver_id"), "="),
            (func.tstzrange(column("starts_at"), column("blocked_until"), "[)"), "&&"),
            name="ex_home_care_booking_caregiver_time", using="gist",
            where=text("status IN ('booked', 'in_service', 'completed')")),
        # Visit verification: a completed visit's only, one of the five values; what
        # is held for an exception is never negative; the visits awaiting a decision,
        # a provider's oldest first (the exceptions list).
        CheckConstraint("verification IS NULL OR (status = 'completed' AND verification IN "
                        "('verified', 'exception', 'correction_submitted', 'corrected', "
                        "'rejected'))", name="verification_known"),
        CheckConstraint("subsidy_held_fen IS NULL OR subsidy_held_fen >= 0",
                        name="held_non_negative"),
        Index("ix_home_care_booking_awaiting", "provider_id", "starts_at", "id",
              postgresql_where=text(AWAITING_SQL)),
    )

    id: str = id_field()
    provider_id: str = Field(foreign_key="organisation.id", max_length=40)
    caregiver_id: str = Field(foreign_key="home_care_caregiver.id", max_length=40)
    service_code: str = Field(max_length=32)
    status: str = Field(max_length=16)
    citizen_subject: str = Field(max_length=128)
    # The delegation (代办) the record was made through, when a delegate made it for
    # its principal (services.delegations); NULL otherwise.
    delegation_id: str | None = Field(default=None, max_length=40)
    visit_date: date
    starts_at: datetime = utc_datetime()
    ends_at: datetime = utc_datetime()
    blocked_until: datetime = utc_datetime()
    price_fen: int
    elder_name: str = Field(max_length=100)
    elder_id_encrypted: str = Field(max_length=255)
    elder_id_blind: str = Field(max_length=64, index=True)
    elder_id_masked: str = Field(max_length=18)
    elder_phone_encrypted: str = Field(max_length=255)
    elder_phone_masked: str = Field(max_length=32)
    elder_address_encrypted: str = Field(max_length=1200)
    elder_address_masked: str = Field(max_length=32)
    elder_lat: float | None = None
    elder_lon: float | None = None
    check_in_at: datetime | None = utc_datetime(default=None)
    check_in_lat: float | None = None
    check_in_lon: float | None = None
    check_out_at: datetime | None = utc_datetime(default=None)
    check_out_lat: float | None = None
    check_out_lon: float | None = None
    location_flagged: bool = False
    completed_at: datetime | None = utc_datetime(default=None)
    no_show_at: datetime | None = utc_datetime(default=None)
    cancelled_at: datetime | None = utc_datetime(default=None)
    cancelled_by: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=200)
    subsidy_paid_fen: int | None = None
    family_paid_fen: int | None = None
    rating_stars: int | None = None
    rating_comment: str | None = Field(default=None, max_length=500)
    rated_at: datetime | None = utc_datetime(default=None)
    # Visit verification (EVV): set when the visit completes (`exceptions` gathers codes
    # from the check-in on; null, like `[]`, is none yet: a write that names every
    # column, as the booking's one statement does, leaves it null); the provider's
    # correction and the bureau's decision.
    verification: str | None = Field(default=None, max_length=24)
    exceptions: list[str] | None = Field(default=None, sa_type=JSON,
                                         sa_column_kwargs={"server_default": text("'[]'")})
    subsidy_held_fen: int | None = None
    correction_reason_code: str | None = Field(default=None, max_length=32)
    correction_note: str | None = Field(default=None, max_length=500)
    correction_start_at: datetime | None = utc_datetime(default=None)
    correction_end_at: datetime | None = utc_datetime(default=None)
    correction_submitted_at: datetime | None = utc_datetime(default=None)
    correction_submitted_by: str | None = Field(default=None, max_length=200)
    verification_decided_at: datetime | None = utc_datetime(default=None)
    verification_decided_by: str | None = Field(default=None, max_length=200)
    verification_decision_note: str | None = Field(default=None, max_length=500)
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


class HomeCareSubsidy(SQLModel, table=True):
    __tablename__ = "home_care_subsidy"
    __table_args__ = (
        CheckConstraint("monthly_allowance_fen >= 0", name="allowance_non_negative"),
        CheckConstraint("valid_to >= valid_from", name="valid_range"),
    )

    elder_id_blind: str = Field(primary_key=True, max_length=64)
    elder_id_encrypted: str = Field(max_length=255)
    elder_id_masked: str = Field(max_length=18)
    monthly_allowance_fen: int
    valid_from: date
    valid_to: date
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


class HomeCareAllowanceMonth(SQLModel, table=True):
    __tablename__ = "home_care_allowance_month"
    __table_args__ = (
        CheckConstraint("used_fen >= 0 AND used_fen <= allowance_fen", name="used_within"),
        Index("ix_home_care_allowance_month_month", "month", "elder_id_blind"),
    )

    elder_id_blind: str = Field(primary_key=True, max_length=64)
    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM, China time
    elder_id_masked: str = Field(max_length=18)
    allowance_fen: int
    used_fen: int = 0
    updated_at: datetime = utc_datetime()


CENTRE_SERVICES = ("day_care", "meal_assist")


class HomeCareCentreSession(SQLModel, table=True):
    __tablename__ = "home_care_centre_session"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("price_fen >= 0", name="price_non_negative"),
        Index("ix_home_care_centre_session_provider_start", "provider_id", "starts_at"),
    )

    id: str = id_field()
    provider_id: str = Field(foreign_key="organisation.id", max_length=40)
    service_code: str = Field(max_length=32)
    session_date: date
    starts_at: datetime = utc_datetime()
    ends_at: datetime = utc_datetime()
    capacity: int
    price_fen: int
    created_at: datetime = utc_datetime()


_SEAT_BOOKED_SQL = "status = 'booked'"


class HomeCareCentreBooking(SQLModel, table=True):
    __tablename__ = "home_care_centre_booking"
    __table_args__ = (
        Index("uq_home_care_centre_booking_elder_session", "elder_id_blind", "session_id",
              unique=True,
              postgresql_where=text(_SEAT_BOOKED_SQL)),
        Index("ix_home_care_centre_booking_citizen", "citizen_subject", "id"),
        Index("ix_home_care_centre_booking_provider", "provider_id", "id"),
    )

    id: str = id_field()
    session_id: str = Field(foreign_key="home_care_centre_session.id", max_length=40)
    provider_id: str = Field(foreign_key="organisation.id", max_length=40)
    status: str = Field(max_length=16)
    citizen_subject: str = Field(max_length=128)
    # The delegation (代办) the record was made through, when a delegate made it for
    # its principal (services.delegations); NULL otherwise.
    delegation_id: str | None = Field(default=None, max_length=40)
    elder_name: str = Field(max_length=100)
    elder_id_encrypted: str = Field(max_length=255)
    elder_id_blind: str = Field(max_length=64)
    elder_id_masked: str = Field(max_length=18)
    elder_phone_encrypted: str = Field(max_length=255)
    elder_phone_masked: str = Field(max_length=32)
    cancelled_at: datetime | None = utc_datetime(default=None)
    cancelled_by: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


# --- request and response models -------------------------------------------------

# One provider, caregiver and visit that the response examples below share.
_PROVIDER = "org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4"
_CAREGIVER = "hcg_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b5"
_ELDER_ID_MASKED = "310101********2317"
_WEEKLY_HOURS = [{"weekday": d, "start": "08:00", "end": "17:00"} for d in range(1, 6)]

HHMM = ClockTimeOrEndOfDay


class CataloguePublic(BaseModel):
    code: ServiceCode
    name: str = PField(examples=["助餐"])
    name_en: str = PField(examples=["Meal assistance"])
    default_duration_minutes: int = PField(examples=[60])
    centre: bool = PField(description="Also offered as seats in sessions at a centre",
                          examples=[False])

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "meal_assist", "name": "助餐", "name_en": "Meal assistance",
        "default_duration_minutes": 60, "centre": True}]})


class OfferingIn(StrictModel):
    price_fen: int = PField(ge=0, le=10_000_000, examples=[5000])
    duration_minutes: int | None = PField(
        default=None, ge=15, le=720, examples=[60],
        description="Left out: the catalogue's default duration")


class OfferingPublic(BaseModel):
    provider_id: str
    service_code: ServiceCode
    name: str
    price_fen: int
    duration_minutes: int
    etag: str
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "provider_id": _PROVIDER, "service_code": "cleaning", "name": "助洁",
        "price_fen": 8000, "duration_minutes": 120,
        "etag": f'"offering:{_PROVIDER}:cleaning.1"',
        "updated_at": "2026-12-01T10:00:00+08:00"}]})



class ProviderOffering(BaseModel):
    service_code: ServiceCode
    price_fen: int = PField(examples=[1500])
    duration_minutes: int = PField(examples=[60])


class ProviderPublic(BaseModel):
    """A provider in the directory (`GET /v1/home-care/providers`)."""

    id: str
    name: str
    address: str | None = None
    phone: str | None = None
    lat: float | None = None
    lon: float | None = None
    division_code: str
    distance_m: int | None = PField(
        default=None, description="Metres from `near` along the earth's surface (great "
        "circle, mean radius 6,371.0088 km), rounded; null without `near`")
    offerings: list[ProviderOffering] = PField(
        description="Every service the provider offers, with its price and duration: the "
        "service asked for (`service_code`) first, then the others by code")
    rating_avg: float | None = PField(
        default=None, description="Mean stars of the provider's rated visits, to two "
        "decimals; null below 5 ratings", examples=[4.67])
    rating_count: int = PField(description="Rated visits", examples=[12])

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _PROVIDER, "name": "黄浦区为老服务中心", "address": "上海市黄浦区淮海中路 50 号",
        "phone": "021-63300000", "lat": 31.222, "lon": 121.47, "division_code": "310101",
        "distance_m": 1460,
        "offerings": [{"service_code": "meal_assist", "price_fen": 1500, "duration_minutes": 60},
                      {"service_code": "bathing", "price_fen": 12000, "duration_minutes": 90},
                      {"service_code": "cleaning", "price_fen": 8000,
                       "duration_minutes": 120}],
        "rating_avg": 4.67, "rating_count": 12}, {
        "id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3c9", "name": "南京东路街道助餐点",
        "address": "上海市黄浦区九江路 200 号", "phone": "021-63500000", "lat": 31.236,
        "lon": 121.483, "division_code": "310101", "distance_m": 2105,
        "offerings": [{"service_code": "meal_assist", "price_fen": 1200,
                       "duration_minutes": 60}],
        "rating_avg": None, "rating_count": 3}]})

class WeeklyHours(StrictModel):
    weekday: int = PField(ge=1, le=7, description="1 = Monday", examples=[1])
    start: HHMM = PField(examples=["08:00"])
    end: HHMM = PField(examples=["17:00"])

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CaregiverCreate(StrictModel):
    name: Name = PField(examples=["李秀英"])
    skills: list[ServiceCode] = PField(min_length=1, max_length=8,
                                       examples=[["cleaning", "meal_assist"]])
    weekly_hours: list[WeeklyHours] = PField(
        max_length=28, examples=[[{"weekday": 1, "start": "08:00", "end": "17:00"}]])


class CaregiverUpdate(StrictModel):
    name: Name | None = PField(default=None, examples=["李秀英"])
    skills: list[ServiceCode] | None = PField(default=None, min_length=1, max_length=8,
                                              examples=[["cleaning"]])
    weekly_hours: list[WeeklyHours] | None = PField(
        default=None, max_length=28,
        examples=[[{"weekday": 1, "start": "09:00", "end": "12:00"}]])
    cancel_affected: bool = PField(
        default=False, description="Cancel the booked visits the change strands instead "
                                   "of refusing it (409 `bookings_affected`)")


class CancelAffectedIn(StrictModel):
    cancel_affected: bool = PField(default=False, examples=[False])


class CaregiverPublic(BaseModel):
    id: str
    provider_id: str
    name: str
    skills: list[str]
    weekly_hours: list[dict]
    active: bool
    etag: str
    created_at: ChinaTime
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _CAREGIVER, "provider_id": _PROVIDER, "name": "李秀英",
        "skills": ["cleaning", "meal_assist"], "weekly_hours": _WEEKLY_HOURS,
        "active": True, "etag": f'"{_CAREGIVER}.1"',
        "created_at": "2026-12-01T10:00:00+08:00",
        "updated_at": "2026-12-01T10:00:00+08:00"}]})


class TimeOffCreate(StrictModel):
    """Leave as a range of time (`starts_at`, `ends_at`), or as whole days (`date`, and
    `to_date` for several, inclusive, China time)."""

    starts_at: Instant | None = PField(default=None, examples=["2026-12-08T13:00:00+08:00"])
    ends_at: Instant | None = PField(default=None, examples=["2026-12-08T17:00:00+08:00"])
    date: Day | None = PField(default=None, examples=["2026-12-08"])
    to_date: Day | None = PField(default=None, examples=["2026-12-09"])
    reason: str | None = PField(default=None, max_length=200, examples=["事假"])
    cancel_affected: bool = PField(default=False, examples=[False])

    @model_validator(mode="after")
    def _one_form(self) -> TimeOffCreate:
        if self.date is not None:
            if self.starts_at is not None or self.ends_at is not None:
                raise ValueError("give either date (and to_date) or starts_at and ends_at")
            last = self.to_date or self.date
            if last < self.date or (last - self.date).days > 366:
                raise ValueError("to_date must be from date to a year after it")
            self.starts_at = dt.datetime.combine(self.date, dt.time(0), tzinfo=CHINA_TZ)
            self.ends_at = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0),
                                               tzinfo=CHINA_TZ)
            return self
        if self.to_date is not None:
            raise ValueError("to_date goes with date")
        if self.starts_at is None or self.ends_at is None:
            raise ValueError("give either date (and to_date) or starts_at and ends_at")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("datetimes need an offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class TimeOffPublic(BaseModel):
    id: str
    caregiver_id: str
    starts_at: ChinaTime
    ends_at: ChinaTime
    reason: str | None
    cancelled_bookings: int = PField(
        default=0, description="Booked visits the leave cancelled (`cancel_affected`)")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hto_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b6", "caregiver_id": _CAREGIVER,
        "starts_at": "2026-12-08T13:00:00+08:00", "ends_at": "2026-12-08T17:00:00+08:00",
        "reason": "事假", "cancelled_bookings": 0}]})


class AvailabilityPublic(BaseModel):
    provider_id: str
    service_code: ServiceCode
    date: date
    duration_minutes: int
    price_fen: int
    start_times: list[str] = PField(examples=[["09:00", "09:30"]])
    starts_at: list[ChinaTime]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "provider_id": _PROVIDER, "service_code": "cleaning", "date": "2026-12-08",
        "duration_minutes": 120, "price_fen": 8000,
        "start_times": ["08:00", "08:30", "09:00", "13:00", "13:30"],
        "starts_at": ["2026-12-08T08:00:00+08:00", "2026-12-08T08:30:00+08:00",
                      "2026-12-08T09:00:00+08:00", "2026-12-08T13:00:00+08:00",
                      "2026-12-08T13:30:00+08:00"]}]})


class ElderIn(StrictModel):
    name: Name = PField(examples=["王建国"])
    id_number: IdNumberIn
    phone: Phone
    address: str = PField(min_length=1, max_length=300,
                          examples=["上海市黄浦区南京东路 100 弄 5 号 302 室"])
    lat: float | None = PField(default=None, ge=-90, le=90, examples=[31.235])
    lon: float | None = PField(default=None, ge=-180, le=180, examples=[121.48])


class BookingCreate(StrictModel):
    provider_id: str = PField(max_length=40, examples=["org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4"])
    service_code: ServiceCode
    start_at: Instant = PField(examples=["2026-12-08T09:00:00+08:00"])
    elder: ElderIn
    caregiver_id: str | None = PField(default=None, max_length=40, examples=[None])

    @model_validator(mode="after")
    def _aware(self) -> BookingCreate:
        if self.start_at.tzinfo is None:
            raise ValueError("start_at needs an offset")
        return self


class ElderPublic(BaseModel):
    name: str
    id_number_masked: str
    phone_masked: str
    phone: str | None = PField(
        default=None, description="In full only to the provider, whose caregiver must be "
        "able to call the family; absent for everyone else", examples=["13800138000"])
    address_masked: str


class CaregiverRef(BaseModel):
    id: str
    name: str


_BOOKING_EXAMPLE: dict[str, Any] = {
    "id": "hcb_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b7", "status": "booked",
    "provider_id": _PROVIDER, "service_code": "cleaning",
    "caregiver": {"id": _CAREGIVER, "name": "李秀英"}, "date": "2026-12-08",
    "starts_at": "2026-12-08T09:00:00+08:00", "ends_at": "2026-12-08T11:00:00+08:00",
    "price_fen": 8000,
    "elder": {"name": "王建国", "id_number_masked": _ELDER_ID_MASKED,
              "phone_masked": "138****8000", "address_masked": "上海市黄浦区****"},
    "cancel_deadline_at": "2026-12-07T21:00:00+08:00", "location_flagged": False,
    "created_at": "2026-12-01T10:00:00+08:00"}


class BookingPublic(BaseModel):
    id: str
    status: BookingStatus
    provider_id: str
    service_code: ServiceCode
    caregiver: CaregiverRef
    date: date
    starts_at: ChinaTime
    ends_at: ChinaTime
    price_fen: int
    elder: ElderPublic
    cancel_deadline_at: ChinaTime
    check_in_at: ChinaTime | None = None
    check_out_at: ChinaTime | None = None
    location_flagged: bool = False
    completed_at: ChinaTime | None = None
    no_show_at: ChinaTime | None = None
    cancelled_at: ChinaTime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    subsidy_paid_fen: int | None = None
    family_paid_fen: int | None = None
    verification: VerificationStatus | None = PField(
        default=None, description="A completed visit's verification (null before); only "
        "`verified` and `corrected` visits draw on the subsidy")
    exceptions: list[ExceptionCode] = PField(
        default_factory=list, description="What the record does not show (gathered from "
        "the check-in on); empty for a verified visit")
    subsidy_held_fen: int | None = PField(
        default=None, description="While a decision is awaited: what the allowance would "
        "pay for the visit (on the corrected time once a correction is submitted), not "
        "taken from it; null otherwise")
    correction: CorrectionPublic | None = None
    rating_stars: int | None = None
    rating_comment: str | None = None
    created_at: ChinaTime
    delegation_id: str | None = PField(
        default=None, description="The delegation (代办) through which a delegate made this "
                                  "record for its principal; null otherwise")

    # A booked visit, and the same visit completed (checked in and out, paid partly
    # from the elder's monthly allowance) and rated.
    model_config = ConfigDict(json_schema_extra={"examples": [_BOOKING_EXAMPLE, {
        **_BOOKING_EXAMPLE, "status": "completed",
        "check_in_at": "2026-12-08T08:58:00+08:00", "check_out_at": "2026-12-08T11:02:00+08:00",
        "completed_at": "2026-12-08T11:02:00+08:00", "subsidy_paid_fen": 5000,
        "family_paid_fen": 3000, "rating_stars": 5, "rating_comment": "阿姨很细心"}]})


class LocationIn(StrictModel):
    lat: float = PField(ge=-90, le=90, examples=[31.235])
    lon: float = PField(ge=-180, le=180, examples=[121.48])


class CancelIn(StrictModel):
    reason: str | None = PField(default=None, min_length=1, max_length=200,
                                examples=["护理员生病"],
                                description="Required when the provider cancels")


class RatingIn(StrictModel):
    stars: int = PField(ge=1, le=5, examples=[5])
    comment: str | None = PField(default=None, max_length=500, examples=["阿姨很细心"])


class SubsidyIn(StrictModel):
    id_number: IdNumberIn
    monthly_allowance_fen: int = PField(ge=0, le=100_000_000, examples=[30000])
    valid_from: Day = PField(examples=["2026-01-01"])
    valid_to: Day = PField(examples=["2026-12-31"])

    @model_validator(mode="after")
    def _ordered(self) -> SubsidyIn:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class SubsidyPublic(BaseModel):
    id_number_masked: str
    monthly_allowance_fen: int
    valid_from: date
    valid_to: date
    updated_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id_number_masked": _ELDER_ID_MASKED, "monthly_allowance_fen": 30000,
        "valid_from": "2026-01-01", "valid_to": "2026-12-31",
        "updated_at": "2026-12-01T10:00:00+08:00"}]})


class AllowanceMonthPublic(BaseModel):
    id_number_masked: str
    month: str
    allowance_fen: int
    used_fen: int
    remaining_fen: int

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id_number_masked": _ELDER_ID_MASKED, "month": "2026-12", "allowance_fen": 30000,
        "used_fen": 5000, "remaining_fen": 25000}]})


class LedgerEntryPublic(BaseModel):
    booking_id: str
    provider_id: str
    date: date
    service_code: ServiceCode
    id_number_masked: str
    price_fen: int
    subsidy_paid_fen: int
    family_paid_fen: int | None = PField(
        default=None,
        description="Null while the visit's verification awaits the bureau's decision "
                    "(nothing is billed yet)")
    verification: str | None = PField(default=None, examples=["verified"])
    subsidy_held_fen: int | None = PField(
        default=None, description="What the allowance would pay once an exception visit "
                                  "is decided (`exception`, `correction_submitted`)")
    completed_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "booking_id": "hcb_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b7", "provider_id": _PROVIDER,
        "date": "2026-12-08", "service_code": "cleaning",
        "id_number_masked": _ELDER_ID_MASKED, "price_fen": 8000, "subsidy_paid_fen": 5000,
        "family_paid_fen": 3000, "verification": "verified", "subsidy_held_fen": None,
        "completed_at": "2026-12-08T11:02:00+08:00"}, {
        "booking_id": "hcb_0193a1b2c3d4e5f6a7b8c9d0e1f2a3c8", "provider_id": _PROVIDER,
        "date": "2026-12-09", "service_code": "cleaning",
        "id_number_masked": _ELDER_ID_MASKED, "price_fen": 8000, "subsidy_paid_fen": 0,
        "family_paid_fen": None, "verification": "exception", "subsidy_held_fen": 5000,
        "completed_at": "2026-12-09T10:31:00+08:00"}]})


class CentreService(StrEnum):
    day_care = "day_care"
    meal_assist = "meal_assist"


class CentreSessionCreate(StrictModel):
    service_code: CentreService
    date: Day = PField(examples=["2026-12-08"])
    start: HHMM = PField(examples=["11:00"])
    end: HHMM = PField(examples=["13:00"])
    capacity: int = PField(ge=0, le=10_000, examples=[40])
    price_fen: int = PField(ge=0, le=10_000_000, examples=[1500])

    @model_validator(mode="after")
    def _ordered(self) -> CentreSessionCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


_CENTRE_SESSION_EXAMPLE: dict[str, Any] = {
    "id": "hcs_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4", "provider_id": _PROVIDER,
    "service_code": "meal_assist", "date": "2026-12-08", "start": "11:00", "end": "13:00",
    "starts_at": "2026-12-08T11:00:00+08:00", "ends_at": "2026-12-08T13:00:00+08:00",
    "capacity": 40, "remaining": 12, "price_fen": 1500, "bookable": True}


class CentreSessionPublic(BaseModel):
    id: str
    provider_id: str
    service_code: CentreService
    date: date
    start: str
    end: str
    starts_at: ChinaTime
    ends_at: ChinaTime
    capacity: int
    remaining: int
    price_fen: int
    bookable: bool

    model_config = ConfigDict(json_schema_extra={"examples": [_CENTRE_SESSION_EXAMPLE]})


class CentreElderIn(StrictModel):
    name: Name = PField(examples=["王建国"])
    id_number: IdNumberIn
    phone: Phone


class CentreBookingCreate(StrictModel):
    session_id: str = PField(max_length=40, examples=["hcs_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4"])
    elder: CentreElderIn


class CentreBookingPublic(BaseModel):
    id: str
    status: str = PField(examples=["booked"])
    session: CentreSessionPublic
    elder_name: str
    id_number_masked: str
    phone_masked: str
    cancelled_at: ChinaTime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    created_at: ChinaTime
    delegation_id: str | None = PField(
        default=None, description="The delegation (代办) through which a delegate made this "
                                  "record for its principal; null otherwise")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hccb_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b8", "status": "booked",
        "session": _CENTRE_SESSION_EXAMPLE, "elder_name": "王建国",
        "id_number_masked": _ELDER_ID_MASKED, "phone_masked": "138****8000",
        "created_at": "2026-12-01T10:00:00+08:00"}]})


# --- caregivers' own keys, and their day ----------------------------------------------

_CAREGIVER_KEY = "key_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b9"


class CaregiverKeyCreate(StrictModel):
    name: Name = PField(description="Who holds the key, as the provider knows them (the "
                                    "phone or the person); several keys may share a name",
                        examples=["李秀英-手机"])


class CaregiverKeyCreated(BaseModel):
    id: str
    key: str = PField(description="The key in clear. Shown once; store it now.")
    role: Role = PField(description="Always `caregiver`")
    org_id: str = PField(description="The provider")
    caregiver_id: str
    name: str

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _CAREGIVER_KEY,
        "key": "hm_7c2e9a4b1d3f_Qw8er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7Nm6Mq5",
        "role": "caregiver", "org_id": _PROVIDER, "caregiver_id": _CAREGIVER,
        "name": "李秀英-手机"}]})


class CaregiverKeyPublic(BaseModel):
    id: str
    role: Role
    org_id: str
    caregiver_id: str
    name: str
    created_at: ChinaTime
    revoked_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _CAREGIVER_KEY, "role": "caregiver", "org_id": _PROVIDER,
        "caregiver_id": _CAREGIVER, "name": "李秀英-手机",
        "created_at": "2026-12-01T10:00:00+08:00", "revoked_at": None}]})


class VisitElder(BaseModel):
    """The elder as the visit's caregiver needs them: to find the home and call."""

    name: str
    phone: str = PField(description="In full")
    address: str = PField(description="In full")
    lat: float | None = None
    lon: float | None = None


class CaregiverVisitPublic(BaseModel):
    id: str = PField(description="The booking (its check-in and check-out take this id)")
    status: BookingStatus
    provider_id: str
    service_code: ServiceCode
    service_name: str = PField(examples=["助洁"])
    date: date
    starts_at: ChinaTime
    ends_at: ChinaTime
    check_in_at: ChinaTime | None = None
    check_out_at: ChinaTime | None = None
    elder: VisitElder

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hcb_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b7", "status": "booked",
        "provider_id": _PROVIDER, "service_code": "cleaning", "service_name": "助洁",
        "date": "2026-12-08", "starts_at": "2026-12-08T09:00:00+08:00",
        "ends_at": "2026-12-08T11:00:00+08:00", "check_in_at": None, "check_out_at": None,
        "elder": {"name": "王建国", "phone": "13800138000",
                  "address": "上海市黄浦区南京东路 100 弄 5 号 302 室",
                  "lat": 31.235, "lon": 121.48}}]})


# --- visit verification (EVV): requests and responses ---------------------------------

Note = free_text(500)


class CorrectionIn(StrictModel):
    """The provider's account of what happened: a reason, and the actual start and
    end (with an offset; within the visit's bounds, see the operation)."""

    reason_code: CorrectionReason = PField(examples=["forgot_to_check"])
    note: Note | None = PField(default=None, examples=["护理员忘记签退，家属可证明 11:00 离开"],
                               description="Required with `other`")
    actual_start_at: Instant = PField(examples=["2026-12-08T10:00:00+08:00"])
    actual_end_at: Instant = PField(examples=["2026-12-08T11:00:00+08:00"])

    @model_validator(mode="after")
    def _consistent(self) -> CorrectionIn:
        if self.actual_start_at.tzinfo is None or self.actual_end_at.tzinfo is None:
            raise ValueError("actual_start_at and actual_end_at need an offset")
        if self.actual_end_at <= self.actual_start_at:
            raise ValueError("actual_end_at must be after actual_start_at")
        if self.reason_code == CorrectionReason.other and self.note is None:
            raise ValueError("reason_code other needs a note")
        return self


class CorrectionApproveIn(StrictModel):
    note: Note | None = PField(default=None, examples=["家属电话确认服务时间"])


class CorrectionRejectIn(StrictModel):
    note: Note = PField(examples=["无法核实实际服务时间"],
                        description="Why: the provider sees it")


class CorrectionPublic(BaseModel):
    reason_code: CorrectionReason
    note: str | None = None
    actual_start_at: ChinaTime
    actual_end_at: ChinaTime
    submitted_at: ChinaTime
    decided_at: ChinaTime | None = None
    decision_note: str | None = None


BookingPublic.model_rebuild()

# Response examples of the verification operations: a visit checked out far from the
# home and short (an exception, its subsidy held), the same visit with a correction
# submitted, and corrected (billed for the corrected 50 of 60 minutes, 5000 of 6000 fen;
# the allowance had 3000 left, the family pays the rest).
VISIT_EXCEPTION_EXAMPLE: dict[str, Any] = {
    **_BOOKING_EXAMPLE, "status": "completed", "starts_at": "2026-12-08T10:00:00+08:00",
    "ends_at": "2026-12-08T11:00:00+08:00", "price_fen": 6000,
    "check_in_at": "2026-12-08T10:20:00+08:00", "check_out_at": "2026-12-08T10:50:00+08:00",
    "completed_at": "2026-12-08T10:50:00+08:00", "location_flagged": False,
    "verification": "exception", "exceptions": ["late_check_in", "short_visit"],
    "subsidy_paid_fen": 0, "family_paid_fen": None, "subsidy_held_fen": 3000,
    "correction": None}
VISIT_CORRECTION_SUBMITTED_EXAMPLE: dict[str, Any] = {
    **VISIT_EXCEPTION_EXAMPLE, "verification": "correction_submitted",
    "subsidy_held_fen": 3000, "correction": {
        "reason_code": "device_problem", "note": "手机定位故障，10:00 已到达",
        "actual_start_at": "2026-12-08T10:00:00+08:00",
        "actual_end_at": "2026-12-08T10:50:00+08:00",
        "submitted_at": "2026-12-08T15:00:00+08:00", "decided_at": None,
        "decision_note": None}}
VISIT_CORRECTED_EXAMPLE: dict[str, Any] = {
    **VISIT_CORRECTION_SUBMITTED_EXAMPLE, "verification": "corrected",
    "subsidy_held_fen": None, "subsidy_paid_fen": 3000, "family_paid_fen": 2000,
    "correction": {**VISIT_CORRECTION_SUBMITTED_EXAMPLE["correction"],
                   "decided_at": "2026-12-09T09:30:00+08:00",
                   "decision_note": "家属电话确认服务时间"}}
VISIT_REJECTED_EXAMPLE: dict[str, Any] = {
    **VISIT_CORRECTION_SUBMITTED_EXAMPLE, "verification": "rejected",
    "subsidy_held_fen": None, "subsidy_paid_fen": 0, "family_paid_fen": 6000,
    "correction": {**VISIT_CORRECTION_SUBMITTED_EXAMPLE["correction"],
                   "decided_at": "2026-12-09T09:30:00+08:00",
                   "decision_note": "无法核实实际服务时间"}}
