"""A divorce case's status is computed from its stored dates and the day asked about."""

from __future__ import annotations

import datetime as dt

from core.settings import Settings
from schemas.marriage import DivorceCaseStatus, MarriageDivorceCase
from services.marriage import divorce

SETTINGS = Settings(_env_file=None)


def _case(**kw) -> MarriageDivorceCase:
    return MarriageDivorceCase(id="mdc_1", office_id="org_1", divorce_appointment_id="mapt_1",
                               owner_subject="c", party_a_blind_index="a",
                               party_b_blind_index="b", parties=[],
                               received_date=dt.date(2026, 3, 1), **kw)


def _status(case: MarriageDivorceCase, day: str) -> DivorceCaseStatus:
    return divorce.status_of(case, SETTINGS, dt.date.fromisoformat(day))


def test_dates():
    d = divorce.dates_of(_case(), SETTINGS)
    assert d.cooling_off_ends == dt.date(2026, 3, 31)
    assert d.confirmation_first == dt.date(2026, 4, 1)
    assert d.confirmation_deadline == dt.date(2026, 4, 30)


def test_status_through_time():
    case = _case()
    assert _status(case, "2026-03-01") == "cooling_off"
    assert _status(case, "2026-03-31") == "cooling_off"
    assert _status(case, "2026-04-01") == "awaiting_confirmation"
    assert _status(case, "2026-04-30") == "awaiting_confirmation"
    assert _status(case, "2026-05-01") == "lapsed"


def test_withdrawn_and_registered_are_final():
    at = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
    assert _status(_case(withdrawn_at=at), "2026-03-06") == "withdrawn"
    assert _status(_case(withdrawn_at=at), "2026-06-01") == "withdrawn"
    assert _status(_case(registered_at=at), "2026-06-01") == "registered"
