"""Delegation (代办) and guardianship (监护, API.md "Delegation", DOMAIN.md section 5).

A bound citizen (the principal) names another person (the delegate) to act for it
in some services until a date; the delegate's bound account accepts or declines
it. A civil-affairs bureau registers a guardian on paper evidence: active at once.
Either side, or the registering bureau, may revoke it at any time.

Who may see a delegation (`DELEGATION`): the principal's and the delegate's bound
accounts, found by blind index (so a delegate bound only later finds it), and the
registering bureau. Its moves (`LIFE`) are conditional: of an accept racing a
revoke exactly one wins. What a delegation lets its delegate do is decided by one
SQL function, `delegated_principals` (services/delegations.sql), asked through the
scope rule `services.scopes.own_party_or_delegated`, never here.

One pending or active delegation per principal and delegate is the partial unique
index `uq_delegation_live_pair`; one past `expires_on` reads `expired` at once and
is settled (stored `expired`, conditionally) before a new one for the pair is
written, so it never blocks it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import false, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.errors import (
    DuplicateDelegation,
    IdentityNotVerified,
    InvalidExpiry,
    NotTheDelegate,
    OutsideJurisdiction,
    SelfDelegation,
)
from core.ids import new_id
from core.principal import Principal, person_name
from core.settings import Settings
from core.writes import constraint_of, unique_violation
from schemas.citizen import CitizenIdentity
from schemas.common import Page
from schemas.delegation import (
    LIVE_STATUSES,
    Delegation,
    DelegationCreate,
    DelegationPublic,
    DelegationStatus,
    EvidencePublic,
    GuardianshipCreate,
    PersonPublic,
    RegisteredBy,
)
from services import audit, divisions, identity, outbox, scopes, transitions

S = DelegationStatus
LIVE_PAIR = "uq_delegation_live_pair"
MAX_YEARS = 5


def effective_status(d: Delegation, today: date | None = None) -> str:
    """A pending or active delegation past its `expires_on` is `expired`."""
    today = today or clock.today()
    if d.status in LIVE_STATUSES and d.expires_on < today:
        return S.expired
    return d.status


def _party(p: Principal) -> ColumnElement[bool]:
    """A citizen sees the delegations in which its bound person is a side."""
    if p.identity_blind is None:
        return false()
    return or_(Delegation.principal_id_blind == p.identity_blind,
               Delegation.delegate_id_blind == p.identity_blind)


DELEGATION = scopes.Resource(
    model=Delegation, noun="delegation", audit_type="delegation",
    rules={"citizen": _party,
           "reviewer": scopes.of_org(Delegation.registered_by_org_id),
           "approver": scopes.of_org(Delegation.registered_by_org_id)},
    org_attr="registered_by_org_id")


def _event(d: Any) -> dict[str, Any]:
    return {"delegation_id": d.id, "status": effective_status(d), "scopes": list(d.scopes),
            "expires_on": d.expires_on.isoformat(),
            "principal": {"name": d.principal_name, "id_number_masked": d.principal_id_masked},
            "delegate": {"name": d.delegate_name, "id_number_masked": d.delegate_id_masked},
            "registered_by_org_id": d.registered_by_org_id}


# The principal's account hears of its own delegation; a bureau of the guardianships
# it registered.
EVENTS = outbox.Events(
    "delegation", object_type="delegation", data=_event,
    subject=lambda d: d.created_by if d.registered_by_org_id is None else None,
    org=lambda d: d.registered_by_org_id)

T = transitions.Transition
LIFE = transitions.Machine(DELEGATION, {
    "accept": T(frm={S.pending}, to=S.active, stamp="accepted_at"),
    "decline": T(frm={S.pending}, to=S.declined, stamp="declined_at"),
    "revoke": T(frm={S.pending, S.active}, to=S.revoked, stamp="revoked_at"),
}, status_of=effective_status, touched="updated_at")
LIFE.emits(EVENTS, {"accept": "activated", "revoke": "revoked"})


def to_public(d: Delegation) -> DelegationPublic:
    registered = None
    if d.registered_by_org_id is not None:
        registered = RegisteredBy(org_id=d.registered_by_org_id,
                                  staff_name=d.registered_by_name or "")
    evidence = None
    if d.evidence_kind is not None:
        evidence = EvidencePublic(kind=d.evidence_kind, number=d.evidence_number or "")
    return DelegationPublic(
        id=d.id, status=effective_status(d),
        principal=PersonPublic(name=d.principal_name, id_number_masked=d.principal_id_masked),
        delegate=PersonPublic(name=d.delegate_name, id_number_masked=d.delegate_id_masked),
        scopes=list(d.scopes), expires_on=d.expires_on, registered_by=registered,
        principal_division_code=d.principal_division_code, evidence=evidence,
        created_at=d.created_at, accepted_at=d.accepted_at, declined_at=d.declined_at,
        revoked_at=d.revoked_at)


# --- creating ---------------------------------------------------------------------


def _check_expiry(expires_on: date) -> None:
    today = clock.today()
    first = today + timedelta(days=1)
    try:
        last = today.replace(year=today.year + MAX_YEARS)
    except ValueError:  # 29 February
        last = today.replace(year=today.year + MAX_YEARS, day=28)
    if not first <= expires_on <= last:
        raise InvalidExpiry(first=first.isoformat(), last=last.isoformat())


async def _settle_expired(session: AsyncSession, principal_blind: str,
                          delegate_blind: str) -> None:
    """The pair's pending or active delegation past its date, stored `expired`
    (conditionally), so that it does not hold the pair's unique index."""
    await session.execute(
        update(Delegation)
        .where(Delegation.principal_id_blind == principal_blind,
               Delegation.delegate_id_blind == delegate_blind,
               Delegation.status.in_([s.value for s in LIVE_STATUSES]),
               Delegation.expires_on < clock.today())
        .values(status=S.expired, updated_at=clock.now())
        .execution_options(synchronize_session=False))


