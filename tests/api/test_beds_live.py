"""A real `huimin serve`: after a restart past an offer's expiry (the service clock
moved 73 hours ahead with HUIMIN_CLOCK_OFFSET_SECONDS), the bed reaches the next
applicant within seconds, not after the sweep's longest sleep (an hour here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import httpx

from core.settings import Settings
from tests.api.test_marriage_support import citizen
from tests.factories import born_years_ago, make_id_number
from tests.live import huimin_serve


def _admin_key(workdir: Path, database_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    env.update({"DATABASE_URL": database_url, "HUIMIN_ENV": "test"})
    out = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "api.cli", "apikey", "create", "--role", "admin",
         "--name", "live-admin"], cwd=workdir, env=env, capture_output=True, text=True,
        check=True, timeout=60)
    return out.stdout.strip().splitlines()[-1]


def _apply(http: httpx.Client, inst_id: str, who: dict, age: int) -> str:
    idn = make_id_number(born_years_ago(age, date.today(), 10), sex="female")
    r = http.post("/v1/bed-applications", headers={**who, "Idempotency-Key": uuid.uuid4().hex},
                  json={"institution_id": inst_id, "category": "full_care",
                        "elder": {"name": "王秀兰", "id_number": idn, "phone": "13800138000"}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_after_a_restart_past_an_expiry_the_bed_moves_within_seconds(tmp_path, fresh_db_url):
    settings = Settings(env="test", _env_file=None)
    first_who, second_who = citizen(settings), citizen(settings)
    with huimin_serve(tmp_path, fresh_db_url) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        admin = {"X-API-Key": _admin_key(tmp_path, fresh_db_url)}
        r = http.post("/v1/admin/organisations", headers=admin, json={
            "kind": "care_institution", "name": "重启养老院", "division_code": "510107"})
        assert r.status_code == 201, r.text
        inst = r.json()["id"]
        r = http.post(f"/v1/admin/organisations/{inst}/api-keys", headers=admin,
                      json={"role": "institution", "name": "院长"})
        staff = {"X-API-Key": r.json()["key"]}
        r = http.post(f"/v1/institutions/{inst}/beds", headers=staff,
                      json={"code": "1-1", "category": "full_care", "monthly_fee_fen": 300000})
        assert r.status_code == 201, r.text
        first, second = _apply(http, inst, first_who, 85), _apply(http, inst, second_who, 70)
        for app_id in (first, second):
            r = http.post(f"/v1/bed-applications/{app_id}/assess", headers=staff,
                          json={"ability_level": 2, "verified_priority_groups": []})
            assert r.status_code == 200, r.text
        assert http.get(f"/v1/bed-applications/{first}", headers=first_who
                        ).json()["status"] == "offered"
        assert http.get(f"/v1/bed-applications/{second}", headers=second_who
                        ).json()["status"] == "waitlisted"

    # 73 hours later (the offer was held 72), the server starts again.
    env = {"HUIMIN_CLOCK_OFFSET_SECONDS": str(73 * 3600),
           "HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "3600"}
    with huimin_serve(tmp_path, fresh_db_url, env=env) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        started = time.monotonic()
        status = None
        while time.monotonic() - started < 10:
            status = http.get(f"/v1/bed-applications/{second}", headers=second_who
                              ).json()["status"]
            if status == "offered":
                break
            time.sleep(0.2)
        assert status == "offered", status
        assert http.get(f"/v1/bed-applications/{first}", headers=first_who
                        ).json()["status"] == "expired"
