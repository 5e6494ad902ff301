"""The SQL functions and triggers huimin keeps in PostgreSQL, each declared whole in
one `.sql` file beside the service it belongs to.

A rule that a one-statement write needs inside the database lives there and
nowhere else (docs/architecture.md, "Where each rule lives"); this module only
reads the files.
`ENTITIES` is what `migrations/env.py` registers with alembic_utils, so:

- `alembic revision --autogenerate` writes a migration that carries a changed
  function's whole new text (never a patch of an older migration's);
- `alembic check` (CI) and `tests/migrations/test_baseline.py` fail while the
  functions of a migrated database differ from these declarations.

A file holds `CREATE OR REPLACE FUNCTION public.<name>(...)` and `CREATE TRIGGER`
statements, each ending with `;` at the end of a line, with `--` comments between
them. `services/audit.sql` writes `{canonical:<row>}` for the audit chain's
canonical text over a row variable, which `core.auditchain` defines once.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from alembic_utils.pg_function import PGFunction
from alembic_utils.pg_trigger import PGTrigger
from alembic_utils.replaceable_entity import ReplaceableEntity

from core import auditchain

HERE = Path(__file__).resolve().parent

# In the order they are created (a function of `LANGUAGE sql` must find what it
# calls): the kit first, then the domains.
FILES = (
    "audit.sql",
    "records.sql",
    "idempotency.sql",
    "citizens.sql",
    "delegations.sql",
    "capacity.sql",
    "marriage/rules.sql",
    "marriage/marriage_book.sql",
    "marriage/marriage_lottery_enter.sql",
    "home_care/rules.sql",
    "home_care/home_care_book.sql",
    "commands.sql",
    "home_care/providers.sql",
)

_STATEMENT = re.compile(r"(?m)^(?=CREATE (?:OR REPLACE FUNCTION|TRIGGER) )")
_CANONICAL = re.compile(r"\{canonical:(\w+)\}")


def statements(text: str) -> list[str]:
    """The CREATE statements of one file, comments between them left out."""
    out = []
    for part in _STATEMENT.split(text)[1:]:
        lines = part.rstrip().splitlines()
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
            lines.pop()
        out.append(_CANONICAL.sub(lambda m: auditchain.pg_canonical(m.group(1)),
                                  "\n".join(lines)))
    return out


def entity(statement: str) -> ReplaceableEntity:
    if statement.startswith("CREATE TRIGGER"):
        return PGTrigger.from_sql(statement)
    return PGFunction.from_sql(statement)


@cache
def entities() -> tuple[ReplaceableEntity, ...]:
    return tuple(entity(s) for name in FILES for s in statements((HERE / name).read_text()))
