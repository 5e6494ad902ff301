"""The outbox: every event is a row written in the transaction of the change it
reports, so a change that rolls back leaves no event and one that commits always
has its event (the worker, `services.notifications`, delivers it later).

A domain declares the events of one kind of object once:

    APPOINTMENT_EVENTS = outbox.Events(
        "marriage.appointment", object_type="marriage_appointment",
        data=lambda a: {...}, subject=lambda a: a.owner_subject,
        org=lambda a: a.office_id)

and hangs them on its state machine, one line per machine:

    LIFE.emits(APPOINTMENT_EVENTS, {"cancel": "cancelled"})

(`services.transitions.Machine.emits`: after the conditional UPDATE, in the same
transaction, the action writes `marriage.appointment.cancelled`). A create helper
or a bulk change calls `await APPOINTMENT_EVENTS.emit(session, "booked", obj)`;
a hand-written hot path puts `APPOINTMENT_EVENTS.row(...)` into its own statement
(`COLUMNS`, like `services.audit`). No domain builds an outbox row itself.

Scheduled events (reminders) pass `once=True`: their `dedup_key` is the event type
and the object (and `key`), unique in the table, so the same reminder is written
once however many times or workers look.

Retention: `purge` (the maintenance sweep) deletes the events older than
`HUIMIN_OUTBOX_RETENTION_DAYS` (90) that have no pending delivery, with their
deliveries, in batches. No scheduled event can be written again for its object
by then: every schedule query looks only at objects whose date is days away
(`scheduled_once`).

Privacy (API.md): `data` carries the citizen's account `subject` and masked
numbers only; `redact` replaces anything that still looks like a full identity
number, phone or bank account (typed into a free-text reason, say).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.ids import first_id_at, new_id
from core.principal import Principal
from core.writes import insert_ignore
from schemas.notifications import DeliveryStatus, OutboxEvent, WebhookDelivery

EVENT_ID_PREFIX = "evt"

# Columns of `outbox_event` in `row()`'s order, for statements that write it with
# other rows (the marriage booking's one round trip).
COLUMNS = "id, type, object_type, object_id, org_id, division_code, subject, data, created_at"
_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def as_json(rows: Iterable[tuple | None]) -> str | None:
    """Events (`Events.row()`) as `record_writes` (services/records.sql) takes them:
    a JSON array of objects; None when there are none (the outbox is off, or the
    write emits nothing)."""
    kept = [dict(zip(_NAMES, r, strict=True)) for r in rows if r is not None]
    if not kept:
        return None
    for e in kept:
        e["created_at"] = e["created_at"].isoformat()
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


_enabled = True


def configure(*, enabled: bool) -> None:
    """Settings' `outbox_enabled` (only the benchmark turns it off)."""
    global _enabled  # noqa: PLW0603 - one process-wide switch, set at start-up
    _enabled = enabled


def enabled() -> bool:
    return _enabled


# A full identity number (18 characters), a mainland mobile number, a bank account:
# unmasked digits that no event may carry.
# (Bounded by anything but letters, digits and `*`, so ids' hex and masked forms pass.)
_FULL_NUMBER = re.compile(
    r"(?<![0-9A-Za-z*])([0-9]{17}[0-9Xx]|1[3-9][0-9]{9}|[0-9]{12,19})(?![0-9A-Za-z*])")


REDACTED = "[redacted]"


