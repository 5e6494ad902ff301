"""What booking and lottery entry last read of an office's day, kept
per process (`services.kept`).

The booking of a peak day read the office's schedule on every request: its
sessions, window, closure, special day, lottery and contact, the same for every
couple. `services.marriage.appointments.book` keeps what it read here and reuses
it; it is never trusted: `marriage_book` (marriage_book.sql) compares each part
with the database under the office's schedule lock (`marriage_day_unchanged`) and
refuses a stale one (SQLSTATE 40001), which forgets the day here and runs the
request again. A lottery entry keeps its lottery's read the same way (`LOTTERIES`,
checked again by `marriage_lottery_enter`). A change made by this process
(`services.marriage.schedules`, which takes that lock exclusive) forgets the
office at once, so its next booking or entry reads afresh instead of being re-run.
Nothing personal is kept: the people's no-shows, holds and the session's seats are
checked by the write (and `services.capacity.known_full`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.kept import Kept

KEEP_SECONDS = 60.0  # a day not booked for this long is read afresh

DAYS: Kept[tuple[str, dt.date], Any] = Kept(KEEP_SECONDS)
# A lottery's entry read, by lottery id; the value's `office_id` names its office.
LOTTERIES: Kept[str, Any] = Kept(KEEP_SECONDS)


def get(office_id: str, day: dt.date) -> Any | None:
    return DAYS.get((office_id, day))


def remember(office_id: str, day: dt.date, read: Any) -> None:
    DAYS.remember((office_id, day), read)


def forget(office_id: str, day: dt.date) -> None:
    DAYS.forget((office_id, day))


def forget_office(office_id: str) -> None:
    DAYS.forget_where(lambda key, _read: key[0] == office_id)
    LOTTERIES.forget_where(lambda _id, read: read.office_id == office_id)
