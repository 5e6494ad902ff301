"""Citizen accounts: real-name identity, bound by the platform's verification service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.deps import Db, IdentityVerifier, SettingsDep
from api.problems import responses
from api.route import Router
from core import errors
from schemas.citizen import IdentityBind, IdentityPublic
from services import citizens

router = Router(prefix="/v1/citizens", tags=["citizens"])

SubjectPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[!-~]+$",
                                  description="The citizen account id (the token's `sub`)",
                                  examples=["wx-o6_bmjrPTlm6_2sgVt7hMZOPfL2M"])]


@router.put("/{subject}/identity", response_model=IdentityPublic,
            summary="Bind a citizen account to the person verified (实名认证)",
            description="Role `identity_verifier` (the platform's real-name verification "
                        "service, an organisation of kind `platform_service`). The account "
                        "then acts as that person: it sees and may cancel every marriage "
                        "appointment and divorce case in which the person is a party. "
                        "Binding again replaces the earlier binding. The identity number "
                        "is stored encrypted and only ever shown masked; audited as "
                        "`citizen_identity.bind`.",
            responses=responses(errors.Forbidden, errors.InvalidIdNumber,
                                errors.ValidationFailed))
async def bind_identity(subject: SubjectPath, body: IdentityBind, session: Db,
                        principal: IdentityVerifier, settings: SettingsDep) -> IdentityPublic:
    return await citizens.bind(session, principal, subject, body, settings)
