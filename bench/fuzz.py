"""Fuzz the running server with schemathesis over the whole OpenAPI document.

    .venv/bin/python bench/fuzz.py [--max-examples 30] [--as admin citizen anonymous]
                                   [--seed N] [--phases examples,coverage,fuzzing,stateful]
                                   [--include-path-regex REGEX ...]
                                   [--db embedded|machine] [--pg URL]

Starts `huimin serve` on a free loopback port on a fresh PostgreSQL database
(`bench_fuzz_<pid>`, on the embedded PostgreSQL 18 of core/embedded.py started in
var/bench/embedded/pg by default, or on the server named by --pg with `--db
machine`) loaded with `huimin demo`, makes an admin key
(`huimin apikey create --role admin`) and a citizen token (`huimin token citizen`),
then runs `schemathesis run <base>/openapi.json --checks all` once per credential
set: the admin key, the citizen token, and no credentials at all. The server is
stopped and the database dropped afterwards (also on Ctrl-C or an error). Exit
status 0 only when every run found nothing. Reports (JUnit, NDJSON) and the server
log stay in the run folder, `var/fuzz/run-<time>-<pid>/`.
See bench/README.md.

No check is excluded. Every check schemathesis has runs, including the contentious
ones (`negative_data_rejection`, `positive_data_acceptance`, `ignored_auth`,
`use_after_free`, ...): where one of them found a documented constraint that the
server did not enforce, the schema or the code was fixed instead.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from machine import (  # bench/ is on sys.path when run as a script
    Owned,
    add_server_options,
    cli_last_line,
    pg_server,
)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
CREDENTIALS = ("admin", "citizen", "anonymous")
CONFIG = ROOT / "bench" / "schemathesis.toml"
# Schema-valid requests (schemathesis' ST202 `positive_data_acceptance`) refused with
# these problem codes are refused for data the document cannot describe: a cursor
# this server never issued, from/to too far apart, sort=distance without near, an
# existing policy / division / check character / If-Match / key, a business rule
# with its own code. Each is counted and printed apart, never hidden; any other
# refusal of a schema-valid request (`validation_error`, `bad_request`, ...) means
# the document allows what the server refuses, and is a finding.
DATA_DEPENDENT = {
    "invalid_cursor": "a made-up page cursor (the fuzzer cannot know issued ones)",
    "date_range_too_long": "from/to more than the allowed days apart (two parameters)",
    "near_required": "sort=distance without near (two parameters)",
    "no_applicable_policy": "no burial policy for that division, method and date",
    "invalid_division_code": "six digits of an existing city prefix but no such county",
    "invalid_id_number": "a wrong check character or impossible birth date",
    "role_not_allowed": "the organisation's kind may not hold that role",
    "precondition_failed": "an If-Match that is not the current ETag",
    "idempotency_key_reused": "a key the fuzzer sent before with another body",
    "claimant_is_deceased": "the claimant's number is the deceased's",
    "self_delegation": "the delegate's number is the principal's (the caller's bound "
                       "person, or the guardianship's principal: two fields)",
    "invalid_start_time": "a start time not on the half hour (China time)",
    "outside_booking_window": "a slot (of the document's example) already closed",
    "webhook_url_not_allowed": "a host or scheme the deployment refuses",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def huimin_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    env.pop("REDIS_URL", None)
    env.update({
        "DATABASE_URL": database_url,
        # The fuzzer sends thousands of requests a minute from one address: 429s
        # would hide every other answer.
        "HUIMIN_RATE_LIMIT_ENABLED": "false",
        "HUIMIN_LOG_LEVEL": "WARNING",
        "HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    })
    return env




def wait_ready(base: str, proc: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}) before it was ready; "
                               f"see {log_path}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{base}/readyz not ready after {timeout:.0f}s; see {log_path}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group, SIGKILL after STOP_TIMEOUT."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _raise_interrupt(signum, _frame):  # noqa: ANN001, ANN202
    raise KeyboardInterrupt(f"signal {signum}")


def schemathesis_argv(base: str, who: str, headers: dict[str, str], opts: argparse.Namespace,
                      out: Path) -> list[str]:
    # Plain by default: schemathesis' own checks with its own expectations, as any
    # client would run it. `--huimin-checks` adds huimin's checks (bench/fuzz_hooks.py,
    # through bench/schemathesis.toml); they only add failures, never excuse one.
    config = ["--config-file", str(CONFIG)] if opts.huimin_checks else []
    argv = [str(VENV_BIN / "schemathesis"), *config,
            "run", f"{base}/openapi.json",
            "--checks", "all",
            "--max-examples", str(opts.max_examples),
            "--seed", str(opts.seed),
            "--workers", str(opts.workers),
            "--request-timeout", "30",
            "--suppress-health-check", "all",
            "--report", "junit,ndjson",
            "--report-dir", str(out / f"report-{who}"),
            "--output-truncate", "true"]
    if opts.phases:
        argv += ["--phases", opts.phases]
    for regex in opts.include_path_regex:
        argv += ["--include-path-regex", regex]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    return argv


def _text(blob: dict | None) -> str:
    if not blob:
        return ""
    try:
        return base64.b64decode(blob["$base64"]).decode("utf-8", "replace")
    except (KeyError, ValueError):
        return ""


def tally(report_dir: Path) -> tuple[collections.Counter, collections.Counter]:
    """Each failed check of a run's NDJSON report, by (check, operation, status,
    problem code): (findings, data-dependent refusals, see DATA_DEPENDENT)."""
    findings: collections.Counter = collections.Counter()
    expected: collections.Counter = collections.Counter()
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line).get("ScenarioFinished")
            if not event:
                continue
            recorder = event.get("recorder") or {}
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    response = ((recorder.get("interactions") or {}).get(case_id)
                                or {}).get("response") or {}
                    try:
                        code = json.loads(_text(response.get("content"))).get("code", "")
                    except (ValueError, AttributeError):
                        code = ""
                    key = (failure.get("title") or check.get("name"),
                           failure.get("operation") or recorder.get("label"),
                           response.get("status_code"), code)
                    data_dependent = (check.get("name") == "positive_data_acceptance"
                                      and code in DATA_DEPENDENT)
                    (expected if data_dependent else findings)[key] += 1
    return findings, expected


def print_tally(who: str, findings: collections.Counter, expected: collections.Counter) -> None:
    print(f"== {who}: {sum(findings.values())} findings, "
          f"{sum(expected.values())} data-dependent refusals")
    for label, counter in (("finding", findings), ("data-dependent", expected)):
        for (title, op, status, code), n in sorted(counter.items(), key=str):
            print(f"  {label:14} {title} | {op} | {status} {code} | x{n}")


def summary_lines(text: str) -> list[str]:
    """The last block of schemathesis' output: its summary."""
    lines = text.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().startswith("=") and "SUMMARY" in lines[i]:
            return lines[i:]
    return lines[-12:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-examples", type=int, default=25,
                   help="test cases per operation and phase (default 25)")
    p.add_argument("--huimin-checks", action="store_true",
                   help="add huimin's own checks (bench/fuzz_hooks.py via bench/schemathesis.toml)")
    p.add_argument("--seed", type=int, default=20261201, help="schemathesis seed")
    p.add_argument("--workers", default="1", help="schemathesis workers (default 1)")
    p.add_argument("--phases", default="", help="comma-separated phases (default: all)")
    p.add_argument("--include-path-regex", action="append", default=[], metavar="REGEX",
                   help="only the operations whose path matches (schemathesis' own option, "
                        "passed through; repeatable)")
    p.add_argument("--as", dest="who", nargs="+", choices=CREDENTIALS, default=list(CREDENTIALS),
                   help="credential sets to run with (default: all three)")
    p.add_argument("--keep", action="store_true", help="keep the run folder on success")
    add_server_options(p, default="embedded", both=False)
    opts = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    out = ROOT / "var" / "fuzz" / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out.mkdir(parents=True)
    log(f"run folder {out}")
    owned = Owned()
    with pg_server(opts.db, opts.pg) as server:
        log(f"PostgreSQL server {server.describe()}")
        try:
            name = f"bench_fuzz_{os.getpid()}"
            owned.create_db(server, name)
            return fuzz(huimin_env(server.url(name, "asyncpg")), opts, out)
        finally:
            owned.cleanup()  # before the server is released


