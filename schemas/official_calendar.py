"""China's official calendar (API.md "Official calendar"): a year's State Council
notice as the platform admin loaded it, and the calendar the public reads.

- `official_calendar_notice`: one row per year whose notice was loaded: its public
  holidays (the days off, the moved ones included) and its adjusted working days
  (调休, the Saturdays and Sundays worked in exchange). A loaded notice wins over
  any library.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, CheckConstraint
from sqlmodel import Field, SQLModel

from schemas.common import FIRST_DAY, LAST_DAY, ChinaTime, StrictModel, utc_datetime

_Day = Annotated[date, PField(ge=FIRST_DAY, le=LAST_DAY)]
FIRST_YEAR = 2000
LAST_YEAR = 2099


class CalendarSource(StrEnum):
    notice = "notice"
    library = "library"
    estimated = "estimated"


class OfficialCalendarNotice(SQLModel, table=True):
    __tablename__ = "official_calendar_notice"
    __table_args__ = (CheckConstraint(f"year BETWEEN {FIRST_YEAR} AND {LAST_YEAR}",
                                      name="year_range"),)

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    # ISO dates (text), sorted.
    holidays: list[str] = Field(default_factory=list, sa_type=JSON)
    working_days: list[str] = Field(default_factory=list, sa_type=JSON)
    notice: str = Field(max_length=200)
    loaded_at: datetime = utc_datetime()


class OfficialCalendarIn(StrictModel):
    # schemas.common's bounds (FIRST_DAY..LAST_DAY) without `Day`'s pattern in the
    # document: each date must also fall in the path's year (checked by the service), a
    # rule JSON Schema cannot state, and with the pattern the fuzzer
    # (tests/api/test_schema_fuzz.py) paired the example's 2027 dates with other years.
    holidays: list[_Day] = PField(max_length=60, description="The year's days off (放假), "
                                  "weekend days inside a holiday included")
    working_days: list[_Day] = PField(
        default_factory=list, max_length=20,
        description="Saturdays and Sundays that are working days (调休上班)")
    notice: str = PField(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$",
                         description="The notice's title or document number")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "holidays": ["2027-01-01", "2027-01-02", "2027-01-03", "2027-02-05", "2027-02-06"],
        "working_days": ["2027-01-10", "2027-02-14"],
        "notice": "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕X号）",
    }]})

    @model_validator(mode="after")
    def _distinct(self) -> OfficialCalendarIn:
        both = set(self.holidays) & set(self.working_days)
        if both:
            raise ValueError("a date cannot be both a holiday and a working day: "
                             + ", ".join(sorted(d.isoformat() for d in both)))
        self.holidays = sorted(set(self.holidays))
        self.working_days = sorted(set(self.working_days))
        return self


class OfficialCalendarPublic(BaseModel):
    year: int
    holidays: list[_Day] = PField(description="Days closed as public holidays")
    working_days: list[date] = PField(description="Saturdays and Sundays worked (调休)")
    source: CalendarSource = PField(
        description="`notice`: the State Council notice the admin loaded; `library`: the "
        "chinese-calendar package; `estimated`: neither knows the year, so its statutory "
        "holidays are computed from their rules (the `holidays` package) and no working "
        "day is known")
    notice: str | None = PField(default=None, description="The loaded notice's title or number")
    loaded_at: ChinaTime | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "year": 2027, "holidays": ["2027-01-01", "2027-02-05", "2027-02-06"],
        "working_days": [], "source": "estimated", "notice": None, "loaded_at": None,
    }]})
