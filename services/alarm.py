"""An in-process alarm clock for the maintenance sweep: a service that makes
something due at a known moment (an offer that expires) says so here, and a
sweep sleeping past that moment is woken to sleep again until it.

Nothing depends on it for correctness: the sweep also reads the next due moment
from the database each time it wakes, so moments made in other processes are
found there, at the latest after its longest sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime


class Alarm:
    def __init__(self) -> None:
        self._pending: datetime | None = None
        self._sleepers: dict[asyncio.Event, datetime] = {}

    def note(self, at: datetime) -> None:
        """Something falls due at `at`: wake every sleeper set to wake later."""
        if self._pending is None or at < self._pending:
            self._pending = at
        for event, wake_at in self._sleepers.items():
            if at < wake_at:
                event.set()

    def pending(self, now: datetime) -> datetime | None:
        """The earliest noted moment still ahead of `now` (those passed are forgotten)."""
        if self._pending is not None and self._pending <= now:
            self._pending = None
        return self._pending

    async def sleep(self, seconds: float, wake_at: datetime) -> None:
        """Sleep `seconds` (until `wake_at` on the service clock), or until `note`
        names an earlier moment."""
        event = asyncio.Event()
        self._sleepers[event] = wake_at
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
        finally:
            self._sleepers.pop(event, None)


# Bed offers: each new offer notes its expiry.
offers = Alarm()
