"""Opaque, time-ordered ids: a type prefix, 48 bits of milliseconds, 80 random bits.

Ordering by id is ordering by creation, which keeps cursor pagination to a single
indexed comparison.
"""

from __future__ import annotations

import base64
import binascii
import os
import time


def new_id(prefix: str) -> str:
    ms = int(time.time() * 1000)
    raw = ms.to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{raw.hex()}"


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    from core.errors import InvalidCursor

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc
    # Only what encode_cursor made round-trips; anything else (garbage, control
    # characters PostgreSQL would refuse) is a client error, not a query.
    if encode_cursor(value) != cursor or not value.isprintable():
        raise InvalidCursor()
    return value
