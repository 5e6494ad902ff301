"""Protected values (core.protected and the identity-number kind): one mechanism
validates, encrypts, blind-indexes and masks each kind, and keeps the stored
forms huimin has always written."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from stdnum.cn import ric

from core.errors import InvalidIdNumber, ValidationFailed
from core.protected import ADDRESS, BANK_ACCOUNT, PHONE, Protected
from core.security import Cipher
from core.settings import Settings
from services import identity


def make_id_number(birth: str, *, sex: str = "male") -> str:
    """A valid number of its own (not one the API tests watch for in responses:
    these tests never reach the API)."""
    body = f"440305{birth}{'857' if sex == 'male' else '858'}"
    return body + ric.calc_check_digit(body + "0")


def _settings(**overrides) -> Settings:
    return Settings(env="test", _env_file=None, **overrides)


def test_identity_numbers_keep_their_stored_forms():
    """Rows written before the kit decrypt and match as they always did."""
    s = _settings()
    number = make_id_number("19491231", sex="female")
    old = Cipher(s.id_encryption_key, s.blind_index_key)
    stored_before = old.encrypt(number, context="id_number")
    assert identity.ID_NUMBER.reveal(stored_before, s) == number
    protected = identity.ID_NUMBER.protect(number.lower(), s)
    assert protected.blind_index == old.blind_index(number.upper(), purpose="id_number")
    assert old.decrypt(protected.encrypted, context="id_number") == number
    assert protected.masked == number[:6] + "********" + number[-4:]
    assert isinstance(identity.protect(identity.parse(number), s), Protected)


def test_identity_kind_validates_with_the_one_code():
    with pytest.raises(InvalidIdNumber):
        identity.ID_NUMBER.protect("110105194912310021", _settings(), field="elder.id_number")
    idn, prot = identity.protect_input(make_id_number("19800101"), _settings())
    assert prot.masked == idn.masked


@pytest.mark.parametrize(("value", "masked"), [
    ("6222 0212 3456 7891 234", "6222 **** **** 1234"),
    ("6222-0212-3456-7890", "6222 **** **** 7890"),
    ("11014900001234567", "1101 **** **** 4567"),
])
def test_bank_accounts_are_masked_like_a_card(value, masked):
    s = _settings()
    prot = BANK_ACCOUNT.protect(value, s, field="payout.account_no")
    assert prot.masked == masked
    digits = value.replace(" ", "").replace("-", "")
    assert BANK_ACCOUNT.reveal(prot.encrypted, s) == digits
    assert digits not in prot.encrypted and digits not in (prot.blind_index or "")
    # Spaces and dashes do not make another account.
    assert BANK_ACCOUNT.blind_index(digits, s) == prot.blind_index


@pytest.mark.parametrize("bad", ["", "6222", "6222 abcd 1234 5678", "１２３４５６７８９０"])
def test_bad_bank_accounts_are_field_errors(bad):
    with pytest.raises(ValidationFailed) as caught:
        BANK_ACCOUNT.protect(bad, _settings(), field="payout.account_no")
    assert caught.value.extra["errors"][0]["loc"] == ["body", "payout", "account_no"]


@pytest.mark.parametrize(("value", "masked"), [
    ("13800138000", "138****8000"),
    ("+86 138 0013 8000", "138****8000"),
    ("010-65099999", "010****9999"),
    ("6509999", "*****99"),
    ("65099", None),
])
def test_phones_are_masked_with_the_middle_hidden(value, masked):
    s = _settings()
    if masked is None:
        with pytest.raises(ValidationFailed):
            PHONE.protect(value, s)
        return
    prot = PHONE.protect(value, s)
    assert prot.masked == masked
    assert PHONE.reveal(prot.encrypted, s) == value.replace(" ", "").replace("-", "") \
        .removeprefix("+86")


def test_addresses_are_encrypted_without_a_blind_index():
    s = _settings()
    prot = ADDRESS.protect("  北京市朝阳区工体东路  20 号 ", s)
    assert prot.blind_index is None
    assert prot.masked == "北京市朝阳区****"
    assert ADDRESS.reveal(prot.encrypted, s) == "北京市朝阳区工体东路 20 号"
    with pytest.raises(TypeError):
        ADDRESS.blind_index("北京市", s)


def test_kinds_do_not_pass_for_one_another():
    s = _settings()
    digits = "13800138000"
    phone, account = PHONE.protect(digits, s), BANK_ACCOUNT.protect(digits, s)
    assert phone.blind_index != account.blind_index
    with pytest.raises(InvalidTag):
        BANK_ACCOUNT.reveal(phone.encrypted, s)


def test_another_key_cannot_read_or_match():
    s = _settings()
    other = _settings(id_encryption_key=base64.b64encode(os.urandom(32)).decode(),
                      blind_index_key="another-blind-index-key-of-enough-length")
    prot = BANK_ACCOUNT.protect("6222021234567890", s)
    with pytest.raises(InvalidTag):
        BANK_ACCOUNT.reveal(prot.encrypted, other)
    assert BANK_ACCOUNT.blind_index("6222021234567890", other) != prot.blind_index
