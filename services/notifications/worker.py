"""`huimin worker`: deliver the outbox with Standard Webhooks signatures.

One pass (`run_once`):
1. **fan-out**: events not yet dispatched become one `pending` delivery per
   subscription that wants them (insert-if-absent on (subscription, event), then the
   event is marked dispatched, in one transaction: a worker killed half way leaves
   the event undispatched and the next pass finishes it, with no duplicate);
2. **claim**: due deliveries are taken in one short transaction (`FOR UPDATE SKIP
   LOCKED`, so several workers take different rows). Taking one counts an attempt and moves
   its `next_attempt_at` to the end of a lease longer than the HTTP timeout: a
   worker that dies mid-delivery loses nothing (the delivery falls due again when
   the lease ends) and no two workers send one delivery at the same moment;
3. **send**, outside any transaction: the host is resolved and checked again
   (`urls.check`), the body signed (`standardwebhooks`), POSTed with a timeout;
4. **finish**, the batch's outcomes in one transaction: a 2xx is `delivered`;
   anything else is due again after exponential backoff with jitter, until
   `webhook_give_up_hours` after the round's first attempt, then `failed` (retried
   through the API). Each update is conditional on the attempt it finishes, so a
   late answer never overwrites a newer state.
Every attempt of an event carries the event's id as `webhook-id`.

And every `worker_schedule_seconds`, the scheduled events (reminders, offers about
to expire, divorce dates, missed check-ins, appeals past their `decide_by`) are written
from stored dates, each once,
and home-care visits never checked out are completed (each once: a conditional
UPDATE on the visit's status). Each domain's job runs on one node at a time (its
advisory lock, `core.locks.job`, taken without waiting; a node that does not get
it skips that run).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks.webhooks import Webhook

from core import locks
from core.clock import CHINA_TZ, clock, utc
from core.db import Database
from core.errors import WebhookUrlNotAllowed
from core.ids import new_id
from core.logging import get_logger
from core.settings import Settings
from core.writes import insert_ignore
from schemas.notifications import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from services import appeals
from services.beds import events as bed_events
from services.home_care import corrections as home_care_corrections
from services.home_care import events as home_care_events
from services.marriage import events as marriage_events
from services.notifications import subscriptions, urls
from services.notifications.metrics import WorkerMetrics

log = get_logger("huimin.worker")

Scheduled = Callable[[AsyncSession, Settings, datetime], Awaitable[int]]
# Each domain's scheduled events (a new one is one more line).
SCHEDULED: dict[str, Scheduled] = {
    "marriage": marriage_events.scheduled,
    "home_care": home_care_events.scheduled,
    # visits never checked out completed, missed check-ins told (visit verification)
    "home_care_visits": home_care_corrections.scheduled,
    "beds": bed_events.scheduled,
    "appeals": appeals.scheduled,  # appeal.overdue, once per appeal
}


def backoff(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from
    the base up to the maximum, with jitter over the upper half."""
    rng = rng or random
    delay = min(settings.webhook_backoff_max_seconds,
                settings.webhook_backoff_base_seconds * 2 ** max(0, attempts - 1))
    return rng.uniform(delay / 2, delay)


