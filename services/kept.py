"""Reads kept per process for a while, for writes that check them again.

A peak day's booking or lottery entry read the same office day (or lottery) on
every request, identical for every couple. `Kept` keeps the last such read for
`seconds`; whoever uses one passes what it relied on to its write, which compares
it with the database under the right lock and refuses a stale one (SQLSTATE 40001:
the caller forgets the entry and the request runs again). So a kept read saves a
round trip and is never trusted. Nothing personal is ever kept here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    """At most `size` reads, each for `seconds` after it was made."""

    def __init__(self, seconds: float, size: int = 4096) -> None:
        self.seconds = seconds
        self._size = size
        self._kept: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        kept = self._kept.get(key)
        if kept is None or time.monotonic() - kept[0] >= self.seconds:
            return None
        return kept[1]

    def remember(self, key: K, value: V) -> None:
        if len(self._kept) >= self._size:
            self._kept.clear()
        self._kept[key] = (time.monotonic(), value)

    def forget(self, key: K) -> None:
        self._kept.pop(key, None)

    def forget_where(self, matches: Callable[[K, V], bool]) -> None:
        """Forget every read for which `matches(key, value)`."""
        for key in [k for k, (_at, v) in self._kept.items() if matches(k, v)]:
            self._kept.pop(key, None)
