"""Real-name identity of citizen accounts (实名认证, API.md "Authentication and roles").

The platform's verification service binds an account to the person it verified;
from then on the account acts as that person: the blind index of the person's
identity number rides on the account's `Principal` (`identity_blind`), and the
scope rules (services.scopes.own_or_party) and the claim rules read it.

The identity rules of a citizen's write (an unbound account writes nothing while
identity is required; a bound account books and enters for its own person) are
decided by one SQL function, `citizen_refusal` (citizens.sql): when the identity is
read (`read_identity`), inside a hot command's write (`citizen_acts_for`), and when
a hot command's refusal is settled (services.commands).
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

# On every citizen request but a hot command's (`read_identity`): the bound person's
# blind index, and the identity rules' answer for the account's writes
# (services/citizens.sql). Prepared once per connection.
_IDENTITY_OF = Sql("SELECT (SELECT c.id_blind_index FROM citizen_identity AS c "
                   "WHERE c.subject = $1), citizen_refusal($1, NULL, $2)")


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


async def identity_of(session: AsyncSession, subject: str) -> MeIdentity | None:
    row = (await session.execute(
        select(CitizenIdentity.name, CitizenIdentity.id_number_masked)
        .where(CitizenIdentity.subject == subject))).one_or_none()
    return MeIdentity(name=row[0], id_number_masked=row[1]) if row is not None else None


def require_verified(principal: Principal) -> None:
    """A citizen's write from an account no verifier has bound, while identity is
    required: 403 `identity_not_verified`, as `citizen_refusal` said when the
    identity was read (`Principal.identity_refusal`). A hot command's caller, whose
    identity is not read, is checked by its write (services.commands)."""
    if principal.identity_refusal is not None:
        raise identity_refusal(principal.identity_refusal)


# The refusals a write's check of the identity (`citizen_acts_for`) raises, by SQLSTATE.
_WRITE_REFUSALS = {"HMIV1": IdentityNotVerified, "HMAP1": ApplicantNotAParty}


def identity_refusal(code: str) -> DomainError:
    """The identity refusal with problem `code` (`identity_not_verified`,
    `applicant_not_a_party`), as `citizen_refusal` names it."""
    return next(error for error in _WRITE_REFUSALS.values() if error.code == code)()


def write_refusal(code: str | None) -> DomainError | None:
    """The refusal of the write's identity check that SQLSTATE `code` stands for."""
    error = _WRITE_REFUSALS.get(code or "")
    return error() if error is not None else None


async def resolved(session: AsyncSession, principal: Principal,
                   settings: Settings) -> Principal:
    """The principal with its identity read, if it was left to the write
    (`Principal.identity_known`); as it is otherwise."""
    if principal.identity_known:
        return principal
    return await read_identity(session, principal, settings)


async def read_identity(session: AsyncSession, principal: Principal,
                        settings: Settings) -> Principal:
    """The citizen `principal` with its account's identity read: the bound person's
    blind index, and what `citizen_refusal` says of the account's writes."""
    db = await prepared.driver(session)
    row = await db.fetchrow_alone(_IDENTITY_OF, principal.subject, settings.identity_required)
    return replace(principal, identity_blind=row[0], identity_refusal=row[1],
                   identity_known=True)
