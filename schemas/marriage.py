"""Marriage registration (DOMAIN.md section 1): tables and, beside them, the
request and response models of the same resources.

- `marriage_schedule`: one row per office, its weekly sessions and booking settings
  (edited under If-Match; `version` feeds the ETag).
- `marriage_closure` / `marriage_special_day`: an office's own calendar.
- `marriage_appointment` + `marriage_party`: a booking and its one or two people.
  Seats are units of `capacity_slot` (id `ms_<office_id>_<YYYYMMDD>_<HHMM>`).
- `marriage_party_hold`: one row per person (blind index of the identity number)
  while that person has a `booked` appointment; its primary key is what enforces
  "one active appointment per person, across all offices".
- `marriage_divorce_case`: opened when a `divorce` appointment is completed; its
  status is computed from the stored dates and the clock.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    RootModel,
    model_validator,
)
from pydantic import Field as PField
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.common import (
    FIRST_DAY,
    LAST_DAY,
    ChinaTime,
    ClockTime,
    Day,
    IdNumberIn,
    Name,
    Phone,
    StrictModel,
    free_text,
    id_field,
    utc_datetime,
)
from schemas.organisation import OrganisationContact

# --- enums -------------------------------------------------------------------


class AppointmentKind(StrEnum):
    marriage = "marriage"
    divorce = "divorce"
    divorce_confirmation = "divorce_confirmation"
    reissue = "reissue"


class AppointmentStatus(StrEnum):
    booked = "booked"
    checked_in = "checked_in"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


class CancelReason(StrEnum):
    citizen = "citizen"  # the citizen cancelled
    office_closed = "office_closed"  # the office closed the day or cut the session
    case_withdrawn = "case_withdrawn"  # the divorce application was withdrawn
    # (An office cancelling one appointment gives its own reason, in words.)


class CancelledBy(StrEnum):
    citizen = "citizen"
    office = "office"


class DivorceCaseStatus(StrEnum):
    cooling_off = "cooling_off"
    awaiting_confirmation = "awaiting_confirmation"
    registered = "registered"
    withdrawn = "withdrawn"
    lapsed = "lapsed"


# --- tables --------------------------------------------------------------------


class MarriageSchedule(SQLModel, table=True):
    __tablename__ = "marriage_schedule"

    office_id: str = Field(primary_key=True, foreign_key="organisation.id", max_length=40)
    # [{"weekday": 1-7, "start": "HH:MM", "end": "HH:MM", "capacity": n}, ...]
    sessions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    booking_opens_days_ahead: int
    min_notice_hours: int
    cancel_deadline_hours: int
    version: int = 1
    created_at: dt.datetime = utc_datetime()
    updated_at: dt.datetime = utc_datetime()


class MarriageClosure(SQLModel, table=True):
    __tablename__ = "marriage_closure"
    __table_args__ = (UniqueConstraint("office_id", "closure_date"),)

    id: str = id_field()
    office_id: str = Field(foreign_key="organisation.id", max_length=40)
    closure_date: dt.date
    reason: str = Field(max_length=200)
    created_at: dt.datetime = utc_datetime()


class MarriageSpecialDay(SQLModel, table=True):
    __tablename__ = "marriage_special_day"
    __table_args__ = (UniqueConstraint("office_id", "special_date"),)

    id: str = id_field()
    office_id: str = Field(foreign_key="organisation.id", max_length=40)
    special_date: dt.date
    # [{"start": "HH:MM", "end": "HH:MM", "capacity": n}, ...]
    sessions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = utc_datetime()
    updated_at: dt.datetime = utc_datetime()


class MarriageAppointment(SQLModel, table=True):
    __tablename__ = "marriage_appointment"
    __table_args__ = (
        Index("ix_marriage_appointment_office_date", "office_id", "session_date", "status"),
        Index("ix_marriage_appointment_owner", "owner_subject", "id"),
        Index("ix_marriage_appointment_slot", "slot_id", "status"),
    )

    id: str = id_field()
    office_id: str = Field(foreign_key="organisation.id", max_length=40)
    slot_id: str = Field(foreign_key="capacity_slot.id", max_length=120)
    session_date: dt.date
    starts_at: dt.datetime = utc_datetime()
    ends_at: dt.datetime = utc_datetime()
    kind: str = Field(max_length=32)
    status: str = Field(max_length=16)
    owner_subject: str = Field(max_length=128)  # the citizen account that booked it
    check_in_code: str = Field(max_length=16)
    # For a divorce_confirmation, the case it confirms; for a completed divorce,
    # the case it opened. (No FK: the case row points back at the appointment.)
    divorce_case_id: str | None = Field(default=None, max_length=40, index=True)
    # A `CancelReason` code, or the reason an office gave for cancelling this one.
    cancel_reason: str | None = Field(default=None, max_length=200)
    cancelled_by: str | None = Field(default=None, max_length=16)  # CancelledBy
    created_at: dt.datetime = utc_datetime()
    cancelled_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    checked_in_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    completed_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    no_show_at: dt.datetime | None = utc_datetime(default=None, nullable=True)


class MarriageParty(SQLModel, table=True):
    __tablename__ = "marriage_party"
    __table_args__ = (UniqueConstraint("appointment_id", "position"),)

    id: str = id_field()
    appointment_id: str = Field(foreign_key="marriage_appointment.id", max_length=40)
    position: int
    name: str = Field(max_length=100)
    id_number_encrypted: str = Field(max_length=200)
    id_blind_index: str = Field(max_length=64, index=True)
    id_number_masked: str = Field(max_length=18)
    # The phone is personal data (core.protected.PHONE): encrypted, shown masked but
    # to the office of the appointment.
    phone_encrypted: str | None = Field(default=None, max_length=255)
    phone_masked: str | None = Field(default=None, max_length=32)


class MarriagePartyHold(SQLModel, table=True):
    """A person's one active appointment. The primary key is the rule.

    The row goes when the appointment leaves `booked`; it also stops counting once
    its session has ended (`expires_at`), so a booking the office never marked as a
    no-show cannot bar the person for ever. Booking deletes expired rows of its own
    people just before inserting, under the same primary key.
    """

    __tablename__ = "marriage_party_hold"

    id_blind_index: str = Field(primary_key=True, max_length=64)
    appointment_id: str = Field(foreign_key="marriage_appointment.id", max_length=40,
                                index=True)
    expires_at: dt.datetime = utc_datetime()
    created_at: dt.datetime = utc_datetime()


class MarriageDivorceCase(SQLModel, table=True):
    __tablename__ = "marriage_divorce_case"

    id: str = id_field()
    office_id: str = Field(foreign_key="organisation.id", max_length=40, index=True)
    divorce_appointment_id: str = Field(foreign_key="marriage_appointment.id", max_length=40,
                                        unique=True)
    owner_subject: str = Field(max_length=128, index=True)
    party_a_blind_index: str = Field(max_length=64)
    party_b_blind_index: str = Field(max_length=64)
    # [{"name", "id_number_masked"}, ...] copied from the divorce appointment
    parties: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    received_date: dt.date
    withdrawn_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    registered_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    confirmation_appointment_id: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = utc_datetime()


# --- request and response models -------------------------------------------------

# Every date the marriage API takes (query, path, body, the date inside a slot id)
# lies in this range; anything else is 422 `validation_error` (a slot id: 404).
FIRST_DATE = FIRST_DAY  # schemas.common: every request date of huimin
LAST_DATE = LAST_DAY
DATE_RANGE_NOTE = f"between {FIRST_DATE} and {LAST_DATE} (else 422 `validation_error`)"


def in_date_range(day: dt.date) -> bool:
    return FIRST_DATE <= day <= LAST_DATE


def date_field(description: str, **kwargs: Any) -> Any:
    """A `YYYY-MM-DD` date bounded to [FIRST_DATE, LAST_DATE]."""
    return PField(ge=FIRST_DATE, le=LAST_DATE, description=f"{description}, {DATE_RANGE_NOTE}",
                  **kwargs)


HHMM = ClockTime
Capacity = Annotated[int, PField(ge=1, le=1000, description="Appointments in this session",
                                 examples=[20])]
CANCEL_AFFECTED = PField(
    default=False,
    description="If the change lowers a session below what is booked or closes a session "
                "with bookings, cancel the affected appointments (reason `office_closed`) "
                "instead of refusing with 409 `capacity_below_booked`.")


class DaySessionIn(StrictModel):
    start: HHMM
    end: HHMM
    capacity: Capacity

    @model_validator(mode="after")
    def _order(self) -> DaySessionIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class WeeklySessionIn(DaySessionIn):
    weekday: int = PField(ge=1, le=7, description="1 = Monday ... 7 = Sunday")


class WeeklyScheduleUpdate(StrictModel):
    sessions: list[WeeklySessionIn] = PField(max_length=70)
    booking_opens_days_ahead: int | None = PField(
        default=None, ge=1, le=365, description="Default from settings (30)")
    min_notice_hours: int | None = PField(default=None, ge=0, le=720,
                                          description="Default from settings (2)")
    cancel_deadline_hours: int | None = PField(default=None, ge=0, le=720,
                                               description="Default from settings (24)")
    cancel_affected: bool = CANCEL_AFFECTED

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sessions": [
            {"weekday": d, "start": s, "end": e, "capacity": c}
            for d in range(1, 6) for s, e, c in (("09:00", "12:00", 20), ("13:30", "17:00", 20))
        ],
        "booking_opens_days_ahead": 30, "min_notice_hours": 2, "cancel_deadline_hours": 24,
    }]})


class WeeklySession(BaseModel):
    weekday: int
    start: str
    end: str
    capacity: int


class DaySession(BaseModel):
    start: str
    end: str
    capacity: int


class WeeklySchedulePublic(BaseModel):
    office_id: str
    sessions: list[WeeklySession]
    booking_opens_days_ahead: int
    min_notice_hours: int
    cancel_deadline_hours: int
    version: int
    updated_at: ChinaTime
    cancelled_appointments: int = PField(
        default=0, description="Appointments this change cancelled (with `cancel_affected`)")
    calendar_estimated_from: dt.date | None = PField(
        default=None, description="The first date of the booking window whose holidays and "
        "working days rest on an estimate (no State Council notice loaded and no library "
        "knows its year: see `GET /v1/official-calendar/{year}`); null when none does")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4",
        "sessions": [{"weekday": 1, "start": "09:00", "end": "12:00", "capacity": 20}],
        "booking_opens_days_ahead": 30, "min_notice_hours": 2, "cancel_deadline_hours": 24,
        "version": 2, "updated_at": "2026-11-29T18:00:00+08:00", "cancelled_appointments": 0,
        "calendar_estimated_from": "2027-01-01",
    }]})


class ClosureCreate(StrictModel):
    date: Day = date_field("The date to close (China time)")
    reason: str = PField(min_length=1, max_length=200)
    cancel_affected: bool = CANCEL_AFFECTED

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"date": "2026-12-24", "reason": "系统升级停办一天"}]})


class ClosurePublic(BaseModel):
    id: str
    office_id: str
    date: dt.date
    reason: str
    created_at: ChinaTime
    cancelled_appointments: int = 0

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mcl_0193a1b2c3d4e5f6a7b8c9d0", "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
        "date": "2026-12-24", "reason": "系统升级停办一天",
        "created_at": "2026-11-29T18:00:00+08:00", "cancelled_appointments": 0}]})


class SpecialDayCreate(StrictModel):
    date: Day = date_field("The date to open with its own sessions (China time)")
    sessions: list[DaySessionIn] = PField(min_length=1, max_length=10)
    cancel_affected: bool = CANCEL_AFFECTED

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "date": "2027-05-20",
        "sessions": [{"start": "08:30", "end": "12:00", "capacity": 60},
                     {"start": "13:00", "end": "18:00", "capacity": 60}],
    }]})


class SpecialDayPublic(BaseModel):
    id: str
    office_id: str
    date: dt.date
    sessions: list[DaySession]
    created_at: ChinaTime
    updated_at: ChinaTime
    cancelled_appointments: int = 0

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "msd_0193a1b2c3d4e5f6a7b8c9d0", "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
        "date": "2027-05-20", "sessions": [{"start": "08:30", "end": "12:00", "capacity": 60}],
        "created_at": "2026-11-29T18:00:00+08:00", "updated_at": "2026-11-29T18:00:00+08:00",
        "cancelled_appointments": 0}]})


class OfficePublic(OrganisationContact):
    takes_bookings: bool = PField(
        description="The office publishes sessions to book: a weekly schedule with at least "
                    "one session, or a special day from today on")
    distance_km: float | None = PField(
        default=None, description="Great-circle distance from `near`, in kilometres")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "朝阳区婚姻登记处",
        "division_code": "110105", "division_name": "北京市朝阳区",
        "address": "北京市朝阳区工体东路 20 号", "phone": "010-65099999",
        "lat": 39.93, "lon": 116.447, "takes_bookings": True, "distance_km": 1.27}]})


class SlotPublic(BaseModel):
    slot_id: str
    date: dt.date
    start: str
    end: str
    capacity: int
    remaining: int
    bookable: bool
    cancel_deadline_at: ChinaTime = PField(
        description="An appointment in this session can be cancelled by the couple until "
                    "then (`cancel_deadline_hours` before the start; China time)")
    calendar_source: Literal["notice", "library", "estimated"] = PField(
        description="Where the date's holiday or working-day status comes from: the State "
        "Council notice the admin loaded, the chinese-calendar library, or an estimate "
        "(the statutory holidays computed from their rules) until the notice is loaded")


class SlotList(BaseModel):
    items: list[SlotPublic]

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [{
        "slot_id": "ms_org_0193a1b2c3d4e5f6a7b8c9d0e1_20261201_0900", "date": "2026-12-01",
        "start": "09:00", "end": "12:00", "capacity": 20, "remaining": 7, "bookable": True,
        "cancel_deadline_at": "2026-11-30T09:00:00+08:00",
        "calendar_source": "library"}]}]})


class PartyIn(StrictModel):
    name: Name
    id_number: IdNumberIn
    phone: Phone | None = None


class _AppointmentFields(StrictModel):
    slot_id: str = PField(min_length=1, max_length=120)
    parties: list[PartyIn] = PField(min_length=1, max_length=2)


class RegistrationAppointmentCreate(_AppointmentFields):
    """A marriage, divorce or reissue appointment: no divorce case."""

    kind: Literal[AppointmentKind.marriage, AppointmentKind.divorce, AppointmentKind.reissue]
    divorce_case_id: None = PField(default=None,
                                   description="Only for `divorce_confirmation`")


class ConfirmationAppointmentCreate(_AppointmentFields):
    """A divorce confirmation: the divorce case it confirms is required."""

    kind: Literal[AppointmentKind.divorce_confirmation]
    divorce_case_id: str = PField(min_length=1, max_length=40,
                                  description="The divorce case this appointment confirms")


class AppointmentCreate(RootModel[Annotated[
        RegistrationAppointmentCreate | ConfirmationAppointmentCreate,
        PField(discriminator="kind")]]):
    """A booking's body: one of the variants, chosen by `kind` (a `oneOf` with a
    discriminator in the document, so a generated client refuses a
    `divorce_confirmation` without `divorce_case_id`, or another kind with one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "slot_id": "ms_org_0193a1b2c3d4e5f6a7b8c9d0e1_20261201_0900",
        "kind": "marriage",
        "parties": [
            {"name": "张伟", "id_number": "440305198503151238", "phone": "13800138000"},
            {"name": "李娜", "id_number": "440305198707222464", "phone": "13900139000"},
        ],
    }]})


