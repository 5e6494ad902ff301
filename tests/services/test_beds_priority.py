"""The waiting-list priority classes (DOMAIN.md section 2), one rule per test row,
and a city's own table."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services import identity
from services.beds import priority
from services.beds.priority import PriorityRule, PrioritySchedule, priority_class, schedule
from tests.factories import make_id_number


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


@pytest.mark.parametrize("birth", [date(1946, 12, 15), date(1948, 2, 29), date(1947, 3, 1),
                                   date(1950, 1, 1), date(1949, 12, 31)])
def test_the_day_an_age_is_reached_agrees_with_the_identity_number_age(birth):
    idn = identity.parse(make_id_number(birth))
    for years in (75, 80, 90):
        day = priority.reaches_age_on(birth, years)
        assert idn.age_on(day) == years
        assert idn.age_on(day - timedelta(days=1)) == years - 1


def test_the_schedule_records_when_turning_80_lowers_the_class():
    plan = schedule((), 0, date(1946, 12, 15), date(2026, 12, 1))
    assert plan == PrioritySchedule(4, ((date(2026, 12, 15), 3),))
    assert plan.class_on(date(2026, 12, 14)) == 4 and plan.class_on(date(2026, 12, 15)) == 3
    # Already 80, or in a class age cannot improve: nothing to store.
    assert schedule((), 0, date(1940, 1, 1), date(2026, 12, 1)) == PrioritySchedule(3)
    assert schedule({"entitled_group"}, 0, date(1946, 12, 15), date(2026, 12, 1)
                    ) == PrioritySchedule(2)
    assert schedule((), 3, date(1950, 1, 1), date(2026, 12, 1)) == PrioritySchedule(3)


def test_a_city_with_several_priority_ages_gets_a_step_for_each(monkeypatch):
    rules = (*priority.DEFAULT_RULES, PriorityRule(2, min_age=90, note="aged 90 and over"))
    monkeypatch.setitem(priority.RULES_BY_DIVISION, "3101", rules)
    plan = schedule((), 0, date(1947, 6, 1), date(2026, 12, 1), "310101")
    assert plan == PrioritySchedule(4, ((date(2027, 6, 1), 3), (date(2037, 6, 1), 2)))
    assert [plan.class_on(d) for d in (date(2027, 5, 31), date(2030, 1, 1),
                                       date(2037, 6, 1))] == [4, 3, 2]
    assert schedule((), 0, date(1947, 6, 1), date(2026, 12, 1), "510107") == PrioritySchedule(
        4, ((date(2027, 6, 1), 3),))
