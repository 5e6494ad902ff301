"""Public random values (ids, AES-GCM nonces) from the operating system's random
source, drawn a page at a time.

A booking takes about ten (five ids, its request id, a nonce for each identity
number, phone and stored answer it encrypts), and each `os.urandom` is a `getrandom`
system call: 5.9% of the worker's busy samples in a native profile of PostgreSQL
booking (bench/marriage.py --profile-native, 2026-12-04). The bytes are the same
source's; only the call is shared. Secrets (API keys, webhook secrets, a lottery's
seed, check-in codes) still take `secrets` directly: nothing secret waits in a
buffer.

A forked child forgets the buffer (`os.register_at_fork`): a child that handed out
its parent's next bytes would repeat the parent's nonces, which AES-GCM must never
see twice under one key.
"""

from __future__ import annotations

import os
import threading

_PAGE = 4096
_lock = threading.Lock()
_buffer = b""
_at = 0


def token_bytes(n: int) -> bytes:
    """`n` fresh bytes from the OS's random source (never handed out twice)."""
    global _buffer, _at  # noqa: PLW0603 - the process's one buffer
    with _lock:
        if _at + n > len(_buffer):
            _buffer, _at = os.urandom(max(_PAGE, n)), 0
        out = _buffer[_at:_at + n]
        _at += n
    return out


def _forget() -> None:
    global _buffer, _at, _lock  # noqa: PLW0603 - a forked child's fresh state
    _buffer, _at, _lock = b"", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget)