# What the services take: the chosen variant (`AppointmentCreate.root`).
AppointmentRequest = RegistrationAppointmentCreate | ConfirmationAppointmentCreate


class PartyPublic(BaseModel):
    name: str
    id_number_masked: str
    phone_masked: str | None = PField(default=None, examples=["138****8000"])
    phone: str | None = PField(
        default=None, description="In full only to the office of the appointment, which "
        "must be able to call the party; absent for everyone else", examples=["13800138000"])


class AppointmentSlot(BaseModel):
    slot_id: str
    office_id: str
    date: dt.date
    start: str
    end: str


class AppointmentOffice(BaseModel):
    """Where the couple goes: the office's name, address and phone."""

    id: str
    name: str
    address: str | None = None
    phone: str | None = None


_APPOINTMENT_EXAMPLE: dict[str, Any] = {
    "id": "mapt_0193a1b2c3d4e5f6a7b8c9d0", "status": "booked", "kind": "marriage",
    "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
    "slot": {"slot_id": "ms_org_0193a1b2c3d4e5f6a7b8c9d0e1_20261201_0900",
             "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "date": "2026-12-01",
             "start": "09:00", "end": "12:00"},
    "office": {"id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "name": "朝阳区婚姻登记处",
               "address": "北京市朝阳区工体东路 20 号", "phone": "010-65099999"},
    "starts_at": "2026-12-01T09:00:00+08:00", "ends_at": "2026-12-01T12:00:00+08:00",
    "cancel_deadline_at": "2026-11-30T09:00:00+08:00",
    # The office's view: the phones in full (the couple's own view: `phone` null).
    "parties": [{"name": "张伟", "id_number_masked": "440305********1238",
                 "phone_masked": "138****8000", "phone": "13800138000"},
                {"name": "李娜", "id_number_masked": "440305********2464",
                 "phone_masked": "139****9000", "phone": "13900139000"}],
    "divorce_case_id": None, "cancelled_by": None, "cancel_reason": None,
    "created_at": "2026-11-29T18:00:00+08:00"}


