"""Helpers shared by the lottery tests (this module holds no tests).

The clock is set in China time; 2026-12-01 is a Tuesday and 2026-12-20 a Sunday,
which the offices here open as a special day (a peak Sunday) and release by lottery.
"""

from __future__ import annotations

import hashlib
import hmac

from tests.api.test_marriage_support import citizen, couple, office_with_schedule
from tests.factories import idem

LOTTERY_DAY = "2026-12-20"
OPENS = "2026-12-05T09:00:00+08:00"
CLOSES = "2026-12-10T18:00:00+08:00"


async def lottery_office(client, admin_headers, *, day: str = LOTTERY_DAY, morning: int = 3,
                         afternoon: int = 2):
    """An office with the weekday schedule and `day` opened with two sessions."""
    office, staff = await office_with_schedule(client, admin_headers)
    r = await client.post(f"/v1/marriage/offices/{office['id']}/special-days", headers=staff,
                          json={"date": day, "sessions": [
                              {"start": "09:00", "end": "12:00", "capacity": morning},
                              {"start": "13:30", "end": "17:00", "capacity": afternoon}]})
    assert r.status_code == 201, r.text
    return office, staff


async def schedule_lottery(client, office, staff, *, day: str = LOTTERY_DAY,
                           opens: str = OPENS, closes: str = CLOSES):
    return await client.post(f"/v1/marriage/offices/{office['id']}/lotteries", headers=staff,
                             json={"date": day, "entries_open_at": opens,
                                   "entries_close_at": closes})


async def enter(client, settings, lottery_id: str, parties=None, prefs=("09:00", "13:30"), *,
                kind: str = "marriage", headers=None, key=None):
    body = {"kind": kind, "parties": parties or couple(), "session_preferences": list(prefs)}
    return await client.post(f"/v1/marriage/lotteries/{lottery_id}/entries", json=body,
                             headers={**(headers or citizen(settings)), **(key or idem())})


async def public_entries(client, lottery_id: str) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"/v1/marriage/lotteries/{lottery_id}/entries", params=params)
        assert r.status_code == 200, r.text
        out.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


def recompute(seed_hex: str, entries: list[dict], seats: dict[str, int]) -> dict[str, str | None]:
    """API.md's draw, written out here independently of the service: entries by hex
    HMAC-SHA256(seed bytes, entry id), ascending; each its first preferred session
    with a seat left."""
    seed = bytes.fromhex(seed_hex)
    order = sorted(entries, key=lambda e: hmac.new(seed, e["id"].encode(),
                                                   hashlib.sha256).hexdigest())
    left = dict(seats)
    out: dict[str, str | None] = {}
    for e in order:
        out[e["id"]] = None
        if e.get("excluded_reason"):
            continue
        for start in e["session_preferences"]:
            if left.get(start, 0) > 0:
                left[start] -= 1
                out[e["id"]] = start
                break
    return out
