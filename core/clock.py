"""The one clock every rule reads "now" from.

Production reads the operating-system clock (so the service can run under
libfaketime); tests move it with `clock.set(...)` / `clock.advance(...)`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        """Aware UTC now."""
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        """Today's date in China time."""
        return self.now().astimezone(CHINA_TZ).date()

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("clock.set needs an aware datetime")
        self._frozen = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta

    def reset(self) -> None:
        self._offset = timedelta(0)
        self._frozen = None


clock = Clock()


def utc(dt: datetime) -> datetime:
    """A datetime as aware UTC (a naive one is taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
