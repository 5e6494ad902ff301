"""Who is asking: a citizen (by account id) or a staff member (by API key)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


def person_name(name: str) -> str:
    """A staff member's name as the person it names: NFKC (full-width forms and
    compatibility characters folded: `审核－孙伟` is `审核-孙伟`), without invisible
    format characters (zero-width spaces and joiners, bidi marks), spaces collapsed.
    Keys are stored with it, and names are compared by it (separation of duties)."""
    folded = unicodedata.normalize("NFKC", name)
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "citizen" | "staff"
    subject: str  # citizen account id, or the API key id
    # citizen | office | institution | provider | reviewer | approver |
    # identity_verifier | caregiver | admin
    role: str
    org_id: str | None = None
    staff_name: str | None = None
    # A `caregiver` key's caregiver (of the provider `org_id`); None for every other.
    caregiver_id: str | None = None
    # The staff member's organisation's division code (jurisdiction of a bureau).
    division_code: str | None = None
    # The blind index of the person a citizen account is bound to by real-name
    # verification (实名认证), when it is: then the account acts as that person.
    identity_blind: str | None = None
    # What the identity rules (`citizen_refusal`) say of the account's writes, read
    # with its identity: `identity_not_verified`, or None.
    identity_refusal: str | None = None
    # False: the account's identity was not read. Authentication reads only the
    # token; the routes that need the caller read the identity
    # (`api.deps.current_principal`), a hot command's write checks it in its own
    # statement (services.commands).
    identity_known: bool = True

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    @property
    def scope(self) -> str:
        """The identity that idempotency keys and rate limits are scoped to."""
        return f"{self.kind}:{self.subject}"

    @property
    def staff_identity(self) -> str | None:
        """A staff member is known by organisation and name (API.md)."""
        if self.kind != "staff":
            return None
        return f"{self.org_id}:{person_name(self.staff_name or '')}"
