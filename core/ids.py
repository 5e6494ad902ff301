"""Opaque, time-ordered ids: a type prefix, 48 bits of milliseconds, 80 random bits.

Ordering by id is ordering by creation, which keeps keyset pagination
(`core.pages`) to a single indexed comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{_stamp(time.time())}{os.urandom(10).hex()}"


def first_id_at(prefix: str, when: dt.datetime) -> str:
    """The smallest id `new_id(prefix)` can make at `when`: every id below it was
    made earlier (a range on the primary key instead of a scan for a time)."""
    return f"{prefix}_{_stamp(when.timestamp())}{'0' * 20}"


def _stamp(seconds: float) -> str:
    """The id's leading 48 bits: milliseconds since the epoch, as hex."""
    return int(seconds * 1000).to_bytes(6, "big").hex()