def redact(data: Any) -> Any:
    """`data` with anything that looks like a full identity number, phone or bank
    account replaced by `[redacted]` (free text a person typed, a cancellation's
    reason, may hold one); masked forms and ids pass unchanged."""
    if isinstance(data, str):
        return _FULL_NUMBER.sub(REDACTED, data)
    if isinstance(data, Mapping):
        return {k: redact(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact(v) for v in data]
    return data


Hook = Callable[[AsyncSession, Principal | None, Any, str], Awaitable[None]]


@dataclass(frozen=True)
class Events:
    """The events of one kind of object: `{family}.{name}`."""

    family: str
    object_type: str
    data: Callable[[Any], dict[str, Any]]
    subject: Callable[[Any], str | None] = lambda _o: None
    org: Callable[[Any], str | None] = lambda _o: None
    division: Callable[[Any], str | None] = lambda _o: None

    def type_of(self, name: str) -> str:
        return f"{self.family}.{name}"

    def values(self, name: str, obj: Any, *, extra: Mapping[str, Any] | None = None,
               once: bool = False, key: str | None = None) -> dict[str, Any]:
        subject = self.subject(obj)
        data = {**self.data(obj), **(extra or {})}
        if subject is not None:
            data.setdefault("subject", subject)
        data = redact(data)
        event_type = self.type_of(name)
        return {
            "id": new_id(EVENT_ID_PREFIX), "type": event_type, "object_type": self.object_type,
            "object_id": obj.id, "org_id": self.org(obj), "division_code": self.division(obj),
            "subject": subject, "data": data, "created_at": clock.now(),
            "dedup_key": (f"{event_type}:{obj.id}" + (f":{key}" if key else "")
                          if once else None),
        }

    async def emit(self, session: AsyncSession, name: str, obj: Any, *,
                   extra: Mapping[str, Any] | None = None, once: bool = False,
                   key: str | None = None) -> bool:
        """Write the event `{family}.{name}` about `obj` in the caller's transaction.
        With `once`, a second event of that type for that object (and `key`) is not
        written; returns whether this call wrote one."""
        if not _enabled:
            return False
        values = self.values(name, obj, extra=extra, once=once, key=key)
        if once:
            result = await session.execute(
                insert_ignore(session, OutboxEvent, ["dedup_key"]).values(**values))
            return result.rowcount == 1
        await session.execute(insert(OutboxEvent).values(**values))
        return True

    def row(self, name: str, obj: Any, *, at: Any,
            extra: Mapping[str, Any] | None = None) -> tuple:
        """The values of one event in `COLUMNS` order, for a statement that writes
        it with other rows (`as_json`)."""
        v = self.values(name, obj, extra=extra)
        return (v["id"], v["type"], v["object_type"], v["object_id"], v["org_id"],
                v["division_code"], v["subject"], v["data"], at)

    def on(self, actions: Mapping[str, str],
           extra: Callable[[Any, Principal | None, str], Mapping[str, Any]] | None = None,
           once: Collection[str] = ()) -> Hook:
        """A state machine's `after` hook: action -> event name (`{"cancel":
        "cancelled"}`); actions not named emit nothing. Names in `once` are written
        at most once per object (the worker's schedule may write them too)."""
        async def hook(session: AsyncSession, principal: Principal | None, obj: Any,
                       action: str) -> None:
            name = actions.get(action)
            if name is not None:
                await self.emit(session, name, obj, once=name in once,
                                extra=extra(obj, principal, action) if extra else None)
        return hook


def scheduled_once(event_type: str, object_id: Any) -> Any:
    """The SQL condition "no `event_type` event was written for this object yet"
    (by its `dedup_key`), for the queries that find scheduled events due."""
    return ~exists().where(OutboxEvent.dedup_key == literal(f"{event_type}:") + object_id)


PURGE_BATCH = 1000
PURGE_MAX_BATCHES = 50  # per sweep: at most 50,000 events, each batch a short write


async def purge(session: AsyncSession, retention_days: int) -> int:
    """Delete the events created more than `retention_days` ago with no pending
    delivery, and their deliveries; how many events. Oldest first, `PURGE_BATCH` at
    a time, each batch committed (short writes, not one for the whole backlog)."""
    if retention_days <= 0:
        return 0
    cutoff = clock.now() - dt.timedelta(days=retention_days)
    pending = exists().where(WebhookDelivery.event_id == OutboxEvent.id,
                             WebhookDelivery.status == DeliveryStatus.pending)
    purged = 0
    for _ in range(PURGE_MAX_BATCHES):
        ids = list((await session.execute(
            select(OutboxEvent.id).where(OutboxEvent.id < first_id_at(EVENT_ID_PREFIX, cutoff),
                                         OutboxEvent.created_at < cutoff, ~pending)
            .order_by(OutboxEvent.id).limit(PURGE_BATCH))).scalars())
        if not ids:
            break
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
        await session.commit()
        purged += len(ids)
        if len(ids) < PURGE_BATCH:
            break
    return purged
