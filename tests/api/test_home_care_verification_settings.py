"""The verification thresholds are settings (`HUIMIN_HOME_CARE_*`), not constants."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.api.test_home_care_verification_support import (
    HOME,
    check_in,
    north_of,
    outbox,
    run_jobs,
    served,
    setup,
    visit,
)
from tests.api.test_home_care_verification_support import set_china_time as at_time
from tests.conftest import TEST_JWT_MAX_TTL_MINUTES

DAY2, DAY3 = "2026-12-09", "2026-12-10"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(env="test", database_url=db_url, rate_limit_enabled=False, redis_url=None,
                    _env_file=None, jwt_max_ttl_minutes=TEST_JWT_MAX_TTL_MINUTES,
                    home_care_late_check_in_minutes=5, home_care_short_visit_percent=90,
                    home_care_location_tolerance_km=0.5,
                    home_care_missing_check_out_hours=1.0,
                    home_care_missed_check_in_minutes=10)


async def test_each_threshold_comes_from_the_settings(client, admin_headers, settings, db):
    org, staff = await setup(client, admin_headers)
    a = await visit(client, settings, org)
    b = await visit(client, settings, org, day=DAY2)
    c = await visit(client, settings, org, day=DAY3)
    # 6 minutes late, 53 of 60 minutes (below 90 %), checked out 0.6 km away.
    done = await served(client, staff, a, "10:06", "10:59", where_out=north_of(HOME, 0.6))
    assert done["exceptions"] == ["location_mismatch", "late_check_in", "short_visit"]
    await check_in(client, staff, b, "10:00", day=DAY2)
    at_time(DAY2, "11:59")
    assert await run_jobs(db, settings) == 0
    at_time(DAY2, "12:00")
    assert await run_jobs(db, settings) == 1  # missing_check_out one hour after the end
    at_time(DAY3, "10:09")
    assert await run_jobs(db, settings) == 0
    at_time(DAY3, "10:10")
    assert await run_jobs(db, settings) == 1  # missed_check_in ten minutes after the start
    assert [e.object_id for e in await outbox(db, ".missed_check_in")] == [c["id"]]
