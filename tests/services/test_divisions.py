"""Division codes and jurisdiction by prefix containment (DOMAIN.md)."""

import pytest

from core.errors import InvalidDivisionCode
from services import divisions


def test_known_codes_and_names():
    assert divisions.name_of("510107") == "四川省成都市武侯区"
    assert divisions.is_valid("110105") and divisions.is_valid("110000")
    for municipality in ("110100", "120100", "310100", "500100"):
        assert divisions.is_valid(municipality)
    for bad in ("999999", "11010", "1101050", "abcdef", "", "１１０１０５"):
        assert not divisions.is_valid(bad)
        with pytest.raises(InvalidDivisionCode):
            divisions.validate(bad)


@pytest.mark.parametrize(("bureau", "code", "covered"), [
    ("110105", "110105", True),
    ("110105", "110101", False),
    ("110100", "110105", True),
    ("110100", "120101", False),
    ("110000", "110105", True),
    ("110000", "110100", True),
    ("510100", "510107", True),
    ("510000", "500101", False),
])
def test_jurisdiction_is_prefix_containment(bureau, code, covered):
    assert divisions.covers(bureau, code) is covered


def test_prefix_condition_is_an_index_friendly_range():
    from sqlalchemy import column

    sql = str(divisions.prefix_condition(column("division_code"), "5101")
              .compile(compile_kwargs={"literal_binds": True}))
    assert "LIKE" not in sql
    assert "division_code >= '5101'" in sql and "division_code < '5101:'" in sql
    with pytest.raises(InvalidDivisionCode):
        divisions.prefix_condition(column("division_code"), "51%")
    for other_script in ("٥١", "５１"):  # digits to str.isdigit, not ASCII
        with pytest.raises(InvalidDivisionCode):
            divisions.prefix_condition(column("division_code"), other_script)
