"""The draw's order and assignment as API.md fixes them, with nothing but the
public data: the service draws with it and `huimin lottery verify` recomputes with
it, so the two cannot drift apart.

Order: the hex HMAC-SHA256 with the seed bytes as key and the entry id (UTF-8) as
message, ascending. Assignment: each entry in turn gets its first preferred session
that has a seat left, else nothing. Entries left out of the draw (a party held an
active appointment when it ran; the public list says so) take no seat.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def seed_digest(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def rank(seed: bytes, entry_id: str) -> str:
    return hmac.new(seed, entry_id.encode("utf-8"), hashlib.sha256).hexdigest()


def ordered(seed: bytes, entry_ids: Iterable[str]) -> list[str]:
    return sorted(entry_ids, key=lambda i: rank(seed, i))


def assign(seed: bytes, preferences: Mapping[str, list[str]], seats: Mapping[str, int],
           excluded: Iterable[str] = ()) -> dict[str, str | None]:
    """{entry id: the session start it won, or None}, for every entry."""
    left = dict(seats)
    out: dict[str, str | None] = {}
    skip = set(excluded)
    for entry_id in ordered(seed, preferences):
        won = None
        if entry_id not in skip:
            for start in preferences[entry_id]:
                if left.get(start, 0) > 0:
                    left[start] -= 1
                    won = start
                    break
        out[entry_id] = won
    return out


@dataclass
class Verdict:
    ok: bool
    problems: list[str]


def verify(lottery: Mapping, entries: list[Mapping]) -> Verdict:
    """Recompute a drawn lottery from its public view and its public entries list."""
    problems: list[str] = []
    if lottery.get("status") != "drawn" or not lottery.get("seed"):
        return Verdict(False, ["the lottery has not been drawn"])
    seed = bytes.fromhex(lottery["seed"])
    if seed_digest(seed) != lottery["seed_sha256"]:
        problems.append("the seed does not match seed_sha256")
    if lottery.get("entries") != len(entries):
        problems.append(f"the lottery counts {lottery.get('entries')} entries, the list "
                        f"has {len(entries)}")
    seats = {s["start"]: int(s["seats"]) for s in lottery.get("sessions") or []}
    if lottery.get("seats") != sum(seats.values()):
        problems.append("the seats do not add up to the sessions' seats")
    outcome = assign(seed, {e["id"]: list(e["session_preferences"]) for e in entries}, seats,
                     [e["id"] for e in entries if e.get("excluded_reason")])
    for e in entries:
        won = outcome[e["id"]]
        expected = "won" if won else "not_drawn"
        if e["status"] != expected or e.get("session") != won:
            problems.append(f"entry {e['id']}: published {e['status']} {e.get('session')}, "
                            f"recomputed {expected} {won}")
    winners = sum(1 for w in outcome.values() if w)
    if lottery.get("winners") is not None and lottery["winners"] != winners:
        problems.append(f"the lottery says {lottery['winners']} winners, recomputed {winners}")
    return Verdict(not problems, problems)
