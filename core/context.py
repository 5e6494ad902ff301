"""Per-request context that logs and the audit trail read."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The client's address as the request's outermost layer judged it (the peer, or the
# right-most untrusted address of a trusted proxy's X-Forwarded-For): rate limits,
# logs and audit rows use this one.
client_addr_var: ContextVar[str | None] = ContextVar("client_addr", default=None)
# The delegation (代办) through which the request's citizen acts for its principal,
# when it does (services.scopes sets it when the object acted on is visible through
# one, services.delegations when a record is made through one): audit rows carry it.
delegation_var: ContextVar[str | None] = ContextVar("delegation", default=None)
