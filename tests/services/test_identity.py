"""The identity-number service: validation, derived facts, encryption, masking."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import clock
from core.errors import InvalidIdNumber
from core.logging import configure_logging, get_logger, scrub
from core.settings import Settings
from services import identity
from tests.factories import make_id_number

VALID = "11010519491231002X"  # the GB 11643 example number


def test_valid_number_gives_birth_date_sex_and_age():
    idn = identity.parse(VALID.lower())
    assert idn.number == VALID
    assert idn.birth_date == date(1949, 12, 31)
    assert idn.sex == "female"
    assert idn.age_on(date(2019, 12, 30)) == 69
    assert idn.age_on(date(2019, 12, 31)) == 70
    male = identity.parse(make_id_number("19900101", sex="male"))
    assert male.sex == "male"


@pytest.mark.parametrize("bad", [
    "110105194912310021",   # wrong check character
    "11010519491331002X",   # month 13
    "110105194902300027",   # 30 February (check digit computed below)
    "1101051949123100",     # too short
    "11010519491231002Y",
    "",
])
def test_invalid_numbers_are_refused(bad):
    if bad == "110105194902300027":
        from stdnum.cn import ric

        bad = bad[:17] + ric.calc_check_digit(bad[:17] + "0")
    with pytest.raises(InvalidIdNumber):
        identity.parse(bad)


def test_birth_date_in_the_future_is_refused():
    clock.set(datetime(2026, 11, 29, tzinfo=UTC))
    with pytest.raises(InvalidIdNumber):
        identity.parse(make_id_number("20261231"))
    identity.parse(make_id_number("20261129"))


def test_mask_shows_first_six_and_last_four():
    assert identity.mask(VALID) == "110105********002X"


def test_encryption_round_trips_and_hides_the_number():
    s = Settings(env="test", _env_file=None)
    stored = identity.encrypt(VALID, s)
    assert VALID not in stored
    assert identity.encrypt(VALID, s) != stored  # fresh nonce each time
    assert identity.decrypt(stored, s) == VALID


def test_blind_index_is_stable_keyed_and_case_insensitive():
    s = Settings(env="test", _env_file=None)
    other = Settings(env="test", blind_index_key="another-key", _env_file=None)
    assert identity.blind_index(VALID, s) == identity.blind_index(VALID.lower(), s)
    assert identity.blind_index(VALID, s) != identity.blind_index(VALID, other)
    assert VALID not in identity.blind_index(VALID, s)


def test_logs_mask_anything_shaped_like_an_identity_number():
    assert scrub({"a": f"id={VALID} ok"}) == {"a": "id=110105********002X ok"}
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        get_logger("t").info("oops", leaked=VALID, nested={"x": [VALID]})
    finally:
        configure_logging("INFO")
    assert VALID not in stream.getvalue()
    assert "110105********002X" in stream.getvalue()


def test_region_codes_younger_than_the_holder_are_accepted():
    # 武侯区 (510107) was created long after 1956; the card follows residence.
    idn = identity.parse(make_id_number("19560301", region="510107"))
    assert idn.birth_date == date(1956, 3, 1)
    assert identity.parse("510107195603010332").sex == "male"


@pytest.mark.parametrize("bad", ["012345199001011234", "11010519900101123", "ABCDEF199001011234"])
def test_malformed_numbers_get_the_one_code(bad):
    with pytest.raises(InvalidIdNumber):
        identity.parse(bad)


def _by_stdnum(value: str) -> tuple[str, str | date]:
    """What `identity.parse` says of a value with python-stdnum doing every step
    (`compact`, `get_birth_date`): the reference for its fast path."""
    try:
        idn = identity.parse(" " + value)  # not plain: stdnum's compact strips it
    except InvalidIdNumber as exc:
        return "refused", exc.extra["reason"]
    return idn.number, idn.birth_date


@settings(max_examples=400, deadline=None)
@given(st.from_regex(r"[0-9]{17}[0-9xX]", fullmatch=True)
       | st.builds(lambda d, seq, x: make_id_number(d.strftime("%Y%m%d"), seq=seq)[:17] + x,
                   st.dates(date(1880, 1, 1), date(2025, 12, 31)),
                   st.integers(0, 999), st.sampled_from("0123456789xX")))
def test_a_number_typed_plainly_is_judged_as_stdnum_judges_it(value):
    """Plain 18-character input skips stdnum's clean-up (services.identity._PLAIN):
    the number, the birth date and the reason for a refusal are the same."""
    clock.set(datetime(2026, 12, 1, tzinfo=UTC))
    try:
        try:
            idn = identity.parse(value)
        except InvalidIdNumber as exc:
            assert _by_stdnum(value) == ("refused", exc.extra["reason"])
        else:
            assert _by_stdnum(value) == (idn.number, idn.birth_date)
    finally:
        clock.reset()