class AppointmentPublic(BaseModel):
    """An appointment as the office's staff see it: everything but the check-in code,
    which the couple shows at the desk."""

    id: str
    status: AppointmentStatus
    kind: AppointmentKind
    office_id: str
    slot: AppointmentSlot
    office: AppointmentOffice
    starts_at: ChinaTime = PField(description="The session's start (China time)")
    ends_at: ChinaTime = PField(description="The session's end (China time)")
    cancel_deadline_at: ChinaTime = PField(
        description="The couple can cancel until then (the office's `cancel_deadline_hours` "
                    "before the start); later, 422 `cancel_deadline_passed`")
    parties: list[PartyPublic]
    divorce_case_id: str | None = None
    cancelled_by: CancelledBy | None = PField(
        default=None, description="Who cancelled it: the citizen, or the office")
    cancel_reason: str | None = PField(
        default=None, max_length=200,
        description="`citizen`, `office_closed` (the office closed the day or cut the "
                    "session), `case_withdrawn` (the divorce application was withdrawn), or, "
                    "when the office cancelled this one appointment, the reason it gave",
        examples=["office_closed", "登记员因病缺勤"])
    created_at: ChinaTime
    cancelled_at: ChinaTime | None = None
    checked_in_at: ChinaTime | None = None
    completed_at: ChinaTime | None = None
    no_show_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [_APPOINTMENT_EXAMPLE]})


