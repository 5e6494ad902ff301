"""The keyset cursor kit: cursors round-trip exactly, and nothing else is taken."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from core import pages
from core.errors import InvalidCursor

_t = Table("t", MetaData(), Column("id", String), Column("n", Integer))
BY_N_THEN_ID = pages.Keyset(pages.Key(_t.c.n, pages.Int(0, 1000), descending=True),
                            pages.Key(_t.c.id, pages.IdOf("x")))
AT_ID = pages.Keyset(pages.Key(_t.c.n, pages.AT, attr="n"), pages.Key(_t.c.id, pages.IdOf("x")))


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_round_trips():
    cursor = BY_N_THEN_ID.encode((7, "x_0193ab"))
    assert BY_N_THEN_ID.decode(cursor) == (7, "x_0193ab")
    at = dt.datetime(2026, 12, 1, 1, 2, 3, tzinfo=dt.UTC)
    assert AT_ID.decode(AT_ID.encode((at, "x_1"))) == (at, "x_1")


@pytest.mark.parametrize("cursor", [
    "", "%%%", "!!", _raw("x_1"), _raw([7]), _raw([7, "x_1", 3]), _raw(["7", "x_1"]),
    _raw([True, "x_1"]),          # a bool is not an int
    _raw([7.0, "x_1"]),           # nor a float
    _raw([1001, "x_1"]),          # out of range
    _raw([7, "y_1"]),             # an id of another kind
    _raw([7, "x_1 OR 1=1"]),
    _raw([7, "x_1"]) + "=",       # padding: not what encode makes
    base64.urlsafe_b64encode(b'[7, "x_1"]').decode().rstrip("="),  # spacing differs
])
def test_anything_but_a_handed_out_cursor_is_invalid(cursor):
    with pytest.raises(InvalidCursor):
        BY_N_THEN_ID.decode(cursor)


@pytest.mark.parametrize("value", ["2026-12-01T01:02:03", "2026-12-01T09:02:03+08:00", "x", 5])
def test_datetimes_in_cursors_are_aware_utc(value):
    with pytest.raises(InvalidCursor):
        AT_ID.decode(_raw([value, "x_1"]))


def test_after_follows_mixed_directions():
    sql = str(select(_t).where(BY_N_THEN_ID.after((7, "x_5"))).compile(
        compile_kwargs={"literal_binds": True}))
    assert "t.n < 7 OR t.n = 7 AND t.id > 'x_5'" in sql


def test_cut_hands_out_the_last_rows_key_only_when_there_is_more():
    rows = [{"n": 9, "id": "x_1"}, {"n": 8, "id": "x_2"}, {"n": 8, "id": "x_3"}]
    page = BY_N_THEN_ID.cut(rows, 2)
    assert page.items == rows[:2]
    assert BY_N_THEN_ID.decode(page.next_cursor) == (8, "x_2")
    assert BY_N_THEN_ID.cut(rows, 3).next_cursor is None


def test_python_side_orders_compare_like_sql():
    assert BY_N_THEN_ID.is_after((6, "x_9"), (7, "x_1"))  # n descending
    assert BY_N_THEN_ID.is_after((7, "x_2"), (7, "x_1"))
    assert not BY_N_THEN_ID.is_after((7, "x_1"), (7, "x_1"))
    assert not BY_N_THEN_ID.is_after((8, "x_0"), (7, "x_1"))
