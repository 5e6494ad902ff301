"""Open statistics (公开数据, API.md "Open statistics"): the response models.

No table: the figures are aggregates computed from the four services' tables
(`services.stats`). A figure about people computed from fewer than
`MIN_PEOPLE` of them is null and named in its object's `suppressed`; figures about
places and seats (`beds`, `available`, `sessions`, `seats`) never are.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField

from schemas.beds import BedCategory
from schemas.burial import BurialMethod
from schemas.common import ChinaTime
from schemas.home_care import ServiceCode

MIN_PEOPLE = 5

_SUPPRESSED = PField(
    default_factory=list,
    description=f"The fields of this object that are null because they would be computed "
                f"from fewer than {MIN_PEOPLE} people (applications, appointments, visits, "
                f"claims, payments); `exceptions.<code>` names a suppressed exception count")
_AS_OF = PField(description="When these figures were computed (China time); at most 5 "
                            "minutes before the answer")
_DIVISION = PField(description="The division asked for (its jurisdiction: a province's "
                               "code covers its cities and counties); null: the whole country")
_DIVISION_NAME = PField(default=None, description="The division's full name")


def _rate(what: str) -> dict:
    return {"default": None, "ge": 0, "le": 1, "description": what}


class BedCategoryStats(BaseModel):
    category: BedCategory
    beds: int = PField(description="Beds of this category in the division's institutions, "
                                   "whatever their status")
    available: int = PField(description="Beds whose status is `available` (vacant)")
    occupied: int | None = PField(description="Beds whose status is `occupied` (residents)")
    occupancy_rate: float | None = PField(**_rate("occupied / beds, 0 to 1 (4 decimals)"))
    median_wait_days: float | None = PField(
        default=None, description="Median of the days (China dates) from application to "
                                  "admission, over the admissions of the 365 days before "
                                  "`as_of`")
    admissions: int | None = PField(
        default=None, description="The admissions `median_wait_days` is computed from")
    suppressed: list[str] = _SUPPRESSED


class BedsStats(BaseModel):
    as_of: ChinaTime = _AS_OF
    division_code: str | None = _DIVISION
    division_name: str | None = _DIVISION_NAME
    categories: list[BedCategoryStats]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2026-12-07T10:00:00+08:00", "division_code": "510100",
        "division_name": "四川省成都市",
        "categories": [
            {"category": "self_care", "beds": 420, "available": 37, "occupied": 371,
             "occupancy_rate": 0.8833, "median_wait_days": 12.0, "admissions": 180,
             "suppressed": []},
            {"category": "dementia", "beds": 24, "available": 2, "occupied": 22,
             "occupancy_rate": 0.9167, "median_wait_days": None, "admissions": None,
             "suppressed": ["median_wait_days", "admissions"]},
        ]}]})


class OfficeStats(BaseModel):
    office_id: str
    name: str = PField(description="The registration office (a place, not a person)")
    sessions: int = PField(description="Sessions the office's calendar holds in the month "
                                       "(weekly sessions, official holidays and adjusted "
                                       "working days, the office's closures and special days)")
    seats: int = PField(description="Seats of those sessions (each session's capacity)")
    booked: int | None = PField(description="Appointments in the month's sessions that were "
                                             "not cancelled")
    fill_rate: float | None = PField(**_rate("booked / seats, 0 to 1 (4 decimals)"))
    no_show_rate: float | None = PField(**_rate(
        "no-shows / appointments that were due: appointments of the month not cancelled whose "
        "session had started by `as_of`"))
    suppressed: list[str] = _SUPPRESSED


class MarriageStats(BaseModel):
    as_of: ChinaTime = _AS_OF
    division_code: str | None = _DIVISION
    division_name: str | None = _DIVISION_NAME
    month: str = PField(description="`YYYY-MM`, China time")
    offices: list[OfficeStats] = PField(description="Every registration office of the "
                                                    "division, by name")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2026-12-07T10:00:00+08:00", "division_code": "110105",
        "division_name": "北京市朝阳区", "month": "2026-12",
        "offices": [{"office_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1f2", "name": "朝阳区婚姻登记处",
                     "sessions": 44, "seats": 880, "booked": 612, "fill_rate": 0.6955,
                     "no_show_rate": 0.0412, "suppressed": []}]}]})


class BurialMethodStats(BaseModel):
    method: BurialMethod
    submitted: int | None = PField(description="Claims first submitted in the year (China "
                                               "time), withdrawn ones included")
    approved: int | None = PField(description="Of those, claims approved (paid ones included)")
    rejected: int | None = PField(description="Of those, claims rejected")
    paid: int | None = PField(description="Of those, claims paid")
    amount_paid_fen: int | None = PField(description="Sum paid on those claims, in fen")
    median_days_to_payment: float | None = PField(
        default=None, description="Median of the days (China dates) from the claim's first "
                                  "submission to its payment, over the paid claims")
    p90_days_to_payment: float | None = PField(
        default=None, description="The 90th percentile of the same days (linear "
                                  "interpolation)")
    suppressed: list[str] = _SUPPRESSED


class BurialStats(BaseModel):
    as_of: ChinaTime = _AS_OF
    division_code: str | None = PField(description="The division asked for, by the deceased's "
                                                   "household registration; null: the whole "
                                                   "country")
    division_name: str | None = _DIVISION_NAME
    year: int
    methods: list[BurialMethodStats]

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2026-12-07T10:00:00+08:00", "division_code": "110000",
        "division_name": "北京市", "year": 2026,
        "methods": [
            {"method": "sea", "submitted": 312, "approved": 290, "rejected": 9, "paid": 270,
             "amount_paid_fen": 108000000, "median_days_to_payment": 21.0,
             "p90_days_to_payment": 38.5, "suppressed": []},
            {"method": "wall", "submitted": 3, "approved": None, "rejected": None,
             "paid": None, "amount_paid_fen": None, "median_days_to_payment": None,
             "p90_days_to_payment": None,
             "suppressed": ["submitted", "approved", "rejected", "paid", "amount_paid_fen",
                            "median_days_to_payment", "p90_days_to_payment"]},
        ]}]})


class HomeCareServiceStats(BaseModel):
    service_code: ServiceCode
    visits_completed: int | None = PField(description="Visits of the month (by visit date, "
                                                      "China time) that were completed")
    verified_rate: float | None = PField(**_rate(
        "Visits verified without correction (`verification` = `verified`) / completed visits"))
    exceptions: dict[str, int | None] = PField(
        description="Completed visits that carried each exception code (a visit may carry "
                    "several)")
    subsidy_paid_fen: int | None = PField(
        description="Subsidy paid on the month's verified and corrected visits, in fen")
    suppressed: list[str] = _SUPPRESSED


class HomeCareStats(BaseModel):
    as_of: ChinaTime = _AS_OF
    division_code: str | None = PField(description="The division asked for, by the provider's "
                                                   "division; null: the whole country")
    division_name: str | None = _DIVISION_NAME
    month: str = PField(description="`YYYY-MM`, China time")
    services: list[HomeCareServiceStats] = PField(description="Every visit service of the "
                                                              "catalogue, in its order")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": "2026-12-07T10:00:00+08:00", "division_code": "510107",
        "division_name": "四川省成都市武侯区", "month": "2026-11",
        "services": [{"service_code": "cleaning", "visits_completed": 1840,
                      "verified_rate": 0.9321,
                      "exceptions": {"location_mismatch": 41, "late_check_in": 63,
                                     "short_visit": 22, "missing_check_out": None},
                      "subsidy_paid_fen": 7360000,
                      "suppressed": ["exceptions.missing_check_out"]}]}]})

