"""Real-name identity of citizen accounts (实名认证, API.md "Authentication and roles").

The platform's verification service binds an account to the person it verified;
from then on the account acts as that person: the blind index of the person's
identity number rides on the account's `Principal` (`identity_blind`), and the
scope rules (services.scopes.own_or_party) and the booking and claim rules read it.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import prepared
from core.clock import clock
from core.errors import ApplicantNotAParty, DomainError, IdentityNotVerified
from core.prepared import Sql
from core.principal import Principal
from core.settings import Settings
from core.writes import upsert
from schemas.citizen import CitizenIdentity, IdentityBind, IdentityPublic, MeIdentity
from services import audit, identity

# On every citizen request (services.citizens.blind_index_of): prepared once per
# connection, like the other statements of the hot paths.
_BLIND_OF = Sql("SELECT id_blind_index FROM citizen_identity WHERE subject = $1")


async def bind(session: AsyncSession, principal: Principal, subject: str, body: IdentityBind,
               settings: Settings) -> IdentityPublic:
    """Bind (or re-bind) the account `subject` to the person verified; audited as
    `citizen_identity.bind` with the verifier's organisation."""
    _idn, protected = identity.protect_input(body.id_number, settings)
    now = clock.now()
    await upsert(session, CitizenIdentity, {
        "subject": subject, "name": body.name, "id_number_encrypted": protected.encrypted,
        "id_blind_index": protected.blind_index, "id_number_masked": protected.masked,
        "verified_at": now, "verified_by_org_id": principal.org_id,
        "verified_by_key_id": principal.subject}, conflict=["subject"])
    await audit.record(session, principal, "citizen_identity.bind", "citizen_identity", subject,
                       org_id=principal.org_id)
    return IdentityPublic(subject=subject, name=body.name, id_number_masked=protected.masked,
                          verified_at=now)


async def blind_index_of(session: AsyncSession, subject: str) -> str | None:
    """The blind index of the person the account is bound to, or None."""
    db = await prepared.driver(session)
    row = await db.fetchrow_alone(_BLIND_OF, subject)  # a read on its own: no BEGIN
    return row[0] if row is not None else None


async def identity_of(session: AsyncSession, subject: str) -> MeIdentity | None:
    row = (await session.execute(
        select(CitizenIdentity.name, CitizenIdentity.id_number_masked)
        .where(CitizenIdentity.subject == subject))).one_or_none()
    return MeIdentity(name=row[0], id_number_masked=row[1]) if row is not None else None


def require_verified(principal: Principal, settings: Settings) -> None:
    """With `HUIMIN_CITIZEN_IDENTITY_REQUIRED`, a citizen write from an account no
    verifier has bound is 403 `identity_not_verified`. An identity left to the write
    is checked there, or by `api.route` when the request is refused before it."""
    if principal.is_citizen and settings.identity_required and principal.identity_known \
            and principal.identity_blind is None:
        raise IdentityNotVerified()


def require_party(principal: Principal, blind: list[str]) -> None:
    """A bound account books and enters for its own person (API.md): nobody who
    merely knows two identity numbers can act in their name. An identity not read
    yet (`Principal.identity_known`) is checked by the write (`in_write`)."""
    if principal.identity_blind is not None and principal.identity_blind not in blind:
        raise ApplicantNotAParty()


def leave_party_rule(refusal: DomainError, principal: Principal, blind: list[str]) -> None:
    """For a request refused before its write by a rule that comes after the
    applicant rule: `require_party` now if the identity is known; else the parties
    are noted on `refusal`, and `api.route` settles both identity rules with the
    refusal's audit row and key look-up, in their one statement
    (`idempotency.check_acting`), or reads the identity first where it cannot."""
    if principal.identity_known:
        require_party(principal, blind)
    else:
        refusal.applicant_blinds = list(blind)


# The write's check of an identity left to it (`citizen_acts_for`, migration 0017):
# its arguments, and the refusals its SQLSTATEs stand for.
def in_write(principal: Principal, settings: Settings) -> tuple[bool, bool]:
    """(check the identity, require one) for a write's `p_identity_check` and
    `p_identity_required`."""
    return (not principal.identity_known, settings.identity_required)


_WRITE_REFUSALS = {"HMIV1": IdentityNotVerified, "HMAP1": ApplicantNotAParty}


def identity_refusal(code: str) -> DomainError:
    """The identity refusal with problem `code` (`identity_not_verified`,
    `applicant_not_a_party`), as `idempotency.check_acting` names it."""
    return next(error for error in _WRITE_REFUSALS.values() if error.code == code)()


def write_refusal(code: str | None) -> DomainError | None:
    """The refusal of the write's identity check that SQLSTATE `code` stands for."""
    error = _WRITE_REFUSALS.get(code or "")
    return error() if error is not None else None


async def resolved(session: AsyncSession, principal: Principal) -> Principal:
    """The principal with its identity read, if it was left to the write
    (`Principal.identity_known`); as it is otherwise."""
    if principal.identity_known:
        return principal
    return replace(principal, identity_blind=await blind_index_of(session, principal.subject),
                   identity_known=True)
