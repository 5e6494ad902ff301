"""Every statistics answer, kept per process for a while (API.md: figures at most
5 minutes old), so the public can read them as often as it likes.

An answer is computed on demand by one aggregate query set and kept, serialized,
for `TTL_SECONDS` (by `core.clock`, so tests can move past it); a hit costs a
dictionary lookup and the bytes are sent as they are. When many requests for the
same key arrive together, one computes it and the others wait for its result
(single flight): a burst costs one computation. At most `MAX_KEYS` answers are
kept (divisions x periods x kinds); past that the oldest half is dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from core.clock import clock

TTL_SECONDS = 120
MAX_KEYS = 1024  # an answer is at most some tens of KB: a few tens of MB at most


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    etag: str
    computed_at: dt.datetime

    def max_age(self, now: dt.datetime) -> int:
        """Seconds a client or proxy may keep it: what is left of its time here."""
        left = TTL_SECONDS - (now - self.computed_at).total_seconds()
        return max(0, min(TTL_SECONDS, int(left)))


def etag_of(body: bytes) -> str:
    return '"st-' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class Answers:
    def __init__(self, ttl_seconds: float = TTL_SECONDS, max_keys: int = MAX_KEYS) -> None:
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.max_keys = max_keys
        self._kept: dict[Hashable, Answer] = {}
        self._flights: dict[Hashable, asyncio.Future[Answer]] = {}
        self.computed = 0  # how many answers were computed (tests, metrics)

    def fresh(self, key: Hashable, now: dt.datetime) -> Answer | None:
        kept = self._kept.get(key)
        if kept is not None and dt.timedelta(0) <= now - kept.computed_at < self.ttl:
            return kept
        return None

    async def get(self, key: Hashable,
                  compute: Callable[[dt.datetime], Awaitable[bytes]]) -> Answer:
        """The kept answer for `key`, or `compute(now)`'s, computed once however many
        ask at the same time."""
        while True:
            now = clock.now()
            kept = self.fresh(key, now)
            if kept is not None:
                return kept
            flight = self._flights.get(key)
            if flight is None:
                break
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                if not flight.cancelled():
                    raise  # this request was cancelled
                # The request computing it went away (its client left): ask again.
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            body = await compute(now)
            answer = Answer(body, etag_of(body), now)
            self._keep(key, answer)
            self.computed += 1
            flight.set_result(answer)
            return answer
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved here: no waiter is not an error
            raise
        finally:
            self._flights.pop(key, None)

    def _keep(self, key: Hashable, answer: Answer) -> None:
        if len(self._kept) >= self.max_keys:
            oldest = sorted(self._kept, key=lambda k: self._kept[k].computed_at)
            for k in oldest[: self.max_keys // 2]:
                del self._kept[k]
        self._kept[key] = answer

    def clear(self) -> None:
        self._kept.clear()
        self.computed = 0


ANSWERS = Answers()
