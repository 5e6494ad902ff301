"""A citizen account bound to a verified person (实名认证) files burial claims as
that person: the claimant must be the account holder (API.md). The binding itself
is not built yet, so the rule is tested on the service with such a principal."""

from __future__ import annotations

import pytest

from core.errors import ClaimantNotAccountHolder
from core.principal import Principal
from schemas.burial import ClaimCreate
from services import identity
from services.burial import claims
from tests.api.test_burial_support import claim_body, policy


async def test_a_bound_account_claims_only_as_its_holder(client, admin_headers, settings, db):
    await policy(client, admin_headers)
    body = claim_body()
    holder = identity.blind_index(body["claimant"]["id_number"], settings)
    someone_else = identity.blind_index(body["deceased"]["id_number"], settings)
    async with db.session() as session:
        stranger = Principal(kind="citizen", subject="acct-1", role="citizen",
                             identity_blind=someone_else)
        with pytest.raises(ClaimantNotAccountHolder):
            await claims.create(session, stranger, ClaimCreate(**body), settings)
        me = Principal(kind="citizen", subject="acct-2", role="citizen", identity_blind=holder)
        claim = await claims.create(session, me, ClaimCreate(**body), settings)
        assert claim.status == "submitted"
        await session.rollback()
