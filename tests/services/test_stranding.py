"""The kit's refuse-or-cancel rule for changes that strand bookings."""

from __future__ import annotations

import pytest

from core.errors import BookingsAffected, CapacityBelowBooked
from services import stranding


def test_nothing_affected_is_neither_refused_nor_cancelled():
    assert stranding.refuse_or_cancel(0, cancel=False) is False
    assert stranding.refuse_or_cancel(0, cancel=True) is False


def test_affected_without_cancel_is_refused_with_the_number():
    with pytest.raises(CapacityBelowBooked) as caught:
        stranding.refuse_or_cancel(3, cancel=False)
    assert caught.value.extra == {"affected_appointments": 3}
    assert caught.value.status == 409


def test_affected_with_cancel_says_cancel_them():
    assert stranding.refuse_or_cancel(2, cancel=True) is True


def test_the_error_and_its_field_are_the_callers():
    with pytest.raises(BookingsAffected) as caught:
        stranding.refuse_or_cancel(1, cancel=False, error=BookingsAffected,
                                   affected_field="affected_bookings")
    assert caught.value.code == "bookings_affected"
    assert caught.value.extra == {"affected_bookings": 1}
