"""People's resident identity numbers (GB 11643).

One place validates them (python-stdnum), derives birth date, age and sex,
encrypts them (AES-GCM), computes the blind index (HMAC-SHA256) and masks them.
Nothing else in huimin handles a clear identity number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from core.clock import clock
from core.errors import InvalidIdNumber
from core.security import Cipher
from core.settings import Settings, get_settings

BLIND_PURPOSE = "id_number"


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
    """Validate and decode; raise `InvalidIdNumber` (422) on any defect.

    The checks are the ones DOMAIN.md names: 18 characters, the GB 11643 check
    character, a real birth date that is not in the future. The region code is
    deliberately not checked against the birth year: codes follow the holder's
    residence when the card was issued, so an elder born in 1956 legitimately
    carries a district code created decades later (python-stdnum's `validate`
    refuses those).
    """
    try:
        number = ric.compact(value)
        if len(number) != 18 or not number[:17].isdigit() or number[0] == "0":
            raise InvalidIdNumber(field=field)
        if ric.calc_check_digit(number) != number[-1]:
            raise InvalidIdNumber(field=field)
        birth = ric.get_birth_date(number)
    except (ValidationError, ValueError, TypeError) as exc:
        raise InvalidIdNumber(field=field) from exc
    if birth > clock.today() or birth.year < 1880:
        raise InvalidIdNumber(field=field)
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return IdNumber(number=number, birth_date=birth, sex=sex)


def mask(number: str) -> str:
    """`110105********1234`: first 6, 8 stars, last 4."""
    return number[:6] + "*" * 8 + number[-4:]


@lru_cache(maxsize=4)
def _cipher(key: str, blind_key: str) -> Cipher:
    return Cipher(key, blind_key)


def cipher(settings: Settings | None = None) -> Cipher:
    s = settings or get_settings()
    return _cipher(s.id_encryption_key, s.blind_index_key)


def encrypt(number: str, settings: Settings | None = None) -> str:
    return cipher(settings).encrypt(number, context=BLIND_PURPOSE)


def decrypt(stored: str, settings: Settings | None = None) -> str:
    return cipher(settings).decrypt(stored, context=BLIND_PURPOSE)


def blind_index(number: str, settings: Settings | None = None) -> str:
    """The keyed hash that uniqueness and look-ups use instead of the number."""
    return cipher(settings).blind_index(number.upper(), purpose=BLIND_PURPOSE)


@dataclass(frozen=True, slots=True)
class ProtectedId:
    """What a table stores for a person's identity number."""

    encrypted: str
    blind_index: str
    masked: str


def protect(idn: IdNumber, settings: Settings | None = None) -> ProtectedId:
    return ProtectedId(
        encrypted=encrypt(idn.number, settings),
        blind_index=blind_index(idn.number, settings),
        masked=idn.masked,
    )
