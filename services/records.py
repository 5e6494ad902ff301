"""A write's audit row and outbox event, for a write that is one statement.

The one-statement writes (marriage booking, lottery entry, the draw's winners)
write their rows, their audit rows and their outbox events together, so that the
three commit or vanish together and no write waits on a second round trip. The
SQL side is one function, `record_writes` (services/records.sql), which every
such write calls last (and `audit.insert` for every other audit row); the rows
themselves are `audit.row()` and `outbox.Events.row()`, turned into its two JSON
arguments by `audit.as_json` and `outbox.as_json`. (An event of the generic routes
goes in through `outbox.Events.emit`, in the request's transaction.)
"""

from __future__ import annotations

from services import audit, outbox

audits = audit.as_json
events = outbox.as_json
