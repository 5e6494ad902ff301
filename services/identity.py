"""People's resident identity numbers (GB 11643).

One place validates them (python-stdnum) and derives birth date, age and sex;
they are encrypted (AES-GCM), blind-indexed (HMAC-SHA256) and masked as the
protected kind `ID_NUMBER`, through the one mechanism every protected value uses
(core.protected). Nothing else in huimin handles a clear identity number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.util import isdigits

from core.clock import clock
from core.errors import InvalidIdNumber
from core.protected import Protected, ProtectedKind
from core.protected import cipher as protected_cipher
from core.security import Cipher
from core.settings import Settings

BLIND_PURPOSE = "id_number"
_CHECK_CHARS = frozenset("0123456789X")
# A number as typed almost always: 18 ASCII digits (the last may be x or X). For
# it, python-stdnum's `compact` (a per-character Unicode clean-up, twice per
# number with `get_birth_date`; a tenth of a booking's CPU) gives the number
# upper-cased and nothing else, so it is skipped; anything else goes through it.
_PLAIN = re.compile(r"[0-9]{17}[0-9xX]")
# python-stdnum's exceptions, as the `reason` of `invalid_id_number`.
_REASONS: dict[type[ValidationError], str] = {
    InvalidLength: "length", InvalidFormat: "format", InvalidComponent: "birth_date",
    InvalidChecksum: "checksum",
}


@dataclass(frozen=True, slots=True)
class IdNumber:
    number: str  # normalised, upper-case X
    birth_date: date
    sex: str  # "male" | "female"

    def age_on(self, on: date) -> int:
        years = on.year - self.birth_date.year
        if (on.month, on.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    @property
    def masked(self) -> str:
        return mask(self.number)


def parse(value: str, *, field: str = "id_number") -> IdNumber:
    """Validate and decode; raise `InvalidIdNumber` (422) on any defect, saying which
    (`reason`: `length`, `format`, `birth_date`, `checksum`; never the number).

    The checks are the ones DOMAIN.md names, in this order: 18 characters, digits
    (and a final X), a real birth date that is not in the future, the GB 11643 check
    character. The region code is deliberately not checked against the birth year:
    codes follow the holder's residence when the card was issued, so an elder born in
    1956 legitimately carries a district code created decades later (python-stdnum's
    `validate` refuses those).
    """
    try:
        plain = isinstance(value, str) and _PLAIN.fullmatch(value) is not None
        number = value.upper() if plain else ric.compact(value)
        if len(number) != 18:
            raise InvalidLength()
        if not isdigits(number[:17]) or number[0] == "0" or number[-1] not in _CHECK_CHARS:
            raise InvalidFormat()
        birth = _birth_date(number) if plain else ric.get_birth_date(number)
        if birth > clock.today() or birth.year < 1880:
            raise InvalidComponent()
        if ric.calc_check_digit(number) != number[-1]:
            raise InvalidChecksum()
    except ValidationError as exc:
        raise InvalidIdNumber(field=field, reason=_REASONS.get(type(exc), "format")) from None
    except (ValueError, TypeError):
        raise InvalidIdNumber(field=field, reason="format") from None
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return IdNumber(number=number, birth_date=birth, sex=sex)


def _birth_date(number: str) -> date:
    """`ric.get_birth_date` of a number already compact (`_PLAIN`)."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidComponent() from None


def mask(number: str) -> str:
    """`110105********1234`: first 6, 8 stars, last 4."""
    return number[:6] + "*" * 8 + number[-4:]


# Identity numbers as a protected kind (core.protected): the stored forms are the
# ones huimin has always written (context and blind-index purpose `id_number`,
# the index over the upper-case number), so no stored row changes.
ID_NUMBER = ProtectedKind(BLIND_PURPOSE, BLIND_PURPOSE,
                          lambda value, field: parse(value, field=field).number, mask)

# What a table stores for a person's identity number.
ProtectedId = Protected


def cipher(settings: Settings | None = None) -> Cipher:
    return protected_cipher(settings)


def encrypt(number: str, settings: Settings | None = None) -> str:
    return ID_NUMBER.protect_clean(number, settings).encrypted


def decrypt(stored: str, settings: Settings | None = None) -> str:
    return ID_NUMBER.reveal(stored, settings)


def blind_index(number: str, settings: Settings | None = None) -> str:
    """The keyed hash that uniqueness and look-ups use instead of the number."""
    return ID_NUMBER.index_clean(number, settings)


def protect(idn: IdNumber, settings: Settings | None = None, *,
            blind_index: str | None = None) -> Protected:
    """An identity number already parsed, as a table stores it (`blind_index`: its
    `blind_index`, if computed already)."""
    return ID_NUMBER.protect_clean(idn.number, settings, blind_index=blind_index)


def protect_input(value: str, settings: Settings | None = None, *,
                  field: str = "id_number") -> tuple[IdNumber, Protected]:
    """Validate a number from a request and protect it in one step."""
    idn = parse(value, field=field)
    return idn, protect(idn, settings)
