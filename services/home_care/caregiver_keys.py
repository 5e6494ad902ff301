"""Caregivers' own keys: the provider issues, lists and revokes them.

A key of role `caregiver` is bound to one caregiver (`api_key.caregiver_id`) of the
provider that issued it (its organisation). With it the caregiver sees and records
its own visits only (the `caregiver` rule of `bookings.BOOKING`) and reads its day
(`caregiver_visits`); every provider-only operation is 403 to it.

- Only the provider issues one, because only its route names the caregiver: the
  admin's route refuses the role (`organisations.create_api_key`, 422
  `role_not_allowed`), and a CHECK on `api_key` keeps caregiver keys and keys bound to
  a caregiver the same set.
- The key is made, stored hashed, audited and shown once as every key is
  (`organisations.issue_key`).
- An inactive caregiver gets no new key: 409 `invalid_state` (`current_status`
  `inactive`). A deactivated caregiver's keys stop working at once, and work again if
  the caregiver is active again: authentication reads the caregiver with the key
  (`organisations.authenticate_api_key`), so deactivation itself has nothing to
  remember. The provider revokes a key for good (a lost phone).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from core.errors import InvalidState
from core.principal import Principal
from schemas.common import Page
from schemas.home_care import CaregiverKeyCreate, CaregiverKeyCreated, CaregiverKeyPublic
from schemas.organisation import ApiKey, Role
from services import organisations
from services.home_care import caregivers


def to_public(key: ApiKey) -> CaregiverKeyPublic:
    return CaregiverKeyPublic.model_validate(key, from_attributes=True)


async def issue(session: AsyncSession, principal: Principal, provider_id: str,
                caregiver_id: str, body: CaregiverKeyCreate) -> CaregiverKeyCreated:
    """A new key for one of the provider's own caregivers (another provider's, or
    unknown: 404), if active."""
    c = await caregivers.get(session, principal, provider_id, caregiver_id)
    if not c.active:
        raise InvalidState(status="inactive", action="issue_api_key")
    created = await organisations.issue_key(session, principal, org_id=provider_id,
                                            role=Role.caregiver, name=body.name,
                                            caregiver_id=c.id)
    return CaregiverKeyCreated.model_validate(created.model_dump())


async def list_(session: AsyncSession, principal: Principal, provider_id: str,
                caregiver_id: str, *, limit: int,
                cursor: str | None) -> Page[CaregiverKeyPublic]:
    """The caregiver's keys, revoked ones too (never the keys themselves)."""
    c = await caregivers.get(session, principal, provider_id, caregiver_id)
    page = await organisations.list_api_keys(session, provider_id, caregiver_id=c.id,
                                             limit=limit, cursor=cursor)
    return page.map(to_public)


async def revoke(session: AsyncSession, principal: Principal, provider_id: str,
                 caregiver_id: str, key_id: str) -> CaregiverKeyPublic:
    """Revoke one of the caregiver's keys at once (a key of anyone else: 404)."""
    c = await caregivers.get(session, principal, provider_id, caregiver_id)
    key = await organisations.revoke_api_key(session, principal, provider_id, key_id,
                                             caregiver_id=c.id)
    return to_public(key)
