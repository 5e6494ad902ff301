"""`HUIMIN_CITIZEN_IDENTITY_REQUIRED=true` (the production default): a citizen write
from an account no verifier has bound is 403 `identity_not_verified`, so knowing a
person's identity number is no longer enough to book in their name."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.api.test_beds_support import apply, institution
from tests.api.test_identity import account, bind, verifier
from tests.api.test_marriage_support import (
    book,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)
from tests.conftest import TEST_JWT_MAX_TTL_MINUTES

APPT = "/v1/marriage/appointments"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env="test", database_url=db_url, rate_limit_enabled=False, log_level="INFO",
                    maintenance_interval_seconds=0, redis_url=None,
                    citizen_identity_required=True, _env_file=None,
                    jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES)


async def test_knowing_the_numbers_no_longer_books_in_their_name(client, admin_headers,
                                                                  settings):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    office, _staff = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    groom, bride = person("male"), person("female")
    # An unbound account that knows both numbers.
    _s, stranger = account(settings)
    r = await book(client, settings, slot, [groom, bride], headers=stranger)
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified", r.text
    # A stranger verified as someone else: still not in the couple's name.
    stranger_subject, verified_stranger = account(settings)
    await bind(client, v, stranger_subject, person("male"))
    r = await book(client, settings, slot, [groom, bride], headers=verified_stranger)
    assert r.status_code == 422 and r.json()["code"] == "applicant_not_a_party"
    # Nobody took a seat or a hold in the couple's name: the groom books it himself.
    groom_subject, groom_account = account(settings)
    await bind(client, v, groom_subject, groom)
    r = await book(client, settings, slot, [groom, bride], headers=groom_account)
    assert r.status_code == 201, r.text


async def test_reads_still_work_and_other_writes_are_refused(client, admin_headers, settings):
    _s, me = account(settings)
    assert (await client.get(APPT, headers=me)).status_code == 200
    assert (await client.get("/v1/me", headers=me)).json()["identity"] is None
    inst, _staff = await institution(client, admin_headers)
    r, _ = await apply(client, settings, inst["id"], citizen=me, expect=403)
    assert r["code"] == "identity_not_verified"
    # Families still act for elders once their own account is verified.
    v = await verifier(client, admin_headers)
    subject, daughter = account(settings)
    await bind(client, v, subject, person("female", "1975-03-15"))
    app, _ = await apply(client, settings, inst["id"], citizen=daughter)
    assert app["status"] == "submitted"


def test_required_by_default_in_production_only():
    secrets = {"jwt_secret": "x" * 40, "id_encryption_key": "A" * 43 + "=",
               "blind_index_key": "k" * 40}
    assert Settings(env="production", _env_file=None, **secrets).identity_required is True
    assert Settings(env="development", _env_file=None).identity_required is False
    assert Settings(env="production", _env_file=None, citizen_identity_required=False,
                    **secrets).identity_required is False
