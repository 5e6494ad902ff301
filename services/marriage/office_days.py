"""What booking on PostgreSQL last read of an office's day, kept per process.

The booking of a peak day read the office's schedule on every request: its
sessions, window, closure, special day, lottery and contact, the same for every
couple. `services.marriage.appointments.book` keeps what it read here and reuses
it; it is never trusted: `marriage_book` (migrations 0013 and 0015) compares each
part with the database under the office's schedule lock and refuses a stale one
(SQLSTATE 40001), which forgets the day here and runs the request again. A change
made by this process (`services.marriage.schedules`, which takes that lock
exclusive) forgets the office at once, so its next booking reads afresh instead of
being re-run. Nothing personal is kept: the people's no-shows and the session's
seats are checked by the write (and `services.capacity.known_full`).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

_KEPT: dict[tuple[str, dt.date], tuple[float, Any]] = {}
KEEP_SECONDS = 60.0  # a day not booked for this long is read afresh
_MAX = 4096


def get(office_id: str, day: dt.date) -> Any | None:
    kept = _KEPT.get((office_id, day))
    if kept is None or time.monotonic() - kept[0] >= KEEP_SECONDS:
        return None
    return kept[1]


def remember(office_id: str, day: dt.date, read: Any) -> None:
    if len(_KEPT) >= _MAX:
        _KEPT.clear()
    _KEPT[(office_id, day)] = (time.monotonic(), read)


def forget(office_id: str, day: dt.date) -> None:
    _KEPT.pop((office_id, day), None)


def forget_office(office_id: str) -> None:
    for key in [k for k in _KEPT if k[0] == office_id]:
        _KEPT.pop(key, None)