def fuzz(env: dict[str, str], opts: argparse.Namespace, out: Path) -> int:
    """Demo data, credentials, the server, schemathesis once per credential set."""
    log("loading demo data (huimin demo)")
    cli_last_line(["demo"], env)
    admin_key = cli_last_line(["apikey", "create", "--role", "admin", "--name", "fuzz"], env)
    token = cli_last_line(["token", "citizen", "--subject", "fuzz-citizen-0001"], env)
    credentials = {"admin": {"X-API-Key": admin_key},
                   "citizen": {"Authorization": f"Bearer {token}"},
                   "anonymous": {}}

    port = free_port()
    base = f"http://{HOST}:{port}"
    server_log = out / "server.log"
    results: dict[str, tuple[int, list[str]]] = {}
    tallies: dict[str, tuple[collections.Counter, collections.Counter]] = {}
    with open(server_log, "ab") as server_out:
        server = subprocess.Popen(
            [str(VENV_BIN / "huimin"), "serve", "--host", HOST, "--port", str(port)],
            env=env, cwd=ROOT, stdout=server_out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(base, server, server_log)
            log(f"huimin serving on {base}")
            for who in opts.who:
                cmd = schemathesis_argv(base, who, credentials[who], opts, out)
                shown = " ".join(a if not a.startswith(("X-API-Key:", "Authorization:"))
                                 else f"'{a.split(':')[0]}: ...'" for a in cmd)
                log(f"[{who}] {shown}")
                # In the run folder: a plain run keeps its cache (`.schemathesis/`) there.
                run = subprocess.run(cmd, cwd=out, capture_output=True, text=True, check=False,
                                     env={**os.environ, "NO_COLOR": "1",
                                          "PYTHONPATH": str(ROOT)})
                (out / f"schemathesis-{who}.txt").write_text(run.stdout + run.stderr)
                results[who] = (run.returncode, summary_lines(run.stdout))
                tallies[who] = tally(out / f"report-{who}")
                log(f"[{who}] exit {run.returncode}; output in {out}/schemathesis-{who}.txt")
        finally:
            stop(server)

    server_errors = [line for line in server_log.read_text(errors="replace").splitlines()
                     if "unhandled_exception" in line or "Traceback" in line]
    print()
    for who, (code, lines) in results.items():
        print(f"== {who}: schemathesis exit {code}")
        print("\n".join(lines))
        print()
    for who, (findings, expected) in tallies.items():
        print_tally(who, findings, expected)
    print()
    if server_errors:
        print(f"server log: {len(server_errors)} unhandled exceptions (see {server_log})")
    # schemathesis' own exit status counts the data-dependent refusals too: the
    # verdict is the tally's (a run that failed without any reported check, e.g.
    # a crash of schemathesis itself, still fails).
    ok = not server_errors and all(
        not tallies[who][0] and (code == 0 or tallies[who][1])
        for who, (code, _) in results.items())
    if ok and not opts.keep:
        shutil.rmtree(out, ignore_errors=True)
    print("fuzz: " + ("nothing found" if ok else f"FINDINGS (see {out})"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
