"""A real webhook receiver for the tests: a local HTTP server (its own thread) that
verifies every request's signature with the `standardwebhooks` package, records
what it received, and fails on purpose when told to."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.clock import CHINA_TZ, clock


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    secret: str | None = None
    # The first `fail_first` requests of each webhook-id answer `fail_status`.
    fail_first: int = 0
    fail_status: int = 503
    always_fail: bool = False
    delay: float = 0.0
    # Called (in the receiver's thread) with the running count of requests that
    # arrived, before each is answered: a test can act at an exact moment.
    on_arrival: Callable[[int], None] | None = None
    arrivals: int = 0
    received: list[Received] = field(default_factory=list)
    in_flight: Counter = field(default_factory=Counter)
    max_in_flight: Counter = field(default_factory=Counter)
    _seen: defaultdict = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        wid = headers.get("webhook-id", "")
        with self._lock:
            self.in_flight[wid] += 1
            self.max_in_flight[wid] = max(self.max_in_flight[wid], self.in_flight[wid])
            self._seen[wid] += 1
            nth = self._seen[wid]
            self.arrivals += 1
            arrived = self.arrivals
        if self.on_arrival is not None:
            self.on_arrival(arrived)
        try:
            if self.delay:
                time.sleep(self.delay)
            verified = False
            if self.secret is not None:
                try:
                    Webhook(self.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
            status = self.fail_status if (self.always_fail or nth <= self.fail_first) else 200
            if self.secret is not None and not verified:
                status = 401
            with self._lock:
                self.received.append(Received(headers, body, verified, status))
            return status
        finally:
            with self._lock:
                self.in_flight[wid] -= 1

    def events(self, *, delivered_only: bool = True) -> list[dict]:
        return [r.event for r in self.received if not delivered_only or r.answered == 200]

    def ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.received if r.answered == 200}


@contextlib.contextmanager
def receiver(**options) -> Iterator[Receiver]:  # noqa: ANN003
    state = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = state.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:  # noqa: ANN002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def next_weekday(days_ahead: int = 3) -> str:
    """A weekday (Monday-Friday, China time) at least `days_ahead` days from now on
    the real clock: receivers check signatures' timestamps against real time, so
    these tests leave the clock alone."""
    d = clock.now().astimezone(CHINA_TZ).date() + dt.timedelta(days=days_ahead)
    while d.isoweekday() > 5 or (d.month, d.day) in {(1, 1), (10, 1), (5, 1)}:
        d += dt.timedelta(days=1)
    return d.isoformat()
