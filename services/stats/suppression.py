"""Small numbers protect people (API.md "Open statistics"): one rule, for every figure.

A figure about people (residents, applications, appointments, visits, claims,
payments; a count, a sum, a rate or a median) computed from fewer than
`MIN_PEOPLE` of them is published as null, and the object it belongs to names it
in `suppressed`. Figures about places and seats are published as they are.
"""

from __future__ import annotations

from typing import Any

from schemas.stats import MIN_PEOPLE


class Figures:
    """The fields of one published object, and which of them were suppressed."""

    def __init__(self, **places: Any) -> None:
        self.values: dict[str, Any] = dict(places)
        self.suppressed: list[str] = []

    def people(self, field: str, value: Any, *, of: int) -> Any:
        """`value`, computed from `of` people: null (and suppressed) when `of` is under
        MIN_PEOPLE. Returns what is published."""
        shown = value if of >= MIN_PEOPLE else None
        if of < MIN_PEOPLE:
            self.suppressed.append(field)
        self.values[field] = shown
        return shown

    def people_in(self, group: str, key: str, value: Any, *, of: int) -> None:
        """The same for `group[key]` (a count in a mapping, e.g. `exceptions`),
        suppressed as `group.key`."""
        shown = value if of >= MIN_PEOPLE else None
        if of < MIN_PEOPLE:
            self.suppressed.append(f"{group}.{key}")
        self.values.setdefault(group, {})[key] = shown

    def as_dict(self) -> dict[str, Any]:
        return {**self.values, "suppressed": self.suppressed}


def ratio(part: int, whole: int) -> float | None:
    """part / whole to 4 decimals (None when whole is 0)."""
    return round(part / whole, 4) if whole else None
