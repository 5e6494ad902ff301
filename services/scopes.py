"""Who may see what: every caller-visible load and list goes through here.

A `Resource` declares, per role, one SQL condition that says which rows the
caller may see (built by the scope functions below). `load` and `select_visible`
put that condition into the query itself, so an object the caller may not see is
never loaded: it is simply not found (404, never 403). Staff reads of a person's
record are audited here, in the request's transaction, and nowhere else.

Scope functions (each returns a rule: principal -> SQL condition):
- `own(column)`: a citizen's own rows (`column` holds the account's subject);
- `own_or_party(owner, party)`: a citizen's own rows, or those in which the person
  the account is bound to (real-name identity) is a party;
- `of_org(column)`: rows of the staff member's own organisation;
- `of_caregiver(column)`: rows assigned to the caregiver a `caregiver` key is bound
  to (a home visit, to its own caregiver only: not to the provider's other ones);
- `within_division(column)`: rows whose division code lies within the staff
  member's bureau (prefix containment, DOMAIN.md);
- `org_within_division(column)`: rows of an organisation (`column` holds its id)
  whose division lies within the staff member's bureau (a provider's visits, for
  the bureau that pays their subsidy);
- `any_of(...)`: either of several rules (an office that received a divorce case,
  or holds its confirmation appointment);
- `own_party_or_delegated(owner, person, scope, through)`: a citizen's own rows,
  the rows naming the account's bound person (`person` holds a blind index: a bed
  application's elder, a burial claim's claimant), and the rows naming a principal
  of an active, unexpired delegation (代办) in `scope` whose delegate is the
  account's person. A row made through a delegation (`through`, its
  `delegation_id`, is set) is the principal's, not its maker's own: the delegate
  reaches it only while a delegation in scope is active, like any other of the
  principal's records (API.md: once revoked, 404 to the delegate, as to anyone).
  Which delegations count is one SQL function, `delegated_principals`
  (services/delegations.sql), asked inside the query. A load through a delegation
  remembers which one (`core.context.delegation_var`), so the audit rows of what
  the caller then does name it (services.audit.row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.context import delegation_var
from core.errors import NotFound
from core.principal import Principal
from schemas.organisation import Organisation
from services import audit, divisions

Rule = Callable[[Principal], ColumnElement[bool]]


def own(column: Any) -> Rule:
    def rule(p: Principal) -> ColumnElement[bool]:
        return column == p.subject
    return rule


def own_or_party(owner: Any, party: Callable[[str], ColumnElement[bool]]) -> Rule:
    """`party(blind_index)` is the condition "that person is a party to the row"
    (e.g. an EXISTS over the parties table)."""
    def rule(p: Principal) -> ColumnElement[bool]:
        if p.identity_blind is None:
            return owner == p.subject
        return or_(owner == p.subject, party(p.identity_blind))
    return rule


def of_org(column: Any) -> Rule:
    def rule(p: Principal) -> ColumnElement[bool]:
        if p.org_id is None:
            return false()
        return column == p.org_id
    return rule


def of_caregiver(column: Any) -> Rule:
    def rule(p: Principal) -> ColumnElement[bool]:
        if p.caregiver_id is None:
            return false()
        return column == p.caregiver_id
    return rule


def within_division(column: Any) -> Rule:
    def rule(p: Principal) -> ColumnElement[bool]:
        if not p.division_code:
            return false()
        return divisions.prefix_condition(column,
                                          divisions.jurisdiction_prefix(p.division_code))
    return rule


def org_within_division(column: Any) -> Rule:
    inside = within_division(Organisation.division_code)

    def rule(p: Principal) -> ColumnElement[bool]:
        if not p.division_code:
            return false()
        return column.in_(select(Organisation.id).where(inside(p)))
    return rule


def delegated_principals(delegate_blind: str, scope: str) -> Any:
    """`delegated_principals(...)` (services/delegations.sql) as a table: the
    principals (`principal_blind`) the person `delegate_blind` acts for in `scope`
    today, each with its `delegation_id`."""
    return func.delegated_principals(literal(delegate_blind), literal(scope),
                                     literal(clock.today())).table_valued(
        "principal_blind", "delegation_id").render_derived(name="delegated")


@dataclass(frozen=True, eq=False)  # columns compared with == make SQL, not a bool
class own_party_or_delegated:  # noqa: N801 - a scope function, named like the others
    """The rule of a record that names a person (`person`: a blind-index column):
    see the module's docstring. A rule (called with the caller) that also says which
    delegation gave access (`via`, `delegation_of`)."""

    owner: Any
    person: Any
    scope: str
    through: Any  # the row's `delegation_id`: set when it was made through a delegation

    def _own(self, p: Principal) -> ColumnElement[bool]:
        return and_(self.owner == p.subject, self.through.is_(None))

    def __call__(self, p: Principal) -> ColumnElement[bool]:
        if p.identity_blind is None:
            return self._own(p)
        principals = delegated_principals(p.identity_blind, self.scope)
        return or_(self._own(p), self.person == p.identity_blind,
                   self.person.in_(select(principals.c.principal_blind)))

    async def delegation_of(self, session: AsyncSession, p: Principal,
                            person_blind: str | None) -> str | None:
        """The active delegation in this scope through which `p` acts for the person
        `person_blind`; None when `p` is that person, or acts for nobody there."""
        if p.identity_blind is None or person_blind is None or person_blind == p.identity_blind:
            return None
        principals = delegated_principals(p.identity_blind, self.scope)
        return (await session.execute(
            select(principals.c.delegation_id)
            .where(principals.c.principal_blind == person_blind)
            .order_by(principals.c.delegation_id).limit(1))).scalar_one_or_none()

    async def via(self, session: AsyncSession, p: Principal, obj: Any) -> str | None:
        """The delegation that gave `p` access to `obj` (None: its own, or its person's)."""
        if getattr(obj, self.owner.key) == p.subject and getattr(obj, self.through.key) is None:
            return None
        return await self.delegation_of(session, p, getattr(obj, self.person.key))


def any_of(*rules: Rule) -> Rule:
    def rule(p: Principal) -> ColumnElement[bool]:
        return or_(*(r(p) for r in rules))
    return rule


@dataclass(frozen=True)
class Resource:
    """One kind of object as callers see it.

    `rules` maps a role to its visibility rule; a role not named sees nothing.
    `audit_type` names the object in the audit trail; when `personal` is true
    (the record holds a person's data), every staff read is audited as
    `{audit_type}.read` (one object) or `{audit_type}.list` (a list).
    """

    model: Any
    noun: str
    audit_type: str
    rules: Mapping[str, Rule]
    personal: bool = True
    org_attr: str | None = None
    id_column: Any = field(default=None)

    @property
    def id_col(self) -> Any:
        return self.id_column if self.id_column is not None else self.model.id

    def condition(self, principal: Principal) -> ColumnElement[bool]:
        rule = self.rules.get(principal.role)
        return rule(principal) if rule is not None else false()

    def not_found(self) -> NotFound:
        return NotFound(what=self.noun)


def select_visible(resource: Resource, principal: Principal, *columns: Any) -> Any:
    """`SELECT` of the resource (or of `columns`) limited to what the caller sees."""
    stmt = select(*columns) if columns else select(resource.model)
    return stmt.where(resource.condition(principal))


async def load(session: AsyncSession, principal: Principal, resource: Resource,
               object_id: str, *, for_update: bool = False, audit_read: bool = True) -> Any:
    """The object if the caller may see it, else `NotFound`. Always read fresh
    (a row changed earlier in the request is not served stale from the session)."""
    stmt = select_visible(resource, principal).where(resource.id_col == object_id)
    if for_update:
        stmt = stmt.with_for_update()
    obj = (await session.execute(stmt.execution_options(populate_existing=True))
           ).scalar_one_or_none()
    if obj is None:
        raise resource.not_found()
    rule = resource.rules.get(principal.role)
    if isinstance(rule, own_party_or_delegated):
        # What the caller does with it next is audited with the delegation it acts
        # through (or none: its own record, or its own person's).
        delegation_var.set(await rule.via(session, principal, obj))
    if audit_read:
        await audited_read(session, principal, resource, object_id,
                           org_id=getattr(obj, resource.org_attr) if resource.org_attr else None)
    return obj


async def acting_for(session: AsyncSession, principal: Principal, resource: Resource,
                     person_blind: str | None) -> str | None:
    """A record the caller is about to make that names the person `person_blind`:
    the delegation through which the caller acts for that person, by the resource's
    rule (`own_party_or_delegated`), or None. Remembered for the audit rows of the
    request (`core.context.delegation_var`); the record keeps it as `delegation_id`."""
    rule = resource.rules.get(principal.role)
    if not isinstance(rule, own_party_or_delegated):
        return None
    found = await rule.delegation_of(session, principal, person_blind)
    delegation_var.set(found)
    return found


async def audited_read(session: AsyncSession, principal: Principal, resource: Resource,
                       object_id: str | None, *, org_id: str | None = None,
                       read: str = "read") -> None:
    """A staff read of a person's record leaves an audit row
    `{audit_type}.{read}` (citizens reading their own records do not)."""
    if principal.is_citizen or not resource.personal:
        return
    await audit.record(session, principal, f"{resource.audit_type}.{read}",
                       resource.audit_type, object_id, org_id=org_id or principal.org_id)


async def listed(session: AsyncSession, principal: Principal, resource: Resource,
                 object_id: str | None = None, *, read: str = "list") -> None:
    """Audit a staff list read of the resource (`object_id`: what the list is of,
    e.g. the institution whose waiting list was read)."""
    await audited_read(session, principal, resource, object_id, read=read)
