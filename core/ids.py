"""Opaque, time-ordered ids: a type prefix, 48 bits of milliseconds, 80 random bits.

Ordering by id is ordering by creation, which keeps keyset pagination
(`core.pages`) to a single indexed comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import time


def new_id(prefix: str) -> str:
    ms = int(time.time() * 1000)
    raw = ms.to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{raw.hex()}"


def first_id_at(prefix: str, when: dt.datetime) -> str:
    """The smallest id `new_id(prefix)` can make at `when`: every id below it was
    made earlier (a range on the primary key instead of a scan for a time)."""
    ms = int(when.timestamp() * 1000)
    return f"{prefix}_{ms.to_bytes(6, 'big').hex()}{'0' * 20}"