def body_of(event: OutboxEvent) -> str:
    return json.dumps({"id": event.id, "type": event.type,
                       "timestamp": utc(event.created_at).astimezone(CHINA_TZ).isoformat(),
                       "data": event.data}, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Claimed:
    delivery_id: str
    attempt: int
    first_attempt_at: datetime
    event: OutboxEvent
    url: str
    secret: str


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Worker:
    def __init__(self, db: Database, settings: Settings, *,
                 client: httpx.AsyncClient | None = None,
                 metrics: WorkerMetrics | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics or WorkerMetrics()
        self._client = client
        self._own_client = client is None
        self._last_schedule = 0.0
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Worker:
        if self._client is None:
            self._client = urls.client(self.settings)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()

    def stop(self) -> None:
        self._stop.set()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        log.info("worker_started")
        while not self._stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # noqa: BLE001 - logged; the next pass tries again
                log.exception("worker_pass_failed")
                busy = 0
            if not busy:
                try:
                    await asyncio.wait_for(self._stop.wait(),
                                           timeout=self.settings.worker_poll_seconds)
                except TimeoutError:
                    pass
        log.info("worker_stopped")

    async def run_once(self) -> int:
        """One pass; how many deliveries were attempted (0: nothing was due)."""
        if time.monotonic() - self._last_schedule >= self.settings.worker_schedule_seconds:
            await self.schedule()
            await self.refresh_counts()
            self._last_schedule = time.monotonic()
        await self.fan_out()
        claimed = await self.claim()
        if claimed:
            outcomes = await asyncio.gather(*(self.send(c) for c in claimed))
            await self.finish(list(zip(claimed, outcomes, strict=True)))
        return len(claimed)

    async def drain(self, *, passes: int = 20) -> None:
        """Run passes until nothing is due (tests, benchmarks)."""
        for _ in range(passes):
            if not await self.run_once():
                return

    # --- scheduled events ---------------------------------------------------------------

    async def schedule(self) -> int:
        written = 0
        now = clock.now()
        for name, job in SCHEDULED.items():
            # One node at a time (`core.locks.job`): skipped while another runs it.
            async with locks.job(self.db, f"scheduled_{name}") as mine, \
                    self.db.session() as session:
                if not mine:
                    continue
                try:
                    n = await job(session, self.settings, now)
                    await session.commit()
                except Exception:  # noqa: BLE001 - one domain's failure is logged, not fatal
                    await session.rollback()
                    log.exception("scheduled_events_failed", domain=name)
                    continue
            if n:
                log.info("scheduled_events", domain=name, written=n)
                self.metrics.scheduled.inc(n)
            written += n
        return written

    async def refresh_counts(self) -> None:
        async with self.db.session() as session:
            self.metrics.set_counts(await subscriptions.delivery_counts(session))

    # --- fan-out -----------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Deliveries for the events not yet dispatched; how many events."""
        async with self.db.session() as session:
            stmt = (select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
                    .order_by(OutboxEvent.id).limit(self.settings.worker_batch_size * 4)
                    .with_for_update(skip_locked=True))
            evts = (await session.execute(stmt)).scalars().all()
            if not evts:
                await session.rollback()
                return 0
            subs = (await session.execute(select(WebhookSubscription))).scalars().all()
            now = clock.now()
            rows = [{"id": new_id("whd"), "subscription_id": s.id, "event_id": e.id,
                     "event_type": e.type, "status": DeliveryStatus.pending.value,
                     "attempts": 0, "next_attempt_at": now, "created_at": now,
                     "updated_at": now}
                    for e in evts for s in subs
                    if subscriptions.wants(s, e.type, e.org_id, e.division_code)]
            if rows:
                await session.execute(
                    insert_ignore(session, WebhookDelivery, ["subscription_id", "event_id"]),
                    rows)
            await session.execute(update(OutboxEvent)
                                  .where(OutboxEvent.id.in_([e.id for e in evts]))
                                  .values(dispatched_at=now))
            await session.commit()
        return len(evts)

    # --- claim, send, finish -----------------------------------------------------------

    async def claim(self) -> list[Claimed]:
        now = clock.now()
        lease_end = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        async with self.db.session() as session:
            stmt = (select(WebhookDelivery)
                    .where(WebhookDelivery.status == DeliveryStatus.pending.value,
                           WebhookDelivery.next_attempt_at <= now)
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(self.settings.worker_batch_size)
                    .with_for_update(skip_locked=True))
            due = (await session.execute(stmt)).scalars().all()
            if not due:
                await session.rollback()
                return []
            # The rows are ours for this transaction (locked): one statement takes
            # them all.
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([d.id for d in due]))
                .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=lease_end,
                        first_attempt_at=func.coalesce(WebhookDelivery.first_attempt_at, now),
                        updated_at=now)
                .execution_options(synchronize_session=False))
            claimed_ids = [(d, utc(d.first_attempt_at) if d.first_attempt_at else now)
                           for d in due]
            evts = {e.id: e for e in (await session.execute(
                select(OutboxEvent).where(OutboxEvent.id.in_(
                    [d.event_id for d, _ in claimed_ids])))).scalars()}
            subs = {s.id: s for s in (await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.id.in_(
                    [d.subscription_id for d, _ in claimed_ids])))).scalars()}
            await session.commit()
        return [Claimed(d.id, d.attempts + 1, first, evts[d.event_id],
                        subs[d.subscription_id].url,
                        subscriptions.secret_of(subs[d.subscription_id]))
                for d, first in claimed_ids]

    async def send(self, c: Claimed) -> Outcome:
        assert self._client is not None, "use the worker as `async with Worker(...)`"
        started = time.perf_counter()
        body = body_of(c.event)
        at = clock.now()
        headers = {
            "content-type": "application/json",
            "user-agent": "huimin-webhooks/1",
            "webhook-id": c.event.id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(c.secret).sign(c.event.id, at, body),
        }
        try:
            # The URL's form here; its address by the connection (`urls.GuardedBackend`).
            urls.check_form(c.url, self.settings)
            response = await self._client.post(c.url, content=body.encode(), headers=headers)
        except WebhookUrlNotAllowed as exc:
            return Outcome(None, f"url_not_allowed:{exc.params.get('reason')}",
                           time.perf_counter() - started)
        except httpx.TimeoutException:
            return Outcome(None, "timeout", time.perf_counter() - started)
        except httpx.HTTPError as exc:
            return Outcome(None, f"connection:{type(exc).__name__}"[:200],
                           time.perf_counter() - started)
        return Outcome(response.status_code, None, time.perf_counter() - started)

    async def finish(self, done: list[tuple[Claimed, Outcome]]) -> None:
        """Record a batch's outcomes in one transaction (each conditional on the
        attempt it finishes)."""
        now = clock.now()
        results = []
        async with self.db.session() as session:
            for c, outcome in done:
                values: dict[str, Any] = {"last_status_code": outcome.status_code,
                                          "last_error": outcome.error, "updated_at": now}
                if outcome.ok:
                    values.update(status=DeliveryStatus.delivered.value, delivered_at=now)
                    result = "delivered"
                elif now - c.first_attempt_at >= timedelta(
                        hours=self.settings.webhook_give_up_hours):
                    values.update(status=DeliveryStatus.failed.value)
                    result = "failed"
                else:
                    values.update(next_attempt_at=now + timedelta(
                        seconds=backoff(c.attempt, self.settings)))
                    result = "retry"
                row = await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == c.delivery_id,
                           WebhookDelivery.attempts == c.attempt,
                           WebhookDelivery.status == DeliveryStatus.pending.value)
                    .values(**values).execution_options(synchronize_session=False))
                results.append((c, outcome, result, row.rowcount != 1))
            await session.commit()
        for c, outcome, result, stale in results:
            self.metrics.attempts.labels(outcome=result).inc()
            self.metrics.attempt_seconds.observe(outcome.seconds)
            if outcome.ok:
                self.metrics.latency.observe(max(0.0, (now - utc(c.event.created_at))
                                                 .total_seconds()))
            log.info("webhook_attempt", event_id=c.event.id, event_type=c.event.type,
                     delivery_id=c.delivery_id, attempt=c.attempt, outcome=result,
                     status_code=outcome.status_code, error=outcome.error,
                     duration_ms=round(outcome.seconds * 1000, 1), stale=stale)
