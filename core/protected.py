"""Protected values: personal data that is stored encrypted and shown masked.

One mechanism for every kind (identity numbers, bank accounts, phones,
addresses): a `ProtectedKind` says how a value of that kind is validated and
normalised, whether look-ups need a blind index, and how it is masked;
`kind.protect(value)` gives what a table stores (`Protected`: the AES-256-GCM
ciphertext, the HMAC-SHA256 blind index where the kind has one, the masked
form), `kind.reveal(stored)` the clear value again.

The kind's `context` is both the ciphertext's associated data and the blind
index's purpose, so a ciphertext or index of one kind never passes for another's.
Stored forms are the ones huimin has always written for identity numbers
(`v1.` + base64(nonce || ciphertext), purpose `id_number`).

Identity numbers are validated by `services.identity` (birth date, check
character), which declares that kind; the others are declared here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from core.errors import ValidationFailed
from core.security import Cipher
from core.settings import Settings, get_settings
from core.text import ascii_digits


@dataclass(frozen=True, slots=True)
class Protected:
    """What a table stores for one protected value."""

    encrypted: str
    blind_index: str | None
    masked: str


@lru_cache(maxsize=4)
def _cipher(key: str, blind_key: str) -> Cipher:
    return Cipher(key, blind_key)


def cipher(settings: Settings | None = None) -> Cipher:
    s = settings or get_settings()
    return _cipher(s.id_encryption_key, s.blind_index_key)


@dataclass(frozen=True, slots=True)
class ProtectedKind:
    name: str
    context: str
    normalise: Callable[[str, str], str]  # (value, field name) -> normalised, or raise
    mask: Callable[[str], str]  # of the normalised value
    indexed: bool = True

    def clean(self, value: str, *, field: str | None = None) -> str:
        """The validated, normalised value (422 when it is not one of this kind)."""
        return self.normalise(value, field or self.name)

    def protect(self, value: str, settings: Settings | None = None, *,
                field: str | None = None) -> Protected:
        return self.protect_clean(self.clean(value, field=field), settings)

    def protect_clean(self, clean: str, settings: Settings | None = None, *,
                      blind_index: str | None = None) -> Protected:
        """`protect` for a value already normalised by `clean` (or the kind's parser);
        `blind_index`: its `index_clean`, when the caller has computed it already."""
        c = cipher(settings)
        if blind_index is None and self.indexed:
            blind_index = self.index_clean(clean, settings)
        return Protected(encrypted=c.encrypt(clean, context=self.context),
                         blind_index=blind_index, masked=self.mask(clean))

    def blind_index(self, value: str, settings: Settings | None = None, *,
                    field: str | None = None) -> str:
        """The keyed hash look-ups and uniqueness use instead of the value."""
        return self.index_clean(self.clean(value, field=field), settings)

    def index_clean(self, clean: str, settings: Settings | None = None) -> str:
        if not self.indexed:
            raise TypeError(f"{self.name} values have no blind index")
        return cipher(settings).blind_index(clean.upper(), purpose=self.context)

    def reveal(self, stored: str, settings: Settings | None = None) -> str:
        return cipher(settings).decrypt(stored, context=self.context)


def field_error(field: str, msg_zh: str, msg_en: str) -> ValidationFailed:
    err = ValidationFailed()
    err.extra["errors"] = [{"loc": ["body", *field.replace("]", "").replace("[", ".")
                                    .split(".")], "type": "value_error",
                            "msg": (msg_zh, msg_en)}]
    return err


# --- bank accounts -------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-]")


def _bank_account(value: str, field: str) -> str:
    digits = _SEPARATORS.sub("", value or "")
    if not ascii_digits(digits) or not 8 <= len(digits) <= 32:
        raise field_error(field, "银行账号应为 8 至 32 位数字",
                          "a bank account number is 8-32 digits")
    return digits


def mask_bank_account(digits: str) -> str:
    """`6222 **** **** 1234`: the bank's first four and the last four digits."""
    return f"{digits[:4]} **** **** {digits[-4:]}"


BANK_ACCOUNT = ProtectedKind("bank_account", "bank_account", _bank_account, mask_bank_account)


# --- phones --------------------------------------------------------------------------

_PHONE = re.compile(r"\+?[0-9]{6,20}")


def _phone(value: str, field: str) -> str:
    compact = _SEPARATORS.sub("", value or "")
    if not _PHONE.fullmatch(compact):
        raise field_error(field, "电话号码应为 6 至 20 位数字，可以 + 开头",
                          "a phone number is 6-20 digits, optionally with +")
    if compact.startswith("+86"):
        compact = compact[3:]
    return compact


def mask_phone(phone: str) -> str:
    """`138****8000`: the first three and the last four digits (shorter numbers keep
    only their last two)."""
    digits = phone.lstrip("+")
    if len(digits) >= 10:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * (len(digits) - 2) + digits[-2:]


PHONE = ProtectedKind("phone", "phone", _phone, mask_phone)


# --- addresses -----------------------------------------------------------------------


def _address(value: str, field: str) -> str:
    text = " ".join((value or "").split())
    if not 1 <= len(text) <= 300:
        raise field_error(field, "地址应为 1 至 300 个字符", "an address is 1-300 characters")
    return text


def mask_address(address: str) -> str:
    """The first six characters (province, city, district in Chinese) and `****`."""
    keep = min(6, len(address) // 2)
    return address[:keep] + "****"


ADDRESS = ProtectedKind("address", "address", _address, mask_address, indexed=False)