class CitizenAppointmentPublic(AppointmentPublic):
    """An appointment as the citizen who booked it (or a party to it) sees it: with
    the check-in code, always. The booking answer (201) is this."""

    check_in_code: str = PField(min_length=1, max_length=16,
                                description="Shown at the office's desk to check in",
                                examples=["48213907"])

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_APPOINTMENT_EXAMPLE, "check_in_code": "48213907",
         "parties": [{**p, "phone": None} for p in _APPOINTMENT_EXAMPLE["parties"]]}]})


# What `GET /v1/marriage/appointments` and `GET .../{id}` answer: a citizen gets
# `CitizenAppointmentPublic` (with `check_in_code`), an office `AppointmentPublic`.
AppointmentForCaller = CitizenAppointmentPublic | AppointmentPublic


QR_PREFIX = "huimin-marriage"


class CheckInRequest(StrictModel):
    check_in_code: str = PField(
        min_length=1, max_length=200,
        description="The couple's check-in code, or the whole payload of their QR code "
                    f"(`{QR_PREFIX}:<appointment id>:<check-in code>`), which must name this "
                    "appointment")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"check_in_code": "48213907"},
        {"check_in_code": f"{QR_PREFIX}:mapt_0193a1b2c3d4e5f6a7b8c9d0:48213907"}]})


