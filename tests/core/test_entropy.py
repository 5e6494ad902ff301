"""`core.entropy`: public random values from a shared draw, never handed out twice,
and never the same in a forked child as in its parent (AES-GCM nonces)."""

from __future__ import annotations

import base64
import os

from core import entropy
from core.security import Cipher


def test_bytes_are_never_handed_out_twice():
    drawn = [entropy.token_bytes(12) for _ in range(5000)]  # 60,000 bytes: many pages
    assert {len(b) for b in drawn} == {12}
    assert len(set(drawn)) == len(drawn)
    assert len(entropy.token_bytes(10_000)) == 10_000  # more than a page at once


def test_a_forked_child_does_not_repeat_its_parents_next_bytes():
    entropy.token_bytes(16)  # the parent has a page with bytes still to give
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, to the parent
        try:
            os.write(write, entropy.token_bytes(32))
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert entropy.token_bytes(32) != child


def test_nonces_come_from_it_and_differ(monkeypatch):
    calls = []
    real = entropy.token_bytes

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr("core.security.token_bytes", counting)
    cipher = Cipher(base64.b64encode(b"k" * 32).decode(), "blind")
    one, two = cipher.encrypt("110105199001011234"), cipher.encrypt("110105199001011234")
    assert one != two and calls == [12, 12]
    assert cipher.decrypt(one) == cipher.decrypt(two) == "110105199001011234"
