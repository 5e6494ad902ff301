"""The leak guard in tests/conftest.py is itself tested: it must catch a leak (identity
numbers and phones)."""

from __future__ import annotations

from core.logging import get_logger
from tests.conftest import _leaks
from tests.factories import make_id_number, make_phone


def test_the_guard_sees_a_number_in_a_body_or_a_log_line():
    n = make_id_number("19800101")
    assert _leaks({n}, ['{"id": "' + n.lower() + '"}']) == {n}
    assert _leaks({n}, ["nothing here", n[:6] + "********" + n[-4:]]) == set()


async def test_a_log_line_with_a_number_is_masked_before_it_is_written(client, log_stream):
    n = make_id_number("19800101")
    get_logger("test").warning("someone logged", value=f"id {n}")
    await client.get("/healthz")
    assert n not in log_stream.getvalue()
    assert n[:6] + "********" + n[-4:] in log_stream.getvalue()


def test_the_guard_sees_a_phone_in_a_body_or_a_log_line():
    p = make_phone()
    assert _leaks({p}, ['{"phone": "' + p + '"}']) == {p}
    assert _leaks({p}, ["nothing here", p[:3] + "****" + p[-4:]]) == set()


async def test_a_log_line_with_a_phone_is_masked_before_it_is_written(client, log_stream):
    p = make_phone()
    get_logger("test").warning("someone logged", value=f"phone {p}", nested={"p": [p]})
    await client.get("/healthz")
    assert p not in log_stream.getvalue()
    assert p[:3] + "****" + p[-4:] in log_stream.getvalue()
