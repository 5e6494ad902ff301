"""`/stats` in a real browser: headless Chromium against a live `huimin serve`, under a
host name that alone resolves (tests/api/test_docs_offline.py), with figures in the
database. The page renders its SVG charts and Chinese headings with no script, asks
nothing of any other host, and its screenshot is a picture, not a blank page."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import struct
import subprocess
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ
from core.ids import new_id
from schemas.beds import Bed, BedApplication
from schemas.burial import BurialClaim, BurialPolicy
from schemas.capacity import CapacitySlot
from schemas.home_care import HomeCareBooking, HomeCareCaregiver
from schemas.marriage import MarriageAppointment, MarriageSchedule
from schemas.organisation import Organisation
from services.marriage import calendar
from tests.api.test_docs_offline import PAGE_HOST, _chromium, _open_in_chromium
from tests.api.test_stats import _blind, _insert
from tests.live import huimin_serve


class _Db:
    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)

    def session(self) -> AsyncSession:
        return AsyncSession(self.engine)


async def _seed(url: str) -> None:
    """A city's worth of figures for the current month and year (the server's clock)."""
    db = _Db(url)
    now = dt.datetime.now(CHINA_TZ)
    first = now.date().replace(day=1)
    orgs = []
    for i, (kind, name) in enumerate([
            ("care_institution", "武侯区社会福利院"),
            ("care_institution", "锦江区颐养院"),
            ("registration_office", "武侯区婚姻登记处"),
            ("registration_office", "锦江区婚姻登记处"),
            ("registration_office", "青羊区婚姻登记处"),
            ("home_care_provider", "安康居家服务中心")]):
        orgs.append({"id": new_id("org"), "kind": kind, "name": name,
                     "division_code": ("510107", "510104", "510105")[i % 3]})
    await _insert(db, Organisation, orgs)
    institutions = [o["id"] for o in orgs if o["kind"] == "care_institution"]
    beds, applications = [], []
    for n, inst in enumerate(institutions):
        for category, total, occupied in (("self_care", 60, 48), ("semi_care", 40, 36),
                                          ("full_care", 50, 47), ("dementia", 12, 3 + n)):
            beds += [{"id": new_id("bed"), "institution_id": inst, "code": new_id("b")[-12:],
                      "category": category, "monthly_fee_fen": 300000,
                      "status": "occupied" if i < occupied else
                      ("maintenance" if i == total - 1 else "available")}
                     for i in range(total)]
            if category != "dementia":
                for k in range(12):
                    admitted = now - dt.timedelta(days=10 + 20 * k)
                    applications.append({
                        "id": new_id("bap"), "institution_id": inst, "category": category,
                        "elder_id_blind": _blind(), "status": "admitted",
                        "applied_at": admitted - dt.timedelta(days=5 + 3 * k + 9 * n + total % 7),
                        "admitted_at": admitted})
    await _insert(db, Bed, beds)
    await _insert(db, BedApplication, applications)

    offices = [o["id"] for o in orgs if o["kind"] == "registration_office"]
    await _insert(db, MarriageSchedule, [{
        "office_id": office, "booking_opens_days_ahead": 30, "min_notice_hours": 1,
        "cancel_deadline_hours": 1,
        "sessions": [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": 12}
                     for d in range(1, 6)]} for office in offices])
    slots, appointments = [], []
    for n, office in enumerate(offices):
        for day in (first + dt.timedelta(days=k) for k in range(10)):
            if day.isoweekday() > 5:
                continue
            sid = calendar.slot_id(office, day, "09:00")
            booked = (10, 6, 2)[n]
            slots.append({"id": sid, "owner_org_id": office, "kind": calendar.SLOT_KIND,
                          "capacity": 12, "booked": booked})
            start = calendar.local_to_utc(day, "09:00")
            appointments += [{
                "id": new_id("apt"), "office_id": office, "slot_id": sid, "session_date": day,
                "starts_at": start, "ends_at": start + dt.timedelta(hours=3),
                "kind": "marriage", "owner_subject": "c", "check_in_code": "000000",
                "status": "no_show" if j == 0 and day.day % 2 else "completed"}
                for j in range(booked)]
    await _insert(db, CapacitySlot, slots)
    await _insert(db, MarriageAppointment, appointments)

    year_start = dt.datetime(now.year, 1, 1, 10, tzinfo=CHINA_TZ)
    claims = []
    for m, (method, count) in enumerate((("sea", 40), ("tree", 60), ("flower", 25),
                                         ("lawn", 12), ("wall", 3))):
        policy = new_id("bpo")
        await _insert(db, BurialPolicy, [{"id": policy, "division_code": "510000",
                                          "method": method, "amount_fen": 300000,
                                          "effective_from": dt.date(now.year, 1, 1),
                                          "claim_deadline_days": 90}])
        for k in range(count):
            filed = year_start + dt.timedelta(days=k % 28)
            status = "paid" if k % 5 else "rejected"
            claims.append({"id": new_id("bcl"), "status": status, "policy_id": policy,
                           "amount_fen": 300000, "division_code": "510107",
                           "burial_method": method, "deceased_id_blind": _blind(),
                           "created_at": filed, "submitted_at": filed, "documents": [],
                           "paid_at": filed + dt.timedelta(days=12 + k % 15 + 4 * m)
                           if status == "paid" else None})
    await _insert(db, BurialClaim, claims)

    provider = next(o["id"] for o in orgs if o["kind"] == "home_care_provider")
    visits = []
    for s, (service, count) in enumerate((("cleaning", 30), ("bathing", 14),
                                          ("medical_escort", 8), ("rehab_nursing", 3))):
        caregiver = new_id("cg")
        await _insert(db, HomeCareCaregiver, [{"id": caregiver, "provider_id": provider,
                                               "name": "护理员", "skills": [service],
                                               "weekly_hours": []}])
        for k in range(count):
            start = dt.datetime.combine(first, dt.time(8), tzinfo=CHINA_TZ) + dt.timedelta(
                hours=3 * k)
            late = k % (4 + s) == 0
            visits.append({
                "id": new_id("hcb"), "provider_id": provider, "caregiver_id": caregiver,
                "service_code": service, "status": "completed", "visit_date": start.date(),
                "starts_at": start, "ends_at": start + dt.timedelta(hours=2),
                "blocked_until": start + dt.timedelta(hours=2), "price_fen": 8000,
                "verification": "exception" if late else "verified",
                "exceptions": ["late_check_in"] if late else [],
                "subsidy_paid_fen": 0 if late else 5000})
    await _insert(db, HomeCareBooking, visits)
    await db.engine.dispose()


def _png_is_a_picture(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decoded rows): a blank page
    decodes to one colour, a page with charts and text to many."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_the_stats_page_renders_its_charts_in_a_browser_with_nothing_from_elsewhere(
        tmp_path, fresh_db_url):
    browser = _chromium()
    with huimin_serve(tmp_path, fresh_db_url) as base:
        asyncio.run(_seed(fresh_db_url))
        url = base + "/stats?division_code=510100"
        dom, requests = _open_in_chromium(browser, url, tmp_path)
        shot = tmp_path / "stats.png"
        port = urlsplit(base).port
        done = subprocess.run([  # noqa: S603 - the browser found above, fixed arguments
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'shot'}",
            f"--host-resolver-rules=MAP {PAGE_HOST} 127.0.0.1, MAP * ~NOTFOUND",
            "--window-size=1000,2000", f"--screenshot={shot}",
            url.replace(f"127.0.0.1:{port}", f"{PAGE_HOST}:{port}")],
            capture_output=True, timeout=120, check=False, cwd=tmp_path)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]

    assert dom.count("<svg") >= 6
    for heading in ("惠民公开数据", "养老机构床位", "婚姻登记预约", "节地生态安葬奖补",
                    "居家社区养老服务"):
        assert heading in dom, heading
    assert "武侯区婚姻登记处" in dom and "四川省成都市" in dom
    assert "<script" not in dom.lower()
    page_origin = f"{PAGE_HOST}:{urlsplit(base).port}"
    assert any(u.endswith("/stats?division_code=510100") for u in requests), requests
    elsewhere = [u for u in requests if urlsplit(u).netloc != page_origin]
    assert not elsewhere, f"/stats asked for something not on huimin: {elsewhere}"

    data = shot.read_bytes()
    width, height, colours = _png_is_a_picture(data)
    assert (width, height) == (1000, 2000)
    assert len(data) > 40_000 and colours > 100, (len(data), colours)
    if os.environ.get("HUIMIN_STATS_SCREENSHOT"):  # to refresh docs/stats-page.png
        Path(os.environ["HUIMIN_STATS_SCREENSHOT"]).write_bytes(data)
