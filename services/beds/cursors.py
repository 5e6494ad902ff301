"""Page cursors of the beds lists. A cursor is opaque to clients and taken back
only as it was handed out: anything that does not decode to exactly what one of
these lists encodes is 400 `invalid_cursor`, never a 500 and never quietly the
first page."""

from __future__ import annotations

import math
import re

from core.errors import InvalidCursor
from core.ids import decode_cursor, encode_cursor

_ID = re.compile(r"([a-z]{2,8})_[0-9A-Za-z]{1,35}")  # core.ids.new_id: prefix_random
_OFFSET = re.compile(r"0|[1-9][0-9]{0,8}")  # at most 999,999,999 rows in


def _raw(cursor: str) -> str:
    try:
        raw = decode_cursor(cursor)
    except InvalidCursor:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc
    # Base64 decoding skips stray characters and tolerates padding; the cursor
    # must be exactly the encoding of what it decodes to.
    if encode_cursor(raw) != cursor:
        raise InvalidCursor()
    return raw


def encode_id(value: str) -> str:
    return encode_cursor(value)


def decode_id(cursor: str, prefix: str) -> str:
    """A keyset cursor: the id (of the `prefix` kind) of the last row of the
    previous page."""
    raw = _raw(cursor)
    match = _ID.fullmatch(raw)
    if match is None or match.group(1) != prefix:
        raise InvalidCursor()
    return raw


def encode_offset(offset: int) -> str:
    return encode_cursor(str(offset))


def decode_offset(cursor: str) -> int:
    raw = _raw(cursor)
    if not _OFFSET.fullmatch(raw):  # ASCII digits only: "²" and "٣" are not offsets
        raise InvalidCursor()
    return int(raw)


def encode_distance(distance_km: float, last_id: str) -> str:
    return encode_cursor(f"{distance_km!r}|{last_id}")


def decode_distance(cursor: str) -> tuple[float, str]:
    raw = _raw(cursor)
    d_s, sep, last_id = raw.partition("|")
    try:
        distance = float(d_s)
    except ValueError as exc:
        raise InvalidCursor() from exc
    match = _ID.fullmatch(last_id)
    if (not sep or not math.isfinite(distance) or distance < 0 or repr(distance) != d_s
            or match is None or match.group(1) != "org"):
        raise InvalidCursor()
    return distance, last_id
