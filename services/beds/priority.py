"""The waiting-list priority classes (DOMAIN.md section 2), in one place.

A class is decided by the first rule that matches, lowest class first; an
application no rule matches is in `DEFAULT_CLASS`. A rule matches when every
condition it sets holds: any of `groups` verified, ability level at least
`min_ability`, age at least `min_age`. A city with other rules adds its own
table to `RULES_BY_DIVISION` under its division prefix (`"3101"` for Shanghai's
districts); the longest matching prefix wins, else `DEFAULT_RULES`.

Age changes while an elder waits, so a class is not fixed at assessment. The
assessment records a `PrioritySchedule`: the class on the day of assessment and
the later dates on which the elder reaches an age that lowers it (for the
default rules, the day the elder turns 80). Only those dates are stored, never
the birth date. `effective_class_sql` turns the stored schedule into the class
on a given date inside the database, so the waiting-list order, positions and
offers all read one expression.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from schemas.beds import BedApplication, BedApplicationPriorityStep


@dataclass(frozen=True, slots=True)
class PriorityRule:
    priority_class: int
    groups: frozenset[str] = frozenset()
    min_ability: int | None = None
    min_age: int | None = None
    note: str = ""

    def matches(self, groups: frozenset[str], ability_level: int, age: int) -> bool:
        if self.groups and not (self.groups & groups):
            return False
        if self.min_ability is not None and ability_level < self.min_ability:
            return False
        return not (self.min_age is not None and age < self.min_age)


MODERATE, SEVERE = 2, 3  # GB/T 42195-2022 levels

DEFAULT_RULES: tuple[PriorityRule, ...] = (
    PriorityRule(0, groups=frozenset({"destitute"}), note="特困人员, admitted on request"),
    PriorityRule(1, groups=frozenset({"minimum_living", "low_income"}), min_ability=MODERATE,
                 note="低保 or low-income, assessed moderate or worse"),
    PriorityRule(2, groups=frozenset({"entitled_group", "lost_only_child"}),
                 note="重点优抚对象, 计生特殊家庭"),
    PriorityRule(3, min_ability=SEVERE, note="assessed severe or total"),
    PriorityRule(3, min_age=80, note="aged 80 and over"),
)
DEFAULT_CLASS = 4

RULES_BY_DIVISION: dict[str, Sequence[PriorityRule]] = {}


def rules_for(division_code: str) -> Sequence[PriorityRule]:
    for length in (6, 4, 2):
        rules = RULES_BY_DIVISION.get(division_code[:length])
        if rules is not None:
            return rules
    return DEFAULT_RULES


def priority_class(groups: Iterable[str], ability_level: int, age: int,
                   division_code: str = "") -> int:
    verified = frozenset(groups)
    matched = [rule.priority_class for rule in rules_for(division_code)
               if rule.matches(verified, ability_level, age)]
    return min(matched, default=DEFAULT_CLASS)


def is_destitute(groups: Iterable[str]) -> bool:
    """Reserved beds go only to verified destitute elders."""
    return "destitute" in set(groups)


def reaches_age_on(birth_date: date, years: int) -> date:
    """The first day on which someone born on `birth_date` is `years` old (a
    29 February birthday counts from 1 March in common years), as
    `services.identity.IdNumber.age_on` counts age."""
    try:
        return birth_date.replace(year=birth_date.year + years)
    except ValueError:
        return date(birth_date.year + years, 3, 1)


@dataclass(frozen=True, slots=True)
class PrioritySchedule:
    """The class from the assessment on (`base_class`), and each later date
    (`steps`, ascending) from which the elder's age puts them in a lower class."""

    base_class: int
    steps: tuple[tuple[date, int], ...] = ()

    def class_on(self, day: date) -> int:
        return min((c for d, c in self.steps if d <= day), default=self.base_class)


def schedule(groups: Iterable[str], ability_level: int, birth_date: date, today: date,
             division_code: str = "") -> PrioritySchedule:
    """The class today and how it falls as the elder ages, under the division's
    rules. The groups and ability level are fixed by the assessment; only age moves."""
    verified = frozenset(groups)

    def age_on(day: date) -> int:
        years = day.year - birth_date.year
        return years - ((day.month, day.day) < (birth_date.month, birth_date.day))

    current = priority_class(verified, ability_level, age_on(today), division_code)
    base, steps = current, []
    thresholds = sorted({rule.min_age for rule in rules_for(division_code)
                         if rule.min_age is not None and rule.min_age > age_on(today)})
    for years in thresholds:
        cls = priority_class(verified, ability_level, years, division_code)
        if cls < current:
            steps.append((reaches_age_on(birth_date, years), cls))
            current = cls
    return PrioritySchedule(base, tuple(steps))


def effective_class_sql(today: date) -> ColumnElement[int]:
    """The class of each `bed_application` row on `today`, as a SQL expression:
    the lowest class of a step already reached, else the class at assessment."""
    reached = (select(func.min(BedApplicationPriorityStep.priority_class))
               .where(BedApplicationPriorityStep.application_id == BedApplication.id,
                      BedApplicationPriorityStep.from_date <= today)
               .correlate(BedApplication).scalar_subquery())
    return func.coalesce(reached, BedApplication.priority_class)
