"""Who is asking: a citizen (by account id) or a staff member (by API key)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "citizen" | "staff"
    subject: str  # citizen account id, or the API key id
    role: str  # citizen | office | institution | provider | reviewer | approver | admin
    org_id: str | None = None
    staff_name: str | None = None
    # The staff member's organisation's division code (jurisdiction of a bureau).
    division_code: str | None = None
    # The blind index of the person a citizen account is bound to by real-name
    # verification (实名认证), when it is: then the account acts as that person.
    identity_blind: str | None = None
    # False: `identity_blind` was not read (a hot write on PostgreSQL whose own
    # statement reads and checks it, `api.hotpath`); `services.citizens.resolved`
    # reads it where a decision needs it before that statement.
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
        return f"{self.org_id}:{self.staff_name}"
