"""Summarise a py-spy speedscope profile: where huimin's time goes.

    .venv/bin/python bench/profile_summary.py PROFILE.speedscope.json [TOP] [SECONDS]

bench/marriage.py --profile records with `py-spy record --nonblocking` (without
`--idle`), so samples are taken only while a thread is on a CPU: the sampled
thread-seconds of the event loop's MainThread, divided by the recording's SECONDS,
is how busy the worker's one core was. Per group of threads (MainThread; AnyIO's
pool) this prints the on-CPU time, then the
share of it in each bucket of BUCKETS (inclusive: a sample counts for a bucket if
any frame of its stack matches, so buckets overlap; "leaf:" patterns match the
innermost frame only), and the top functions by inclusive and by self share.
Samples with no Python stack (bare thread frame) are left out; samples whose
innermost frame is a known wait (recorded with `--idle`) count as waiting.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

# Innermost frames that mean "waiting, not working" (name prefix, file suffix).
IDLE_LEAVES: list[tuple[str, str]] = [
    ("select", "selectors.py"),                 # the pure-Python loop polling
    ("Condition.wait", "threading.py"),         # thread pools waiting for work
    ("Queue.get", "queue.py"),
    ("Event.wait", "threading.py"),
]


# (label, substrings of a frame "name (file:line)") -- inclusive shares, overlapping.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    # uvloop runs the loop in C: a sample whose innermost Python frame is Runner.run
    # is C code of the loop or of a callback (socket I/O, httptools parsing,
    # asyncpg's Cython protocol) -- or, if recorded with --idle, epoll waiting.
    ("event loop in C: uvloop I/O, httptools, Cython callbacks", ("leaf:Runner.run (",)),
    ("uvicorn HTTP protocol (parsing, outside the app)", ("HttpToolsProtocol.",)),
    ("the ASGI app (everything under run_asgi)", ("run_asgi (",)),
    ("huimin middleware (api/middleware.py)", ("api/middleware.py",)),
    ("auth: principal, JWT, API key", ("current_principal (", "jwt/")),
    ("idempotency: claim + store response", ("services/idempotency.py",)),
    ("booking service: appointments.book", ("book (services/marriage/appointments.py",)),
    ("slot listing: schedules.list_slots", ("list_slots (services/marriage/schedules.py",)),
    ("calendar: sessions_on / holidays", ("services/marriage/calendar.py",
                                          "chinese_calendar/", "holidays/")),
    ("identity: parse + validate (stdnum)", ("parse (services/identity.py", "stdnum/")),
    ("identity: encrypt + blind index", ("protect (services/identity.py",)),
    ("cryptography (AES-GCM, HMAC)", ("core/security.py", "cryptography/")),
    ("audit record", ("services/audit.py",)),
    ("SQLAlchemy ORM flush (unit of work)", ("Session.flush (", "unitofwork.py",
                                             "persistence.py")),
    ("SQLAlchemy SQL compilation + cache keys", ("compiler.py", "cache_key.py")),
    ("SQLAlchemy, all of it", ("sqlalchemy/",)),
    ("asyncpg driver", ("asyncpg/",)),
    ("commit", ("commit (",)),
    ("pydantic validation + serialisation", ("pydantic/", "pydantic_core")),
    ("FastAPI routing, dependencies, serialisation", ("fastapi/",)),
    ("starlette", ("starlette/",)),
    ("JSON encode/decode (stdlib json)", ("json/",)),
    ("logging / structlog", ("structlog/", "logging/")),
    ("prometheus metrics", ("prometheus_client/",)),
]


# Frames every busy sample of the main thread goes through: not shown in the lists.
PLUMBING = ("typer/", "uvicorn/main.py", "uvicorn/server.py", "uvicorn/_compat.py",
            "asyncio/runners.py", "bin/huimin", "serve (api/cli.py", "threading.py")


def _short(frame: dict) -> str:
    file = frame.get("file") or ""
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{frame.get('name', '?')} ({file}:{frame.get('line', '')})"


def _group(thread_name: str) -> str:
    name = re.sub(r'^Thread \d+ "?', "", thread_name).rstrip('"')
    return re.sub(r"\d+", "N", name)


def summarise(path: Path | str, top: int = 25, seconds: float | None = None) -> str:
    data = json.loads(Path(path).read_text())
    raw = data["shared"]["frames"]
    frames = [_short(f) for f in raw]
    idle_ids = set()
    for i, f in enumerate(raw):
        name, file = f.get("name") or "", f.get("file") or ""
        if any(name.startswith(n) and file.endswith(s) for n, s in IDLE_LEAVES):
            idle_ids.add(i)

    groups: dict[str, list[dict]] = defaultdict(list)
    for prof in data["profiles"]:
        groups[_group(prof.get("name", "?"))].append(prof)

    out = [f"profile {path}"]
    for group, profs in sorted(groups.items(), key=lambda kv: kv[0] != "MainThread"):
        total = idle = unreadable = 0.0
        inclusive: Counter[str] = Counter()
        self_: Counter[str] = Counter()
        buckets: Counter[str] = Counter()
        for prof in profs:
            samples = prof.get("samples", [])
            weights = prof.get("weights") or [1] * len(samples)
            for stack, w in zip(samples, weights, strict=False):
                stack = [i for i in stack if not raw[i].get("name", "").startswith("thread (")]
                if not stack:
                    unreadable += w
                    continue
                total += w
                if stack[-1] in idle_ids:
                    idle += w
                    continue
                names = [frames[i] for i in stack]
                for name in set(names):
                    inclusive[name] += w
                self_[names[-1]] += w
                for label, pats in BUCKETS:
                    if any(names[-1].startswith(p[5:]) if p.startswith("leaf:")
                           else any(p in n for n in names) for p in pats):
                        buckets[label] += w
        if total == 0:
            continue
        busy = total - idle
        out.append("")
        cores = f" = {busy / seconds:.2f} cores over {seconds:.0f}s" if seconds else ""
        out.append(f"{group} ({len(profs)} thread(s)): {busy:.2f} busy thread-seconds{cores}"
                   + (f", {idle:.2f}s waiting" if idle else "")
                   + (f" ({unreadable:.2f}s unreadable left out)" if unreadable else ""))
        if busy <= 0:
            continue
        out.append("  of the busy samples, by bucket (inclusive, overlapping):")
        for label, _ in BUCKETS:
            if buckets[label] / busy >= 0.005:
                out.append(f"    {100 * buckets[label] / busy:5.1f}%  {label}")
        out.append(f"  top {top} functions of the busy samples, inclusive:")
        shown = [(n, w) for n, w in inclusive.most_common()
                 if not any(p in n for p in PLUMBING)]
        for name, w in shown[:top]:
            out.append(f"    {100 * w / busy:5.1f}%  {name}")
        out.append(f"  top {top} functions of the busy samples, self:")
        for name, w in self_.most_common(top):
            out.append(f"    {100 * w / busy:5.1f}%  {name}")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25,
                    float(sys.argv[3]) if len(sys.argv) > 3 else None))
