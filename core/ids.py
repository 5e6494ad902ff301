"""Opaque, time-ordered ids: a type prefix, 48 bits of milliseconds, 80 random bits.

Ordering by id is ordering by creation, which keeps keyset pagination
(`core.pages`) to a single indexed comparison.
"""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    ms = int(time.time() * 1000)
    raw = ms.to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{raw.hex()}"
