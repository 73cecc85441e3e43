"""Table-guard overhead on ordinary DML: pgbench TPS without and with the guards, in the same run.

    .venv/bin/python benchmarks/bench_guards.py                          # -s 10, -c 2 -j 2 -T 20, 3+3 rounds
    .venv/bin/python benchmarks/bench_guards.py --time 60 --rounds 4 --builtin simple-update
    .venv/bin/python benchmarks/bench_guards.py --dsn postgresql://user@host:5432/postgres

Creates its own uniquely named database on the server (the machine's PostgreSQL 15 by default; --dsn names
the admin database, a superuser: event triggers need one), runs `pgbench -i -s SCALE`, then alternates
rounds in ABBA order (off on, on off, ...):

  off   no guards in the database
  on    install_guards(db, [pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history]), checked
        to be in force (a TRUNCATE outside the gate must fail), uninstalled after the round

Before every round, as pgbench itself would: VACUUM branches and tellers, TRUNCATE pgbench_history (through
the gate, so the same statement works in both modes), CHECKPOINT; then `pgbench -n -c -j -T`. Prints the
TPS of each round, the medians, the ratio on/off of the medians and the median of the paired ratios (each
`on` round against the `off` round next to it, which cancels slow drift from other load on the machine);
target: no measurable overhead. --async-commit runs pgbench with synchronous_commit=off, so the rounds are
CPU-bound rather than fsync-bound and a per-statement cost would show more clearly. The guards are
uninstalled and the database dropped at the end; the cluster-wide role dataguard_gate is left in place
(other databases on the server may use it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pgenv import password_free  # noqa: E402
from dataguard_pipelines.core.engines.pgtools import tools_for_server  # noqa: E402
from dataguard_pipelines.core.engines.postgres import PostgresDatabase  # noqa: E402
from dataguard_pipelines.core.protection.guards import (  # noqa: E402
    GATE_SETTING,
    install_guards,
    uninstall_guards,
)
from dataguard_pipelines.core.settings import redact_url  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PGBENCH_TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


def pgbench_binary(major: int) -> str:
    """The server's own pgbench if installed, else the one on PATH."""
    with contextlib.suppress(Exception):
        candidate = Path(tools_for_server(major).path("pgbench"))
        if candidate.exists():
            return str(candidate)
    found = shutil.which("pgbench")
    if found is None:
        raise SystemExit(
            "pgbench is not installed; apt-get install postgresql-contrib (or postgresql-client)"
        )
    return found


def prepare_round(url: str) -> None:
    """What pgbench does before a run (we pass -n): vacuum the small hot tables, empty the history."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM pgbench_branches")
        conn.execute("VACUUM pgbench_tellers")
        with conn.transaction():  # through the gate: the guards block TRUNCATE otherwise
            conn.execute(f"SET LOCAL {GATE_SETTING} = 'on'")
            conn.execute("TRUNCATE pgbench_history")
        conn.execute("CHECKPOINT")


def assert_guarded(url: str) -> None:
    """The guards must be in force during an `on` round: a TRUNCATE outside the gate fails."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("TRUNCATE pgbench_history")
        except psycopg.Error:
            conn.rollback()
            return
        conn.rollback()
    raise SystemExit(
        "the guards did not block TRUNCATE pgbench_history; the 'on' rounds would measure nothing"
    )


def run_pgbench(pgbench: str, dsn: str, env: dict[str, str], args: argparse.Namespace) -> float:
    command = [
        pgbench,
        "-n",
        "-b",
        args.builtin,
        "-c",
        str(args.clients),
        "-j",
        str(args.jobs),
        "-T",
        str(args.time),
        dsn,
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    match = TPS.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"pgbench failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"admin database URL (default {DEFAULT_DSN})")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i -s (default 10)")
    parser.add_argument("--clients", "-c", type=int, default=2, help="pgbench -c (default 2)")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="pgbench -j (default 2)")
    parser.add_argument(
        "--time", "-T", type=int, default=20, help="pgbench -T seconds per round (default 20)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, at least 2 (default 3)")
    parser.add_argument(
        "--async-commit", action="store_true", help="pgbench sessions with synchronous_commit=off"
    )
    parser.add_argument("--builtin", "-b", default="tpcb-like", help="pgbench -b script (default tpcb-like)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2: one round per mode measures drift, not overhead")

    name = f"bench_guards_{uuid.uuid4().hex[:8]}"
    url = args.dsn.rsplit("/", 1)[0] + f"/{name}"
    db = PostgresDatabase(url)
    dsn, password = password_free(url)  # pgbench gets the password from PGPASSWORD, never argv
    env = {**os.environ, **password}
    bench_env = {**env, "PGOPTIONS": "-c synchronous_commit=off"} if args.async_commit else env
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        pgbench = pgbench_binary(major)
        print(f"PostgreSQL {version} at {redact_url(url)}; {pgbench}", flush=True)
        init = subprocess.run(
            [pgbench, "-i", "-q", "-s", str(args.scale), dsn], env=env, capture_output=True, text=True
        )
        if init.returncode != 0:
            raise SystemExit(f"pgbench -i failed: {init.stderr[-500:]}")
        print(
            f"pgbench -i -s {args.scale}; rounds: -n -b {args.builtin} -c {args.clients} -j {args.jobs} "
            f"-T {args.time}{', synchronous_commit=off' if args.async_commit else ''}, "
            f"{args.rounds} per mode, ABBA order",
            flush=True,
        )

        tps: dict[str, list[float]] = {"off": [], "on": []}
        order = [
            mode for i in range(args.rounds) for mode in (("off", "on") if i % 2 == 0 else ("on", "off"))
        ]
        for number, mode in enumerate(order, start=1):
            prepare_round(url)
            if mode == "on":
                status = install_guards(db, PGBENCH_TABLES)
                if not status.is_healthy or len(status.protected_tables) != len(PGBENCH_TABLES):
                    raise SystemExit(f"guards not fully in force: {status.problems}")
                assert_guarded(url)
            try:
                tps[mode].append(run_pgbench(pgbench, dsn, bench_env, args))
            finally:
                if mode == "on":
                    uninstall_guards(db)
            load = os.getloadavg()[0]
            print(
                f"round {number} guards {mode:3}: {tps[mode][-1]:9.1f} tps  (load avg 1 min {load:.2f})",
                flush=True,
            )

        off, on = statistics.median(tps["off"]), statistics.median(tps["on"])
        spread = (max(tps["off"]) - min(tps["off"])) / off
        paired = [on_tps / off_tps for on_tps, off_tps in zip(tps["on"], tps["off"], strict=True)]
        print(f"\nresults, median of {args.rounds} rounds per mode")
        print(f"  without guards  {off:9.1f} tps   (rounds {', '.join(f'{t:.0f}' for t in tps['off'])})")
        print(f"  with guards     {on:9.1f} tps   (rounds {', '.join(f'{t:.0f}' for t in tps['on'])})")
        print(f"  ratio with/without (medians)       = {on / off:.3f}")
        print(
            f"  ratio with/without (paired rounds) = {statistics.median(paired):.3f}  "
            f"(pairs {', '.join(f'{r:.3f}' for r in paired)})"
        )
        print(
            f"  target: no measurable overhead; round-to-round spread without guards {spread:.1%}, "
            f"load avg now {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
    finally:
        with contextlib.suppress(Exception):
            uninstall_guards(db)
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
