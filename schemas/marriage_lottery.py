"""Marriage lotteries (API.md "Fair release of peak dates"): tables and, beside
them, the request and response models.

- `marriage_lottery`: one per office and date (a partial unique index over the
  lotteries not cancelled). `status` as stored is `scheduled`, `drawn` or
  `cancelled`; `open` and `closed` are read from the clock and the stored times.
  `seed_hex` is the 32 random bytes chosen at creation, shown only after the draw;
  `seed_sha256` is public from the start.
- `marriage_lottery_entry`: a citizen's entry (its kind, session preferences,
  outcome).
- `marriage_lottery_entrant`: the entry's people (identity numbers encrypted and
  blind-indexed, phones encrypted and masked, as in `marriage_party`).
  UNIQUE (lottery_id, id_blind_index) is the rule "one entry per person per lottery".
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, Day, Instant, StrictModel, id_field, utc_datetime
from schemas.marriage import HHMM, PartyIn, date_field


class LotteryStatus(StrEnum):
    scheduled = "scheduled"  # before entries_open_at
    open = "open"  # entries_open_at <= now < entries_close_at
    closed = "closed"  # after entries_close_at, until the draw (within a minute)
    drawn = "drawn"
    cancelled = "cancelled"


class EntryStatus(StrEnum):
    entered = "entered"
    won = "won"
    not_drawn = "not_drawn"


class MarriageLottery(SQLModel, table=True):
    __tablename__ = "marriage_lottery"
    __table_args__ = (
        Index("uq_marriage_lottery_office_date_live", "office_id", "lottery_date", unique=True,
              postgresql_where=text("status != 'cancelled'")),
        Index("ix_marriage_lottery_due", "status", "entries_close_at"),
    )

    id: str = id_field()
    office_id: str = Field(foreign_key="organisation.id", max_length=40)
    lottery_date: dt.date
    entries_open_at: dt.datetime = utc_datetime()
    entries_close_at: dt.datetime = utc_datetime()
    status: str = Field(max_length=16)  # scheduled | drawn | cancelled
    seed_hex: str = Field(max_length=64)
    seed_sha256: str = Field(max_length=64)
    # At the draw: [{"start", "end", "seats"}] (the seats each session had left).
    sessions: list[dict[str, Any]] | None = Field(default=None,
                                                  sa_column=Column(JSON, nullable=True))
    entries: int | None = None
    seats: int | None = None
    created_at: dt.datetime = utc_datetime()
    drawn_at: dt.datetime | None = utc_datetime(default=None, nullable=True)
    cancelled_at: dt.datetime | None = utc_datetime(default=None, nullable=True)


class MarriageLotteryEntry(SQLModel, table=True):
    __tablename__ = "marriage_lottery_entry"
    __table_args__ = (
        Index("ix_marriage_lottery_entry_lottery", "lottery_id", "id"),
        Index("ix_marriage_lottery_entry_owner", "owner_subject", "id"),
    )

    id: str = id_field()
    lottery_id: str = Field(foreign_key="marriage_lottery.id", max_length=40)
    owner_subject: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    session_preferences: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)
    session_start: str | None = Field(default=None, max_length=5)
    appointment_id: str | None = Field(default=None, foreign_key="marriage_appointment.id",
                                       max_length=40)
    # Why an entry was left out of the draw (`party_has_active_appointment`).
    excluded_reason: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = utc_datetime()


class MarriageLotteryEntrant(SQLModel, table=True):
    __tablename__ = "marriage_lottery_entrant"
    __table_args__ = (UniqueConstraint("lottery_id", "id_blind_index"),)

    id: str = id_field()
    entry_id: str = Field(foreign_key="marriage_lottery_entry.id", max_length=40, index=True)
    lottery_id: str = Field(foreign_key="marriage_lottery.id", max_length=40)
    position: int
    name: str = Field(max_length=100)
    id_number_encrypted: str = Field(max_length=200)
    id_blind_index: str = Field(max_length=64)
    id_number_masked: str = Field(max_length=18)
    # The phone as `marriage_party` keeps it (core.protected.PHONE): encrypted, and
    # masked for showing; the draw copies both into the winner's parties.
    phone_encrypted: str | None = Field(default=None, max_length=255)
    phone_masked: str | None = Field(default=None, max_length=32)


# --- request and response models -------------------------------------------------


class LotteryCreate(StrictModel):
    date: Day = date_field("The date whose sessions the lottery releases (China time)")
    entries_open_at: Instant = PField(description="When entries open (RFC 3339)")
    entries_close_at: Instant = PField(
        description="When entries close and the draw runs (RFC 3339); at the latest the "
                    "booking deadline of the date's first session")

    @model_validator(mode="after")
    def _order(self) -> LotteryCreate:
        for value in (self.entries_open_at, self.entries_close_at):
            if value.tzinfo is None:
                raise ValueError("datetimes need an offset")
        if self.entries_close_at <= self.entries_open_at:
            raise ValueError("entries_close_at must be after entries_open_at")
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "date": "2027-05-20", "entries_open_at": "2027-05-01T09:00:00+08:00",
        "entries_close_at": "2027-05-10T18:00:00+08:00"}]})


class LotterySession(BaseModel):
    start: str
    end: str
    seats: int


class LotteryPublic(BaseModel):
    id: str
    office_id: str
    date: dt.date
    status: LotteryStatus
    entries_open_at: ChinaTime
    entries_close_at: ChinaTime
    seed_sha256: str = PField(description="Hex SHA-256 of the seed bytes, public from creation")
    seed: str | None = PField(default=None, description="The 32 seed bytes in hex, after the "
                                                        "draw")
    entries: int = PField(description="Entries so far (at the draw: all of them)")
    seats: int = PField(description="Seats to draw (before the draw: as the sessions now "
                                    "stand)")
    sessions: list[LotterySession] = PField(
        description="The date's sessions and their seats (after the draw: as drawn)")
    winners: int | None = None
    created_at: ChinaTime
    drawn_at: ChinaTime | None = None
    cancelled_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mlot_0193a1b2c3d4e5f6a7b8c9d0", "office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
        "date": "2027-05-20", "status": "drawn",
        "entries_open_at": "2027-05-01T09:00:00+08:00",
        "entries_close_at": "2027-05-10T18:00:00+08:00",
        "seed_sha256": "9f2c" + "0" * 60, "seed": "a1b2" + "0" * 60, "entries": 2310,
        "seats": 120, "sessions": [{"start": "09:00", "end": "12:00", "seats": 60},
                                   {"start": "13:30", "end": "17:00", "seats": 60}],
        "winners": 120, "created_at": "2027-04-20T10:00:00+08:00",
        "drawn_at": "2027-05-10T18:00:30+08:00"}]})


LotteryKind = Literal["marriage", "divorce", "reissue"]


class LotteryEntryCreate(StrictModel):
    kind: LotteryKind = PField(description="`divorce_confirmation` is booked in its window, "
                                           "not by lottery")
    parties: list[PartyIn] = PField(min_length=1, max_length=2)
    session_preferences: list[HHMM] = PField(
        min_length=1, max_length=10,
        description="Session starts (HH:MM) of the lottery's date, most wanted first")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "marriage",
        "parties": [
            {"name": "张伟", "id_number": "440305198503151238", "phone": "13800138000"},
            {"name": "李娜", "id_number": "440305198707222464", "phone": "13900139000"}],
        "session_preferences": ["09:00", "13:30"]}]})


class LotteryEntryCreated(BaseModel):
    id: str
    status: EntryStatus
    lottery_id: str

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mlen_0193a1b2c3d4e5f6a7b8c9d0", "status": "entered",
        "lottery_id": "mlot_0193a1b2c3d4e5f6a7b8c9d0"}]})


class LotteryEntryPublic(BaseModel):
    """An entry as the public list shows it after the draw: no person in it."""

    id: str
    status: EntryStatus
    session_preferences: list[str]
    session: str | None = PField(default=None, description="The session won (HH:MM)")
    excluded_reason: str | None = PField(
        default=None, description="Set when the entry was left out of the draw "
                                  "(`party_has_active_appointment`: a party held an active "
                                  "appointment at the draw)")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mlen_0193a1b2c3d4e5f6a7b8c9d0", "status": "won",
        "session_preferences": ["09:00", "13:30"], "session": "09:00",
        "excluded_reason": None}]})


class LotteryEntryView(LotteryEntryPublic):
    """The citizen's own entry: with the lottery, kind, parties and appointment."""

    lottery_id: str
    kind: str
    parties: list[dict[str, str | None]] = PField(
        description="Names, masked identity numbers and masked phones (never in full)")
    appointment_id: str | None = None
    created_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "mlen_0193a1b2c3d4e5f6a7b8c9d0", "status": "won",
        "lottery_id": "mlot_0193a1b2c3d4e5f6a7b8c9d0", "kind": "marriage",
        "session_preferences": ["09:00", "13:30"], "session": "09:00",
        "parties": [{"name": "张伟", "id_number_masked": "440305********1238",
                     "phone_masked": "138****8000"},
                    {"name": "李娜", "id_number_masked": "440305********2464",
                     "phone_masked": "139****9000"}],
        "appointment_id": "mapt_0193a1b2c3d4e5f6a7b8c9d0",
        "created_at": "2027-05-02T18:00:00+08:00"}]})