async def _insert(session: AsyncSession, principal: Principal, d: Delegation) -> Delegation:
    await _settle_expired(session, d.principal_id_blind, d.delegate_id_blind)
    session.add(d)
    # The unique partial index decides when two arrive at once.
    with unique_violation(DuplicateDelegation(),
                          constraint=constraint_of(Delegation, LIVE_PAIR)):
        await session.flush()
    await audit.record(session, principal, "delegation.create", "delegation", d.id,
                       org_id=d.registered_by_org_id)
    return d


async def create(session: AsyncSession, principal: Principal, body: DelegationCreate,
                 settings: Settings) -> DelegationPublic:
    """A citizen's delegation of its own bound person: `pending` until the delegate
    accepts it."""
    if principal.identity_blind is None:
        raise IdentityNotVerified()
    me = (await session.execute(select(CitizenIdentity).where(
        CitizenIdentity.subject == principal.subject))).scalar_one_or_none()
    if me is None:  # unbound since the identity was read
        raise IdentityNotVerified()
    _idn, delegate = identity.protect_input(body.delegate.id_number, settings,
                                            field="delegate.id_number")
    if delegate.blind_index == me.id_blind_index:
        raise SelfDelegation()
    _check_expiry(body.expires_on)
    now = clock.now()
    d = Delegation(
        id=new_id("dlg"), status=S.pending, principal_name=me.name,
        principal_id_encrypted=me.id_number_encrypted, principal_id_blind=me.id_blind_index,
        principal_id_masked=me.id_number_masked, delegate_name=body.delegate.name,
        delegate_id_encrypted=delegate.encrypted, delegate_id_blind=delegate.blind_index,
        delegate_id_masked=delegate.masked, scopes=[s.value for s in body.scopes],
        expires_on=body.expires_on, created_by=principal.subject, created_at=now,
        updated_at=now)
    return to_public(await _insert(session, principal, d))


