"""Every status of every domain in API.md and every action code reads as Chinese in
an `invalid_state` detail (and as English in en), whoever raises it: the state
machine raises `InvalidState(status=<current>, action=<code>)` for any pair."""

from __future__ import annotations

import re

import pytest

from core.errors import ACTION_NAMES, STATUS_NAMES, InvalidState, ValidationFailed
from core.protected import BANK_ACCOUNT, PHONE
from schemas.beds import ApplicationStatus, BedStatus
from schemas.marriage import AppointmentStatus, DivorceCaseStatus

# The two domains built next, as API.md lists their statuses.
HOME_CARE_BOOKING = ["booked", "in_service", "completed", "cancelled", "no_show"]
BURIAL_CLAIM = ["submitted", "returned", "reviewed", "approved", "rejected", "paid",
                "withdrawn"]
LOTTERY = ["scheduled", "open", "drawn", "entered", "won", "not_drawn"]

ALL_STATUSES = sorted({*AppointmentStatus, *DivorceCaseStatus, *ApplicationStatus,
                       *BedStatus, *HOME_CARE_BOOKING, *BURIAL_CLAIM, *LOTTERY})
ACTIONS = ["cancel", "check_in", "complete", "no_show", "withdraw", "accept", "decline",
           "admit", "assess", "reject", "discharge", "review", "resubmit", "approve",
           "mark_paid", "check_out", "rate", "confirm"]
ASCII_LETTERS = re.compile(r"[A-Za-z]")


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_every_status_has_a_chinese_and_an_english_name(status):
    assert status in STATUS_NAMES
    zh, en = STATUS_NAMES[status]
    assert zh and not ASCII_LETTERS.search(zh)
    assert en


@pytest.mark.parametrize("action", sorted(set(ACTIONS) | set(ACTION_NAMES)))
def test_every_action_reads_as_chinese_with_every_status(action):
    assert action in ACTION_NAMES
    for status in ALL_STATUSES:
        err = InvalidState(status=status, action=action)
        zh = err.detail("zh")
        assert not ASCII_LETTERS.search(zh), zh
        assert STATUS_NAMES[status][0] in zh and ACTION_NAMES[action][0] in zh
        assert err.detail("en") == (f"Cannot {ACTION_NAMES[action][1]} while the status is "
                                    f"{STATUS_NAMES[status][1]}.")


def test_enum_values_and_unknown_codes():
    err = InvalidState(status=AppointmentStatus.checked_in, action="cancel")
    assert err.detail("zh") == "当前状态为“已签到”，不能取消。"
    assert err.extra == {"current_status": "checked_in"}
    # A code without a Chinese name never brings English into the zh-CN text.
    assert InvalidState(status="frozen", action="cancel").detail("zh") == "当前状态下不能取消。"
    assert InvalidState(status="booked", action="teleport").detail("zh") == \
        "当前状态为“已预约”，不允许此操作。"
    assert InvalidState(status="x", action="y").detail("zh") == "当前状态不允许此操作。"


def test_a_services_own_field_error_follows_the_language():
    for kind, value, zh, en in (
            (BANK_ACCOUNT, "12", "银行账号应为 8 至 32 位数字",
             "a bank account number is 8-32 digits"),
            (PHONE, "call me", "电话号码应为 6 至 20 位数字，可以 + 开头",
             "a phone number is 6-20 digits, optionally with +")):
        with pytest.raises(ValidationFailed) as caught:
            kind.clean(value, field="payout.account_no")
        [item] = caught.value.extensions("zh")["errors"]
        assert item["msg"] == zh and value not in str(item)
        assert caught.value.extensions("en")["errors"][0]["msg"] == en
