"""The waiting-list priority classes (DOMAIN.md section 2), in one place.

A class is decided by the first rule that matches, lowest class first; an
application no rule matches is in `DEFAULT_CLASS`. A rule matches when every
condition it sets holds: any of `groups` verified, ability level at least
`min_ability`, age at least `min_age`. A city with other rules adds its own
table to `RULES_BY_DIVISION` under its division prefix (`"3101"` for Shanghai's
districts); the longest matching prefix wins, else `DEFAULT_RULES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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