async def register_guardianship(session: AsyncSession, principal: Principal,
                                body: GuardianshipCreate,
                                settings: Settings) -> DelegationPublic:
    """A bureau's guardianship on paper evidence: `active` at once, for a principal
    living within the bureau's division (else 403 `outside_jurisdiction`)."""
    division = divisions.validate(body.principal_division_code)
    if not principal.division_code or not divisions.covers(principal.division_code, division):
        raise OutsideJurisdiction(division_code=division)
    _p, principal_id = identity.protect_input(body.principal.id_number, settings,
                                              field="principal.id_number")
    _d, delegate = identity.protect_input(body.delegate.id_number, settings,
                                          field="delegate.id_number")
    if delegate.blind_index == principal_id.blind_index:
        raise SelfDelegation()
    _check_expiry(body.expires_on)
    now = clock.now()
    d = Delegation(
        id=new_id("dlg"), status=S.active, principal_name=body.principal.name,
        principal_id_encrypted=principal_id.encrypted,
        principal_id_blind=principal_id.blind_index, principal_id_masked=principal_id.masked,
        delegate_name=body.delegate.name, delegate_id_encrypted=delegate.encrypted,
        delegate_id_blind=delegate.blind_index, delegate_id_masked=delegate.masked,
        scopes=[s.value for s in body.scopes], expires_on=body.expires_on,
        created_by=principal.subject, registered_by_org_id=principal.org_id,
        registered_by_name=person_name(principal.staff_name or ""),
        evidence_kind=body.evidence.kind.value, evidence_number=body.evidence.number,
        principal_division_code=division, created_at=now, accepted_at=now, updated_at=now)
    d = await _insert(session, principal, d)
    await EVENTS.emit(session, "activated", d)
    return to_public(d)


# --- moving -----------------------------------------------------------------------


def _the_delegate(principal: Principal) -> Any:
    def guard(d: Delegation) -> None:
        if principal.identity_blind != d.delegate_id_blind:
            raise NotTheDelegate()
    return guard


async def _answer(session: AsyncSession, principal: Principal, delegation_id: str,
                  action: str) -> DelegationPublic:
    if principal.identity_blind is None:
        raise IdentityNotVerified()
    d = await LIFE.apply(session, principal, delegation_id, action,
                         guard=_the_delegate(principal),
                         where=[Delegation.expires_on >= clock.today()])
    return to_public(d)


async def accept(session: AsyncSession, principal: Principal,
                 delegation_id: str) -> DelegationPublic:
    return await _answer(session, principal, delegation_id, "accept")


async def decline(session: AsyncSession, principal: Principal,
                  delegation_id: str) -> DelegationPublic:
    return await _answer(session, principal, delegation_id, "decline")


async def revoke(session: AsyncSession, principal: Principal,
                 delegation_id: str) -> DelegationPublic:
    """By the principal, the delegate, or the registering bureau (who see it)."""
    d = await LIFE.apply(session, principal, delegation_id, "revoke",
                         values={"revoked_by": principal.scope})
    return to_public(d)


# --- reading ----------------------------------------------------------------------

NEWEST_FIRST = pages.Keyset(pages.Key(Delegation.id, pages.IdOf("dlg"), descending=True))


async def get(session: AsyncSession, principal: Principal,
              delegation_id: str) -> DelegationPublic:
    return to_public(await scopes.load(session, principal, DELEGATION, delegation_id))


async def list_(session: AsyncSession, principal: Principal, *, limit: int,
                cursor: str | None) -> Page[DelegationPublic]:
    """The delegations the caller's person gives or holds; a bureau's registrations."""
    stmt = scopes.select_visible(DELEGATION, principal)
    page = await NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
    await scopes.listed(session, principal, DELEGATION, principal.org_id)
    return page.map(to_public)
