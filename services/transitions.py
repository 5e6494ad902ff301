"""Actions as a state machine: one helper behind every action endpoint.

A domain declares its actions once:

    APPOINTMENT = Machine(resource, {
        "check_in": Transition(frm={"booked"}, to="checked_in", stamp="checked_in_at"),
        ...
    })

and an action is `await APPOINTMENT.apply(session, principal, id, "check_in",
guard=...)`: the caller-visible object is loaded through `services.scopes` (a
foreign one is 404), its status must be one the action leaves from (else 409
`invalid_state` naming the status and the action), the guard checks the domain's
own rule, and the status changes by one conditional UPDATE
(`WHERE id = :id AND status IN (:from)`), so of two concurrent actions exactly
one wins and the other is told the state it lost to. The change is audited as
`{audit_type}.{action}` in the same transaction. `after` hooks run in that same
transaction too; `emits` hangs the outbox's events there (`services.outbox`), so
an action that rolls back leaves no event.

Objects whose status is computed (an offer past its expiry reads `expired`; a
divorce case's status follows the clock) give the machine `status_of` and, where
the stored column is not the whole truth, extra `where` conditions.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.errors import InvalidState
from core.principal import Principal
from services import audit, outbox, scopes

Guard = Callable[[Any], Awaitable[None] | None]
Hook = Callable[[AsyncSession, Principal | None, Any, str], Awaitable[None]]


@dataclass(frozen=True)
class Transition:
    """`frm` -> `to`; `stamp` names a datetime column set to now."""

    frm: frozenset[str] | set[str] | tuple[str, ...]
    to: str | None
    stamp: str | None = None

    def allowed(self) -> frozenset[str]:
        return frozenset(self.frm)


@dataclass
class Machine:
    resource: scopes.Resource
    transitions: Mapping[str, Transition]
    status_column: str | None = "status"
    status_of: Callable[[Any], str] | None = None
    after: list[Hook] = field(default_factory=list)
    touched: str | None = None  # a column set to now on every move (`updated_at`)

    def emits(self, events: outbox.Events, actions: Mapping[str, str], *,
              extra: Callable[[Any, Principal | None, str], Mapping[str, Any]] | None = None,
              once: Iterable[str] = ()) -> None:
        """Write an outbox event when an action moves an object, in the action's
        transaction (after its UPDATE and audit row): `{"cancel": "cancelled"}` makes
        `cancel` emit `{events.family}.cancelled`. One line per machine."""
        self.after.append(events.on(actions, extra=extra, once=frozenset(once)))

    def current(self, obj: Any) -> str:
        if self.status_of is not None:
            return self.status_of(obj)
        assert self.status_column is not None, "a machine without a status column needs status_of"
        return str(getattr(obj, self.status_column))

    def check(self, obj: Any, action: str) -> Transition:
        """The action's transition, or 409 `invalid_state` from where `obj` is."""
        t = self.transitions[action]
        status = self.current(obj)
        if status not in t.allowed():
            raise InvalidState(status=status, action=action)
        return t

    async def apply(self, session: AsyncSession, principal: Principal, object_id: str,
                    action: str, *, guard: Guard | None = None,
                    values: Mapping[str, Any] | None = None,
                    where: Iterable[Any] = ()) -> Any:
        """Load the caller-visible object, then `move` it. Returns it as it now is."""
        obj = await scopes.load(session, principal, self.resource, object_id,
                                audit_read=False)
        return await self.move(session, principal, obj, action, guard=guard, values=values,
                               where=where)

    async def move(self, session: AsyncSession, principal: Principal | None, obj: Any,
                   action: str, *, guard: Guard | None = None,
                   values: Mapping[str, Any] | None = None, where: Iterable[Any] = (),
                   audit_outcome: str = "success") -> Any:
        """Move an object the caller already loaded (and may see)."""
        t = self.check(obj, action)
        if guard is not None:
            result = guard(obj)
            if inspect.isawaitable(result):
                await result
        model = self.resource.model
        changes: dict[str, Any] = dict(values or {})
        conditions = [self.resource.id_col == obj.id, *where]
        if self.status_column is not None:
            if t.to is not None:
                changes[self.status_column] = t.to
            # The status as read (and checked against the action's from-statuses):
            # the row moves only if nobody moved it since.
            conditions.append(getattr(model, self.status_column)
                              == getattr(obj, self.status_column))
        now = clock.now()
        if t.stamp is not None:
            changes.setdefault(t.stamp, now)
        if self.touched is not None:
            changes.setdefault(self.touched, now)
        result = await session.execute(
            update(model)
            .where(*conditions)
            .values(**changes)
            .execution_options(synchronize_session=False))
        fresh = await self.reload(session, obj)
        if result.rowcount != 1:
            # Someone else moved it first (or an extra condition no longer holds).
            raise InvalidState(status=self.current(fresh), action=action)
        org_id = getattr(fresh, self.resource.org_attr) if self.resource.org_attr else None
        await audit.record(session, principal, f"{self.resource.audit_type}.{action}",
                           self.resource.audit_type, fresh.id, outcome=audit_outcome,
                           org_id=org_id)
        for hook in self.after:
            await hook(session, principal, fresh, action)
        return fresh

    async def reload(self, session: AsyncSession, obj: Any) -> Any:
        return (await session.execute(
            select(self.resource.model).where(self.resource.id_col == obj.id)
            .execution_options(populate_existing=True))).scalar_one()
