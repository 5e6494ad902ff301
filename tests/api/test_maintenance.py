"""The periodic tidy-up passes expired offers' beds on, in the server process
itself and through `huimin sweep`; it also forgets expired idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from core.clock import clock
from schemas.idempotency import IdempotencyRecord
from services import maintenance
from tests.api.test_beds_support import (
    add_bed,
    check_pool_invariants,
    institution,
    read_app,
    renewed,
    waiting_applicant,
)


async def _two_applicants_one_bed(client, admin_headers, settings):
    inst, staff = await institution(client, admin_headers)
    await add_bed(client, inst, staff, "M-1")
    first, citizen = await waiting_applicant(client, settings, inst, staff, age=85)
    second, citizen2 = await waiting_applicant(client, settings, inst, staff, age=70)
    assert (await read_app(client, citizen, first["id"]))["status"] == "offered"
    assert (await read_app(client, citizen2, second["id"]))["status"] == "waitlisted"
    return inst, (first, citizen), (second, citizen2)


async def test_run_once_passes_the_bed_on_and_purges_old_keys(client, admin_headers, settings,
                                                              db):
    inst, (first, citizen), (second, citizen2) = await _two_applicants_one_bed(
        client, admin_headers, settings)
    clock.advance(timedelta(hours=settings.beds_offer_hold_hours + 1))
    done = await maintenance.run_once(db, settings)
    assert done["bed_pools_settled"] == 1
    assert done["idempotency_keys_purged"] >= 2  # the two applications' keys are past 24 h
    citizen, citizen2 = renewed(settings, citizen), renewed(settings, citizen2)
    assert (await read_app(client, citizen2, second["id"]))["status"] == "offered"
    assert (await read_app(client, citizen, first["id"]))["status"] == "expired"
    await check_pool_invariants(db, inst["id"])
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(IdempotencyRecord))
                ).scalar_one() == 0


async def test_the_server_runs_maintenance_on_its_own(app, client, admin_headers, settings, db):
    inst, (first, citizen), (second, citizen2) = await _two_applicants_one_bed(
        client, admin_headers, settings)
    clock.advance(timedelta(hours=settings.beds_offer_hold_hours + 1))
    app.state.settings.maintenance_interval_seconds = 0.05
    citizen2 = renewed(settings, citizen2)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            await asyncio.sleep(0.05)
            if (await read_app(client, citizen2, second["id"]))["status"] == "offered":
                break
    assert (await read_app(client, citizen2, second["id"]))["status"] == "offered"
