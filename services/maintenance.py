"""Periodic work: draw the marriage lotteries whose entries have closed; tidy up:
pass on beds whose offers expired, forget expired idempotency keys, delete the
events (and their deliveries) past the outbox's retention. The tidy-up
is never what correctness depends on (expiry is computed from stored times when
read); it only makes sure an expired offer's bed reaches the
next applicant without waiting for the next change to that waiting list. The
lottery draws are the one job with a deadline (API.md: within a minute of
`entries_close_at`): every server process runs this loop (every
`HUIMIN_MAINTENANCE_INTERVAL_SECONDS`, 60), and `lottery.draw` draws each lottery
once however many run it.

`loop` (each server process runs one) sweeps at start-up, then sleeps until the
next known offer expiry (read from the database, or noted by an offer made in
this process meanwhile), at most `maintenance_interval_seconds`: so after a
restart past an expiry, or at an expiry, the bed moves at once.

Each job runs in its own transaction, so one failing job does not hold back
the others. Safe to run from several workers at once: the jobs lock what they
change. And each job runs on one node at a time (`core.locks.job`, an advisory
lock taken without waiting): a node that does not get a job's lock skips that run,
another node is doing it now.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from core import locks
from core.clock import clock
from core.db import Database, is_retryable
from core.logging import get_logger
from core.settings import Settings
from services import alarm, idempotency, outbox
from services.beds import pool
from services.marriage import lottery

log = get_logger("huimin.maintenance")


async def draw_lotteries(db: Database) -> int:
    """Draw every due lottery, each in its own transaction: how many this run drew
    (0 without looking while another node is drawing)."""
    async with locks.job(db, "lottery_draws") as mine:
        return await _draw_due(db) if mine else 0


async def _draw_due(db: Database) -> int:
    async with db.session() as session:
        due = await lottery.due(session)
    drawn = 0
    for lottery_id in due:
        async with db.session() as session:
            try:
                result = await lottery.draw(session, lottery_id)
                await session.commit()
            except Exception as exc:  # noqa: BLE001 - left scheduled: the next run draws it
                await session.rollback()
                log.warning("lottery_draw_failed", lottery_id=lottery_id,
                            error_type=type(exc).__name__, retryable=is_retryable(exc))
                continue
        if result is not None:
            drawn += 1
            log.info("lottery_drawn", lottery_id=lottery_id, entries=result.entries,
                     seats=result.seats, winners=result.winners)
    return drawn


async def run_once(db: Database, settings: Settings) -> dict[str, int]:
    done: dict[str, int] = {"lotteries_drawn": await draw_lotteries(db)}
    jobs = {
        "bed_pools_settled": lambda s: pool.sweep(s, settings),
        "idempotency_keys_purged": idempotency.purge_expired,
        "outbox_events_purged": lambda s: outbox.purge(s, settings.outbox_retention_days),
    }
    for name, job in jobs.items():
        done[name] = 0
        async with locks.job(db, name) as mine, db.session() as session:
            if not mine:
                continue
            try:
                done[name] = await job(session)
                await session.commit()
            except Exception as exc:  # noqa: BLE001 - one job's failure is logged, not fatal
                await session.rollback()
                log.warning("maintenance_job_failed", job=name, error_type=type(exc).__name__,
                            retryable=is_retryable(exc))
    if any(done.values()):
        log.info("maintenance", **done)
    return done


# Woken a little after the moment, so that the offer has expired by then.
_AFTER_DUE = timedelta(milliseconds=50)


async def next_due(db: Database) -> datetime | None:
    async with db.session() as session:
        return await pool.next_offer_expiry(session)


async def loop(db: Database, settings: Settings) -> None:
    """Run `run_once` now, then at each next known expiry (bounded by
    `maintenance_interval_seconds`), until cancelled."""
    while True:
        due: datetime | None = None
        try:
            await run_once(db, settings)
            due = await next_due(db)
        except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
            log.exception("maintenance_loop_error")
        now = clock.now()
        wake_at = now + timedelta(seconds=settings.maintenance_interval_seconds)
        for at in (due, alarm.offers.pending(now)):
            if at is not None:
                wake_at = min(wake_at, at + _AFTER_DUE)
        await alarm.offers.sleep((wake_at - now).total_seconds(), wake_at)
        await asyncio.sleep(0)  # a cancellation lands here even when no time passed
