"""What a statistics request names: a division (as in jurisdiction) and a period."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.clock import CHINA_TZ, clock
from services import divisions


@dataclass(frozen=True, slots=True)
class Division:
    """`code` as asked (None: the whole country) and the prefix it covers."""

    code: str | None
    prefix: str | None
    name: str | None

    def condition(self, column: Any) -> Any:
        """`column` (a division code) within this division; None for the whole country."""
        return None if self.prefix is None else divisions.prefix_condition(column, self.prefix)

    def fields(self) -> dict[str, Any]:
        return {"division_code": self.code, "division_name": self.name}


def division(code: str | None) -> Division:
    """The division of a request: a province's code covers its cities and counties, a
    city's its counties (services.divisions.jurisdiction_prefix); an unknown code is
    422 `invalid_division_code`."""
    if code is None:
        return Division(None, None, None)
    divisions.validate(code)
    return Division(code, divisions.jurisdiction_prefix(code), divisions.name_of(code))


def month(value: str | None) -> tuple[str, dt.date, dt.date]:
    """(`YYYY-MM`, its first day, its last day); the current China month by default."""
    if value is None:
        value = f"{clock.today():%Y-%m}"
    first = dt.date(int(value[:4]), int(value[5:7]), 1)
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return value, first, following - dt.timedelta(days=1)


def year(value: int | None) -> int:
    """The year asked for; the current China year by default."""
    return clock.today().year if value is None else value


def china_midnight(day: dt.date) -> dt.datetime:
    """The instant (UTC) a China date begins."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=CHINA_TZ).astimezone(dt.UTC)
