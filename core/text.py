"""Checks on text as sent."""

from __future__ import annotations


def ascii_digits(value: str) -> bool:
    """Only `0`-`9`, at least one. `str.isdigit` (and `int()`) also take other scripts'
    digits (`٨`, `８`), which are no digits of an id, a code or an account number."""
    return value.isascii() and value.isdigit()
