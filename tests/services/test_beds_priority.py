"""The waiting-list priority classes (DOMAIN.md section 2), one rule per test row,
and a city's own table."""

from __future__ import annotations

import pytest

from services.beds import priority
from services.beds.priority import PriorityRule, priority_class


@pytest.mark.parametrize(("groups", "ability", "age", "expected"), [
    ({"destitute"}, 0, 60, 0),
    ({"destitute", "low_income"}, 4, 90, 0),
    ({"minimum_living"}, 2, 60, 1),
    ({"low_income"}, 3, 60, 1),
    ({"low_income"}, 1, 60, 4),  # low income but only mildly disabled
    ({"minimum_living"}, 1, 85, 3),  # ... yet aged 85
    ({"entitled_group"}, 0, 60, 2),
    ({"lost_only_child"}, 1, 70, 2),
    (set(), 3, 60, 3),
    (set(), 4, 60, 3),
    (set(), 0, 80, 3),
    (set(), 2, 79, 4),
    (set(), 0, 60, 4),
])
def test_default_classes(groups, ability, age, expected):
    assert priority_class(groups, ability, age) == expected


def test_a_city_can_configure_its_own_classes(monkeypatch):
    # A city that puts everyone aged 75+ in class 1, and otherwise the defaults.
    rules = (*priority.DEFAULT_RULES, PriorityRule(1, min_age=75, note="city rule"))
    monkeypatch.setitem(priority.RULES_BY_DIVISION, "3101", rules)
    assert priority_class(set(), 0, 76, "310101") == 1
    assert priority_class(set(), 0, 76, "510107") == 4
    assert priority_class({"destitute"}, 0, 76, "310101") == 0


def test_only_verified_destitute_elders_may_take_reserved_beds():
    assert priority.is_destitute(["destitute"])
    assert not priority.is_destitute(["low_income", "minimum_living"])
