"""What every benchmark here shares about the machine: one lock so two
benchmarks never measure at once, and how busy the CPUs are with other work."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_PATH = "/tmp/huimin-bench.lock"  # noqa: S108 - shared by every bench/ script


@contextlib.contextmanager
def bench_lock(log: Callable[[str], object], max_wait: float = 600) -> Iterator[None]:
    """Hold the benchmarks' shared lock, waiting at most `max_wait` seconds."""
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start > max_wait:
                    raise RuntimeError(f"{LOCK_PATH} held by another benchmark for "
                                       f"{max_wait:.0f} s") from None
                time.sleep(0.5)
        waited = time.monotonic() - start
        if waited > 1:
            log(f"waited {waited:.0f} s for {LOCK_PATH}")
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share (0-1) of all CPUs busy over `seconds`, measured while we run nothing;
    NaN where /proc/stat cannot be read."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return idle, sum(vals)

    try:
        i0, t0 = sample()
        time.sleep(seconds)
        i1, t1 = sample()
    except OSError:
        return float("nan")
    return 1 - (i1 - i0) / max(1, t1 - t0)


VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


def cli_last_line(argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run `huimin ARGV` and return the last line it printed (the key or token)."""
    proc = subprocess.run([str(VENV_BIN / "huimin"), *argv], env=env,
                          cwd=VENV_BIN.parent.parent, capture_output=True, text=True,
                          timeout=timeout, check=False)
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"huimin {' '.join(argv)} failed ({proc.returncode}): "
                           f"{proc.stdout[-500:]} {proc.stderr[-1500:]}")
    return lines[-1].strip()
