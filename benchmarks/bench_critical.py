"""Critical-table snapshot against the raw tools, in the same run, on a freshly seeded demo database.

    .venv/bin/python benchmarks/bench_critical.py                # scale 1, 1 warm-up + 3 rounds
    .venv/bin/python benchmarks/bench_critical.py --scale 15     # the issue's size (~750 MB database)
    .venv/bin/python benchmarks/bench_critical.py --dsn postgresql://user@host:5432/postgres

Creates its own uniquely named database on the server (the machine's PostgreSQL 15 by default; --dsn names
the admin database to connect to), seeds the demo there, and times, alternating the order each round:

  dataguard   back_up_critical_tables(..., level=1) of the demo's critical tables (those that exist) into a
              local store: one snapshot, DDL + sealed Parquet (zstd 1, AES-256-GCM) per table, content hash
  pg_dump     pg_dump -t T1 -t T2 ... | zstd -1   and   | zstd -3   of the same tables, into a file

Prints bytes, seconds and MB/s (of the tables' on-disk size, pg_table_size) per tool, the median of the
rounds, and the ratio dataguard / pg_dump (target <= 1.3x). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pgenv import password_free  # noqa: E402
from dataguard_pipelines.core.critical.snapshot import back_up_critical_tables  # noqa: E402
from dataguard_pipelines.core.engines.pgtools import tools_for_server  # noqa: E402
from dataguard_pipelines.core.engines.postgres import PostgresDatabase  # noqa: E402
from dataguard_pipelines.core.keys import Keyring  # noqa: E402
from dataguard_pipelines.core.settings import DEFAULT_CRITICAL_TABLES, redact_url  # noqa: E402
from dataguard_pipelines.core.store import open_store  # noqa: E402
from dataguard_pipelines.sandbox.demo_data import seed  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PARTITION = "2026-06-17-06:00"
TARGET_RATIO = 1.3


def database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def existing_tables(url: str) -> list[tuple[str, str, int, int]]:
    """(listed name, schema-qualified name, rows, pg_table_size) of each default critical table present."""
    found = []
    with psycopg.connect(url) as conn:
        for name in DEFAULT_CRITICAL_TABLES:
            oid = conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()[0]
            if oid is None:
                continue
            qualified, size = conn.execute(
                "SELECT format('%%I.%%I', n.nspname, c.relname), pg_table_size(c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
                (oid,),
            ).fetchone()
            rows = conn.execute(f"SELECT count(*) FROM {qualified}").fetchone()[0]
            found.append((name, qualified, rows, size))
    return found


def run_dataguard(url: str, keyring: Keyring, tables: list[str], work: Path, level: int) -> tuple[float, int]:
    """Seconds and stored bytes of one critical snapshot into a fresh local store."""
    store_dir = work / f"store-{uuid.uuid4().hex[:6]}"
    store_dir.mkdir()
    try:
        store = open_store(store_dir.as_uri())
        started = time.perf_counter()
        back_up_critical_tables(
            PostgresDatabase(url), store, keyring, tables, partition=PARTITION, level=level
        )
        seconds = time.perf_counter() - started
        stored = sum(p.stat().st_size for p in store_dir.rglob("*") if p.is_file())
        return seconds, stored
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


def run_pg_dump(
    pg_dump: str, dsn: str, env: dict[str, str], tables: list[str], level: int, work: Path
) -> tuple[float, int]:
    """Seconds and bytes of `pg_dump -t ... | zstd -LEVEL > file`."""
    out = work / f"dump-zstd{level}.sql.zst"
    patterns = " ".join(f"-t {shlex.quote(t)}" for t in tables)
    command = (
        f"set -o pipefail; {shlex.quote(pg_dump)} -d {shlex.quote(dsn)} {patterns} | zstd -{level} -q > {out}"
    )
    started = time.perf_counter()
    proc = subprocess.run(["/bin/bash", "-c", command], env=env, capture_output=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pg_dump | zstd -{level} failed: {proc.stderr.decode()[-500:]}")
    size = out.stat().st_size
    out.unlink()
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1, help="demo data scale (default 1, ~70 MB database; 15 ~ 750 MB)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the order (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed rounds first (default 1: imports, caches)"
    )
    parser.add_argument("--level", type=int, default=1, help="dataguard's zstd level (default 1)")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"admin database URL (default {DEFAULT_DSN})")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="scratch directory for stores and dumps",
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the benchmark database")
    args = parser.parse_args()
    if shutil.which("zstd") is None:
        raise SystemExit("the zstd command is not installed; apt-get install zstd")

    name = f"bench_critical_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="dataguard-bench-critical-", dir=args.work))
    url = database_url(args.dsn, name)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"seeding scale {args.scale:g} into {redact_url(url)} …", flush=True)
        report = seed(url, scale=args.scale)
        print(
            f"seeded {report.tables} tables, {report.database_bytes / 1e6:.0f} MB in {report.duration_s:.0f} s"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            version = conn.execute("SHOW server_version").fetchone()[0]
            major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        found = existing_tables(url)
        listed = [t[0] for t in found]
        qualified = [t[1] for t in found]
        table_bytes = sum(t[3] for t in found)
        missing = [t for t in DEFAULT_CRITICAL_TABLES if t not in listed]
        print(
            f"PostgreSQL {version}; critical tables present: {len(found)} of {len(DEFAULT_CRITICAL_TABLES)}"
        )
        for _, qname, rows, size in found:
            print(f"  {qname:32} {rows:>10,} rows  {size / 1e6:8.1f} MB")
        if missing:
            print(f"  missing (skipped): {', '.join(missing)}")
        print(
            f"  total                            {sum(t[2] for t in found):>10,} rows  {table_bytes / 1e6:8.1f} MB"
        )

        tools = tools_for_server(major)
        dsn, password = password_free(url)  # pg_dump gets the password from PGPASSWORD, never argv
        tool_env = {**os.environ, **password}
        keyring = Keyring.create(work / "keyring.json")

        runs: dict[str, list[tuple[float, int]]] = {"dataguard": [], "zstd1": [], "zstd3": []}
        steps = {
            "dataguard": lambda: run_dataguard(url, keyring, listed, work, args.level),
            "zstd1": lambda: run_pg_dump(tools.path("pg_dump"), dsn, tool_env, qualified, 1, work),
            "zstd3": lambda: run_pg_dump(tools.path("pg_dump"), dsn, tool_env, qualified, 3, work),
        }
        for _ in range(args.warmup):  # the first call pays pyarrow's import and a cold page cache
            for step in steps.values():
                step()
        for i in range(args.rounds):
            order = list(steps) if i % 2 == 0 else list(reversed(steps))
            for key in order:
                runs[key].append(steps[key]())
            print(
                f"round {i + 1} ({' -> '.join(order)}): "
                + ", ".join(f"{key} {runs[key][-1][0]:.2f} s" for key in steps),
                flush=True,
            )

        seconds = {key: statistics.median(s for s, _ in values) for key, values in runs.items()}
        stored = {key: values[-1][1] for key, values in runs.items()}
        labels = {
            "dataguard": f"dataguard critical (zstd {args.level})",
            "zstd1": "pg_dump -t … | zstd -1",
            "zstd3": "pg_dump -t … | zstd -3",
        }
        print(f"\nresults, median of {args.rounds} rounds (MB/s of {table_bytes / 1e6:.1f} MB pg_table_size)")
        for key, label in labels.items():
            print(
                f"  {label:30} {seconds[key]:7.2f} s  {table_bytes / 1e6 / seconds[key]:7.1f} MB/s  "
                f"{stored[key]:>12,} bytes"
            )
        for key in ("zstd1", "zstd3"):
            ratio = seconds["dataguard"] / seconds[key]
            print(
                f"  ratio dataguard / ({labels[key]}) = {ratio:.2f}x time, "
                f"{stored['dataguard'] / stored[key]:.2f}x bytes (target <= {TARGET_RATIO}x time)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
