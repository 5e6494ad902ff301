"""What an appeal (复核, services.appeals) needs to know of a refused record, as each
domain tells it (`services.beds.appeals`, `services.burial.appeals`,
`services.home_care.appeals`): the appeals service never reads another domain's
tables, and the domains never import it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    refused_at: datetime
    # The division whose civil-affairs bureaus are in charge of an appeal (prefix
    # containment): the institution's, the claim's household division, the provider's.
    division_code: str
    # The staff identities (`Principal.staff_identity`) that took part in the refusal.
    refusers: tuple[str, ...] = ()