CancellationNote = free_text(
    200, description="Required when the office cancels; not taken from a citizen",
    examples=["登记员因病缺勤"])


class AppointmentCancel(StrictModel):
    """The office's reason for cancelling one appointment (the couple sees it).
    A citizen sends no body (or `{}`)."""

    reason: CancellationNote | None = None


class AppointmentLookup(StrictModel):
    """The front desk finds a person's appointments at its own office."""

    id_number: IdNumberIn
    date: Day | None = date_field("Only appointments on this date (China time)",
                                  default=None)
    status: AppointmentStatus | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id_number": "440305198503151238"},
        {"id_number": "440305198503151238", "date": "2026-12-08", "status": "booked"}]})


class DivorceCasePublic(BaseModel):
    id: str
    status: DivorceCaseStatus
    office_id: str
    received_date: dt.date
    cooling_off_ends: dt.date
    confirmation_deadline: dt.date
    parties: list[PartyPublic]
    divorce_appointment_id: str
    confirmation_appointment_id: str | None = None
    withdrawn_at: ChinaTime | None = None
    registered_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mdc_0193a1b2c3d4e5f6a7b8c9d0", "status": "cooling_off",
        "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1", "received_date": "2026-12-01",
        "cooling_off_ends": "2026-12-31", "confirmation_deadline": "2027-01-30",
        "parties": [{"name": "张伟", "id_number_masked": "440305********1238"},
                    {"name": "李娜", "id_number_masked": "440305********2464"}],
        "divorce_appointment_id": "mapt_0193a1b2c3d4e5f6a7b8c9d0"}]})
