"""Change capture and point-in-time recovery against the raw tools, in the same run.

    .venv/bin/python benchmarks/bench_pitr.py                 # all three parts (~6 min on 2 cores)
    .venv/bin/python benchmarks/bench_pitr.py replay --changes 100000 --replay-rounds 2
    .venv/bin/python benchmarks/bench_pitr.py overhead --duration 30 --rounds 2
    .venv/bin/python benchmarks/bench_pitr.py rpo --rpo-intervals 30,10

Runs on a fresh embedded PostgreSQL 18 (wal_level=logical, fsync off like the test fixture's server; pass
--durable for fsync on, or --server-url for an existing server such as the machine's PostgreSQL 15).

  replay    dataguard replay (Replayer over iter_transactions, sealed segments read from the store)
            vs the same row changes as plain SQL, one statement per change, through `psql -f`
            into identical restored copies; both must end equal to the source (fingerprints)
  overhead  pgbench tpcb-like TPS without a slot vs with the capture slot and a running capture daemon
            (run_capture, 10 s interval), alternating, median of rounds
  rpo       a rate-limited pgbench writer while the capture daemon ships every 30 s: sampled every second,
            now - (newest commit durably shipped) is the data a crash would lose (target: max < 60 s)
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pgenv import password_free  # noqa: E402
from dataguard_pipelines.core.backup import run_full_backup  # noqa: E402
from dataguard_pipelines.core.capture.daemon import run_capture  # noqa: E402
from dataguard_pipelines.core.capture.decoding import UNCHANGED, RowChange, Truncate, parse_event  # noqa: E402
from dataguard_pipelines.core.capture.drill import table_fingerprints  # noqa: E402
from dataguard_pipelines.core.capture.replay import Replayer, iter_transactions  # noqa: E402
from dataguard_pipelines.core.capture.segments import list_segments, read_heartbeat  # noqa: E402
from dataguard_pipelines.core.capture.shipper import ShipResult, ship_changes  # noqa: E402
from dataguard_pipelines.core.capture.slot import drop_slot, slot_status  # noqa: E402
from dataguard_pipelines.core.engines.embedded import (  # noqa: E402
    PROTECTED_SETTINGS,
    SCRATCH_SETTINGS,
    EmbeddedPostgres,
)
from dataguard_pipelines.core.engines.pgtools import embedded_bin_dir  # noqa: E402
from dataguard_pipelines.core.engines.postgres import PostgresDatabase  # noqa: E402
from dataguard_pipelines.core.keys import Keyring  # noqa: E402
from dataguard_pipelines.core.pitr import RecoveryPlan, RecoveryTarget, plan_recovery  # noqa: E402
from dataguard_pipelines.core.restore import restore_backup  # noqa: E402
from dataguard_pipelines.core.settings import redact_url  # noqa: E402
from dataguard_pipelines.core.store import Store, open_store  # noqa: E402

DEFAULT_SLOT = "dataguard"
SHARED_SERVER_SLOT = "dataguard_bench"  # slot names are server-wide: keep clear of tests on a shared server
PARTS = ("replay", "overhead", "rpo")


# -- shared ---------------------------------------------------------------------------------------------


class Bench:
    """The server, a scratch directory, one keyring; drops the databases it created and stops its server."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="dataguard-bench-pitr-", dir=args.work))
        self.keyring = Keyring.create(self.work / "keyring.json")
        self.bin = embedded_bin_dir()
        self.engine: EmbeddedPostgres | None = None
        self.created: list[str] = []
        self._stores = 0
        # database names carry a tag, so a shared server's other users and a second run never collide
        self.tag = f"bench_pitr_{uuid.uuid4().hex[:6]}"
        self.slot = args.slot or (SHARED_SERVER_SLOT if args.server_url else DEFAULT_SLOT)
        try:
            if args.server_url:
                self.admin = args.server_url
                self.where = f"{redact_url(args.server_url.rsplit('/', 1)[0])}"
            else:
                settings = (
                    dict(PROTECTED_SETTINGS)
                    if args.durable
                    else {**SCRATCH_SETTINGS, "wal_level": "logical", "max_wal_senders": "10"}
                )
                self.engine = EmbeddedPostgres(self.work / "pg", settings=settings)
                self.admin = self.engine.acquire("postgres").url("postgres")
                self.where = "embedded, " + (
                    "fsync on" if args.durable else "fsync off, synchronous_commit off"
                )
            with psycopg.connect(self.admin) as conn:
                self.version = conn.execute("SHOW server_version").fetchone()[0]
                level = conn.execute("SHOW wal_level").fetchone()[0]
            if level != "logical":
                raise SystemExit(f"the server has wal_level={level}; change capture needs logical")
        except BaseException:
            self.close()
            raise

    def name(self, name: str) -> str:
        return f"{self.tag}_{name}"

    def new_db(self, name: str, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`, another of ours), recreated if it exists."""
        self.drop_db(name)
        with psycopg.connect(self.admin, autocommit=True) as conn:
            like = f' TEMPLATE "{self.name(template)}"' if template else ""
            conn.execute(f'CREATE DATABASE "{self.name(name)}"{like}')
        if name not in self.created:
            self.created.append(name)
        return self.url(name)

    def url(self, name: str) -> str:
        return self.admin.rsplit("/", 1)[0] + f"/{self.name(name)}"

    def drop_db(self, name: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE database = %s AND NOT active",
                (self.name(name),),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name(name)}" WITH (FORCE)')

    def new_store(self, name: str) -> Store:
        self._stores += 1
        path = self.work / f"store-{self._stores}-{name}"
        path.mkdir()
        return open_store(path.as_uri())

    def tool(self, name: str) -> str:
        return str(self.bin / name)

    def close(self) -> None:
        if hasattr(self, "admin"):
            for name in reversed(self.created):
                with contextlib.suppress(Exception):
                    self.drop_db(name)
        if self.engine is not None:
            self.engine.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run(command: list[str], what: str, password: dict[str, str]) -> str:
    """Runs a client tool; `password` is password_free's PGPASSWORD (never on the command line)."""
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **password})
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}")
    return proc.stdout


def checkpoint(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def wait_flushed(url: str, timeout_s: float = 10.0) -> None:
    """Wait until the WAL written so far is flushed: with synchronous_commit off a commit returns before its
    record is on disk, and a shipping cycle reads only up to the flush position."""
    with psycopg.connect(url, autocommit=True) as conn:
        insert = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout_s
        while conn.execute("SELECT pg_current_wal_flush_lsn() < %s", (insert,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise SystemExit(f"WAL not flushed up to {insert} after {timeout_s:g} s")
            time.sleep(0.05)


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent hash of every table (the PITR drill's own comparison)."""
    with psycopg.connect(url) as conn:
        return table_fingerprints(conn)


class Daemon:
    """run_capture in a background thread; stop() waits for its final cycle and re-raises its failure."""

    def __init__(
        self, db: PostgresDatabase, store: Store, keyring: Keyring, slot: str, interval_s: float
    ) -> None:
        self.cycles: list[tuple[float, ShipResult]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()

        def body() -> None:
            try:
                self.stats = run_capture(
                    db,
                    store,
                    keyring,
                    slot,
                    interval_s=interval_s,
                    stop=self._stop,
                    on_cycle=lambda r: self.cycles.append((time.time(), r)),
                )
            except BaseException as exc:
                self.error = exc

        self._thread = threading.Thread(target=body, name="capture-daemon", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        if self.stats.failures:
            print(f"  warning: {self.stats.failures} capture cycles failed and were retried")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# -- part 1: replay throughput ----------------------------------------------------------------------------

REPLAY_SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text, balance numeric(14,2),
                        tags text[], last_order_at timestamptz);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, amount numeric(12,2),
                     status text, note text, placed_at timestamptz);
CREATE TABLE order_lines (order_id bigint, line int, sku text, qty int, price numeric(10,2),
                          PRIMARY KEY (order_id, line));
CREATE TABLE events (seq_no int, kind text, at timestamptz, payload jsonb);  -- no key: REPLICA IDENTITY FULL
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com', (g % 1000) * 1.25,
    ARRAY['tier' || g % 3, 'o''brien'], '2025-01-01'::timestamptz + g * interval '1 minute'
    FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + g % 20000, (g % 5000) / 10.0, 'new', 'seed order ' || g,
    '2025-02-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 30000) g;
SELECT setval('orders_id_seq', 30000);
INSERT INTO order_lines SELECT o, l, 'sku-' || (o * l) % 997, l, (o % 1000) / 10.0
    FROM generate_series(1, 30000) o, generate_series(1, 4) l;
INSERT INTO events SELECT g, 'seed', '2025-03-01'::timestamptz + g * interval '1 hour',
    jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b'))
    FROM generate_series(1, 500) g;
ANALYZE;
"""

# ~14 row changes; tables locked in one order and the two random orders from disjoint ranges: no deadlocks
ORDER_SCRIPT = r"""
\set cid random(1, 20000)
\set amt random(100, 100000)
\set o1 random(1, 15000)
\set o2 random(15001, 30000)
BEGIN;
INSERT INTO orders (customer_id, amount, status, note, placed_at)
    VALUES (:cid, :amt / 100.0, 'new', 'order ' || :amt, now()) RETURNING id AS new_id \gset
INSERT INTO order_lines
    SELECT :new_id, g, 'sku-' || (:amt * g) % 997, g, (:amt % 1000) / 10.0 FROM generate_series(1, 4) g;
UPDATE customers SET balance = balance + :amt / 100.0, last_order_at = now() WHERE id = :cid;
UPDATE orders SET status = 'shipped', note = note || ' shipped' WHERE id = :o1;
UPDATE order_lines SET qty = qty + 1 WHERE order_id = :o1;
DELETE FROM order_lines WHERE order_id = :o2;
COMMIT;
"""

# 3 row changes on the table without a key: UPDATE and DELETE match whole rows (a scan of ~500 rows)
EVENT_SCRIPT = r"""
\set e1 random(1, 250)
\set e2 random(251, 500)
\set amt random(1, 100000)
BEGIN;
UPDATE events SET payload = jsonb_build_object('n', :amt, 'tags', jsonb_build_array('x')), at = now()
    WHERE seq_no = :e1;
DELETE FROM events WHERE seq_no = :e2;
INSERT INTO events VALUES (:e2, 'reinserted', now(), jsonb_build_object('n', :amt));
COMMIT;
"""
ORDER_WEIGHT, EVENT_WEIGHT = 9, 1
CHANGES_PER_TX = 13.0  # measured mix average, used only to size the workload


def _literal(value) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def primary_keys(url: str) -> dict[str, tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.oid::regclass::text, array_agg(a.attname ORDER BY k.n) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid"
            " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
            " WHERE i.indisprimary GROUP BY 1"
        ).fetchall()
    keys = {}
    for table, columns in rows:
        keys[table] = tuple(columns)
        keys[f"public.{table}"] = tuple(columns)  # test_decoding prints schema-qualified names
    return keys


def plain_sql(change: RowChange, keys: dict[str, tuple[str, ...]]) -> str:
    """One statement for one row change, as a hand-written replay would: WHERE on the primary key."""
    table = change.table
    if change.op == "INSERT":
        names = ",".join(_ident(c) for c, _ in change.new)
        return f"INSERT INTO {table} ({names}) VALUES ({','.join(_literal(v) for _, v in change.new)});"
    key = keys.get(table)
    identity = dict(change.old) if change.old is not None else dict(change.new)
    if key:
        where = " AND ".join(f"{_ident(c)}={_literal(identity[c])}" for c in key)
    else:  # REPLICA IDENTITY FULL: exactly one row equal in every column (typed comparison)
        match = " AND ".join(
            f"{_ident(c)} IS NOT DISTINCT FROM {_literal(v)}" for c, v in change.old if v is not UNCHANGED
        )
        where = f"ctid = (SELECT ctid FROM {table} WHERE {match} LIMIT 1)"
    if change.op == "DELETE":
        return f"DELETE FROM {table} WHERE {where};"
    sets = ",".join(f"{_ident(c)}={_literal(v)}" for c, v in change.new if v is not UNCHANGED)
    return f"UPDATE {table} SET {sets} WHERE {where};"


@dataclass
class ReplayRound:
    dataguard_s: float
    psql_s: float
    nokey_s: float
    nokey_changes: int
    identical: bool


def replay_with_psql(bench: Bench, url: str, sql_file: Path) -> float:
    started = time.perf_counter()
    dsn, password = password_free(url)
    run(
        [bench.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(sql_file)],
        "psql -f",
        password,
    )
    return time.perf_counter() - started


def replay_with_dataguard(
    bench: Bench, url: str, store: Store, plan: RecoveryPlan
) -> tuple[float, float, int, int]:
    """Seconds for the whole replay (segments read from the store included), seconds and changes of the
    transactions on the table without a key (the workload keeps them apart), changes replayed."""
    nokey_s, nokey_changes = 0.0, 0
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=False) as conn:
        replayer = Replayer(conn)
        for tx in iter_transactions(store, bench.keyring, plan.segments, after_lsn=plan.cut_lsn):
            if tx.records and tx.records[0].startswith("table public.events:"):
                replayer.flush()  # time the keyless transactions on their own (costs them a round trip each)
                t0 = time.perf_counter()
                replayer.apply(tx)
                replayer.flush()
                nokey_s += time.perf_counter() - t0
                nokey_changes += tx.changes
            else:
                replayer.apply(tx)
        replayer.finish()
    return time.perf_counter() - started, nokey_s, nokey_changes, replayer.changes


def part_replay(bench: Bench, args: argparse.Namespace) -> dict:
    print(f"\n== replay: {args.changes} row changes, dataguard replay vs psql -f (one statement per change)")
    source = bench.new_db("replay_src")
    source_dsn, password = password_free(source)
    run(
        [bench.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", source_dsn, "-c", REPLAY_SCHEMA],
        "schema",
        password,
    )
    db = PostgresDatabase(source)
    store = bench.new_store("replay")
    ship_changes(db, store, bench.keyring, bench.slot)  # creates the slot; events gets REPLICA IDENTITY FULL
    run_full_backup(db, store, bench.keyring, partition="p", capture_slot=bench.slot)

    scripts = bench.work / "replay-scripts"
    scripts.mkdir()
    (scripts / "orders.sql").write_text(ORDER_SCRIPT)
    (scripts / "events.sql").write_text(EVENT_SCRIPT)
    per_client = max(1, round(args.changes / CHANGES_PER_TX / 2))
    started = time.perf_counter()
    run(
        [
            bench.tool("pgbench"),
            "-n",
            "-c",
            "2",
            "-j",
            "2",
            "-t",
            str(per_client),
            "-f",
            f"{scripts / 'orders.sql'}@{ORDER_WEIGHT}",
            "-f",
            f"{scripts / 'events.sql'}@{EVENT_WEIGHT}",
            source_dsn,
        ],
        "pgbench workload",
        password,
    )
    workload_s = time.perf_counter() - started
    wait_flushed(source)
    shipped = ship_changes(db, store, bench.keyring, bench.slot)
    print(
        f"workload: {2 * per_client} transactions in {workload_s:.1f} s; shipped {shipped.transactions} "
        f"transactions, {shipped.changes} changes, {len(shipped.segments)} segments, "
        f"{shipped.sealed_bytes / 1e6:.1f} MB sealed in {shipped.duration_s:.1f} s",
        flush=True,
    )
    drop_slot(db, bench.slot)  # the source is only read from now on
    reference = fingerprints(source)

    heartbeat = read_heartbeat(store, bench.slot)
    plan = plan_recovery(store, bench.keyring, bench.slot, RecoveryTarget(lsn=heartbeat.through - 1))
    base = bench.new_db("replay_base")
    started = time.perf_counter()
    restored = restore_backup(plan.backup, store, bench.keyring, base, jobs=2)
    print(f"restored the cut ({restored.rows} rows) in {time.perf_counter() - started:.1f} s (untimed below)")

    # The baseline's SQL file: the same decoded changes, one statement each, BEGIN/COMMIT per transaction
    keys = primary_keys(source)
    sql_file = bench.work / "replay.sql"
    ops: Counter[str] = Counter()
    transactions = 0
    with open(sql_file, "w") as out:
        out.write(
            "SET session_replication_role = replica;\nSET standard_conforming_strings = on;\n"
            "SET TimeZone = 'UTC';\nSET DateStyle = 'ISO';\nSET IntervalStyle = 'postgres';\n"
        )
        for tx in iter_transactions(store, bench.keyring, plan.segments, after_lsn=plan.cut_lsn):
            out.write("BEGIN;\n")
            for data in tx.records:
                event = parse_event(data)
                if isinstance(event, RowChange):
                    ops[f"{event.op} {'no-key' if event.table not in keys else 'keyed'}"] += 1
                    out.write(plain_sql(event, keys) + "\n")
                elif isinstance(event, Truncate):
                    raise SystemExit("the workload is not expected to TRUNCATE")
            out.write("COMMIT;\n")
            transactions += 1
    total = sum(ops.values())
    print(
        f"stream after the cut: {transactions} transactions, {total} row changes ("
        + ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        + f"); SQL file {sql_file.stat().st_size / 1e6:.0f} MB"
    )

    rounds: list[ReplayRound] = []
    for i in range(args.rounds):
        dg_name, psql_name = f"replay_dg{i}", f"replay_psql{i}"
        dg_url = bench.new_db(dg_name, template="replay_base")
        psql_url = bench.new_db(psql_name, template="replay_base")
        timings: dict[str, float] = {}
        for step in ("psql", "dataguard") if i % 2 == 0 else ("dataguard", "psql"):
            checkpoint(bench.admin)
            if step == "psql":
                timings[step] = replay_with_psql(bench, psql_url, sql_file)
            else:
                timings[step], nokey_s, nokey_changes, changes = replay_with_dataguard(
                    bench, dg_url, store, plan
                )
                if changes != total:
                    raise SystemExit(f"dataguard replayed {changes} changes, the stream has {total}")
        identical = fingerprints(dg_url) == reference and fingerprints(psql_url) == reference
        rounds.append(ReplayRound(timings["dataguard"], timings["psql"], nokey_s, nokey_changes, identical))
        print(
            f"round {i + 1}: dataguard {timings['dataguard']:.1f} s ({total / timings['dataguard']:,.0f}/s), "
            f"psql -f {timings['psql']:.1f} s ({total / timings['psql']:,.0f}/s); both equal to the source: "
            f"{'yes' if identical else 'NO'}",
            flush=True,
        )
        if not identical:
            for name, url in (("dataguard", dg_url), ("psql", psql_url)):
                got = fingerprints(url)
                bad = [t for t in reference if got.get(t) != reference[t]]
                print(f"  {name} differs in {bad or 'nothing'}")
        bench.drop_db(dg_name)
        bench.drop_db(psql_name)

    dg = median([r.dataguard_s for r in rounds])
    ps = median([r.psql_s for r in rounds])
    nokey_s = median([r.nokey_s for r in rounds])
    nokey_changes = rounds[0].nokey_changes
    keyed_rate = (total - nokey_changes) / (dg - nokey_s)
    nokey_rate = nokey_changes / nokey_s if nokey_s else float("nan")
    print("\nreplay results (median of rounds)")
    print(f"  dataguard replay   {dg:7.1f} s  {total / dg:10,.0f} changes/s  (reads sealed segments)")
    print(f"  psql -f            {ps:7.1f} s  {total / ps:10,.0f} changes/s  (plain SQL file, pre-generated)")
    print(f"  ratio dataguard / psql throughput = {ps / dg:.2f}x")
    print(
        f"  no-key table (REPLICA IDENTITY FULL, ~500 rows): {nokey_changes} changes "
        f"({100 * nokey_changes / total:.1f}%) took {nokey_s:.1f} s ({100 * nokey_s / dg:.0f}% of replay), "
        f"{nokey_rate:,.0f}/s vs {keyed_rate:,.0f}/s on keyed tables"
    )
    return {
        "changes": total,
        "transactions": transactions,
        "dataguard_rate": total / dg,
        "psql_rate": total / ps,
        "ratio": ps / dg,
        "nokey_share": nokey_s / dg,
        "identical": all(r.identical for r in rounds),
    }


# -- part 2: capture overhead on pgbench TPS --------------------------------------------------------------


def tps_database(bench: Bench, args: argparse.Namespace) -> str:
    name = "tps"
    if name in bench.created:
        return bench.url(name)
    url = bench.new_db(name)
    started = time.perf_counter()
    dsn, password = password_free(url)
    run([bench.tool("pgbench"), "-i", "-q", "-s", str(args.scale), dsn], "pgbench -i", password)
    print(f"pgbench -i -s {args.scale} in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def pgbench_tps(bench: Bench, url: str, duration: int) -> float:
    dsn, password = password_free(url)
    out = run(
        [bench.tool("pgbench"), "-c", "2", "-j", "2", "-T", str(duration), dsn],
        "pgbench tpcb-like",
        password,
    )
    for line in out.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise SystemExit(f"no tps in pgbench output: {out[-300:]}")


def part_overhead(bench: Bench, args: argparse.Namespace) -> dict:
    print(
        f"\n== overhead: pgbench tpcb-like -c 2 -j 2 -T {args.duration} -s {args.scale}, no slot vs "
        f"slot + capture daemon (interval {args.overhead_interval:g} s)"
    )
    url = tps_database(bench, args)
    db = PostgresDatabase(url)
    store = bench.new_store("overhead")
    tps: dict[str, list[float]] = {"plain": [], "capture": []}
    shipped: list[str] = []
    for i in range(args.rounds):
        for mode in ("plain", "capture"):
            if slot_status(db, bench.slot).exists:
                drop_slot(db, bench.slot)
            checkpoint(url)
            if mode == "plain":
                tps[mode].append(pgbench_tps(bench, url, args.duration))
                print(f"round {i + 1}: no slot           {tps[mode][-1]:8.1f} tps", flush=True)
                continue
            ship_changes(db, store, bench.keyring, bench.slot)  # creates the slot
            daemon = Daemon(db, store, bench.keyring, bench.slot, args.overhead_interval)
            tps[mode].append(pgbench_tps(bench, url, args.duration))
            ended = time.perf_counter()
            wait_flushed(url)
            daemon.stop()
            drain = time.perf_counter() - ended
            changes = sum(r.changes for _, r in daemon.cycles)
            sealed = sum(r.sealed_bytes for _, r in daemon.cycles)
            longest = max(r.duration_s for _, r in daemon.cycles)
            shipped.append(
                f"{changes} changes, {sealed / 1e6:.1f} MB sealed, {len(daemon.cycles)} cycles (longest "
                f"{longest:.1f} s), final cycle after pgbench {drain:.1f} s"
            )
            print(f"round {i + 1}: slot + daemon      {tps[mode][-1]:8.1f} tps  ({shipped[-1]})", flush=True)
    if slot_status(db, bench.slot).exists:
        drop_slot(db, bench.slot)
    plain, capture = median(tps["plain"]), median(tps["capture"])
    print("\noverhead results (median of rounds)")
    print(f"  no slot                {plain:8.1f} tps  {tps['plain']}")
    print(f"  slot + capture daemon  {capture:8.1f} tps  {tps['capture']}")
    print(f"  ratio with / without = {capture / plain:.3f} ({100 * (1 - capture / plain):+.1f}% TPS cost)")
    return {"plain": plain, "capture": capture, "ratio": capture / plain}


# -- part 3: achieved RPO -------------------------------------------------------------------------------


@dataclass
class RpoRun:
    interval: float
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (rpo s, lag s, commits at risk)
    commits: int = 0
    cycles: int = 0
    shipped_ok: bool = False

    @property
    def rpo(self) -> list[float]:
        return [s[0] for s in self.samples]


def shipped_through(store: Store, slot: str) -> datetime | None:
    """The newest instant up to which every commit is in the store: heartbeat or newest segment's commit."""
    heartbeat = read_heartbeat(store, slot)
    segments = list_segments(store, slot)
    candidates = [heartbeat.through_time] if heartbeat else []
    if segments and segments[-1].last_commit is not None:
        candidates.append(segments[-1].last_commit)
    return max(candidates) if candidates else None


def writer_commits(prefix: Path) -> list[float]:
    """Completion times (epoch seconds) of every pgbench transaction, from its per-transaction logs."""
    times = []
    for path in glob.glob(f"{prefix}.*"):
        with open(path) as handle:
            for line in handle:
                fields = line.split()
                times.append(int(fields[4]) + int(fields[5]) / 1e6)
    return sorted(times)


def rpo_run(bench: Bench, args: argparse.Namespace, interval: float) -> RpoRun:
    import bisect

    url = tps_database(bench, args)
    db = PostgresDatabase(url)
    if slot_status(db, bench.slot).exists:
        drop_slot(db, bench.slot)
    store = bench.new_store(f"rpo{interval:g}")
    ship_changes(db, store, bench.keyring, bench.slot)
    result = RpoRun(interval)
    logs = bench.work / f"rpo-{interval:g}"
    logs.mkdir()
    prefix = logs / "writer"
    daemon = Daemon(db, store, bench.keyring, bench.slot, interval)
    dsn, password = password_free(url)
    writer = subprocess.Popen(
        [
            bench.tool("pgbench"),
            "-n",
            "-c",
            "2",
            "-j",
            "2",
            "-R",
            str(args.rate),
            "-T",
            str(args.rpo_duration),
            "-l",
            f"--log-prefix={prefix}",
            dsn,
        ],
        env={**os.environ, **password},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    raw: list[tuple[float, datetime | None]] = []
    started = time.time()
    next_tick = started + 1
    while writer.poll() is None:
        time.sleep(max(0.0, next_tick - time.time()))
        next_tick += 1
        with contextlib.suppress(Exception):  # an object replaced mid-read: take the next second's sample
            raw.append((time.time(), shipped_through(store, bench.slot)))
    _, err = writer.communicate()
    wait_flushed(url)  # the final cycle then ships every commit the writer saw
    daemon.stop()
    if writer.returncode != 0:
        raise SystemExit(f"pgbench writer failed: {err[-500:]}")
    commits = writer_commits(prefix)
    result.commits = len(commits)
    result.cycles = len(daemon.cycles)
    first_commit = commits[0] if commits else started
    for now, through in raw:
        if through is None or now < first_commit or now > commits[-1]:
            continue
        through_s = through.timestamp()
        newest = bisect.bisect_right(commits, through_s)  # commits[:newest] are shipped
        at_risk = bisect.bisect_right(commits, now) - newest
        shipped_age = now - (commits[newest - 1] if newest else first_commit)
        result.samples.append((now - through_s, shipped_age, at_risk))
    # every writer commit must have reached the store: 4 row changes per tpcb-like transaction
    shipped_changes = sum(r.changes for _, r in daemon.cycles)
    result.shipped_ok = shipped_changes == 4 * len(commits)
    if not result.shipped_ok:
        print(f"  warning: shipped {shipped_changes} changes for {len(commits)} transactions (expected x4)")
    drop_slot(db, bench.slot)
    return result


def part_rpo(bench: Bench, args: argparse.Namespace) -> dict:
    intervals = [float(x) for x in args.rpo_intervals.split(",")]
    print(
        f"\n== rpo: pgbench tpcb-like -R {args.rate} for {args.rpo_duration} s while the capture daemon "
        f"ships every {', '.join(f'{i:g}' for i in intervals)} s; sampled every second"
    )
    results = {}
    for interval in intervals:
        r = rpo_run(bench, args, interval)
        rpo = r.rpo
        risk = [s[2] for s in r.samples]
        print(
            f"interval {interval:g} s: {r.commits} writer commits, {r.cycles} cycles, {len(rpo)} samples: "
            f"RPO max {max(rpo):.1f} s, p95 {percentile(rpo, 95):.1f} s, median {median(rpo):.1f} s; "
            f"newest shipped writer commit age max {max(s[1] for s in r.samples):.1f} s; "
            f"commits at risk max {max(risk)}, p95 {percentile(risk, 95):.0f}; "
            f"all commits shipped at stop: {'yes' if r.shipped_ok else 'NO'}",
            flush=True,
        )
        results[interval] = {
            "max": max(rpo),
            "p95": percentile(rpo, 95),
            "risk_max": max(risk),
            "ok": r.shipped_ok,
        }
    return results


# -- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)}; default: all")
    parser.add_argument("--changes", type=int, default=200_000, help="replay: row changes to generate")
    parser.add_argument("--rounds", type=int, default=2, help="overhead: pgbench runs per mode, alternating")
    parser.add_argument("--replay-rounds", type=int, default=1, help="replay: rounds (fresh copies each)")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale for overhead and rpo")
    parser.add_argument("--duration", type=int, default=30, help="overhead: seconds per pgbench run")
    parser.add_argument("--overhead-interval", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200, help="rpo: writer transactions per second")
    parser.add_argument("--rpo-duration", type=int, default=90)
    parser.add_argument(
        "--rpo-intervals", default="30", help="rpo: comma-separated daemon intervals, e.g. 30,10"
    )
    parser.add_argument(
        "--server-url", help="use this server's maintenance database instead of embedded PG18"
    )
    parser.add_argument(
        "--slot", help=f"capture slot name (default {DEFAULT_SLOT}; {SHARED_SERVER_SLOT} with --server-url)"
    )
    parser.add_argument("--durable", action="store_true", help="embedded server with fsync on")
    parser.add_argument("--work", type=Path, default=None, help="parent of the scratch directory")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = args.parts or list(PARTS)
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")

    started = time.perf_counter()
    load_at_start = load()
    bench = Bench(args)
    results: dict[str, dict] = {}
    try:
        print(
            f"PostgreSQL {bench.version} ({bench.where}); {os.cpu_count()} CPUs, load {load_at_start}; "
            f"scratch {bench.work}",
            flush=True,
        )
        if "replay" in parts:
            replay_args = argparse.Namespace(**{**vars(args), "rounds": args.replay_rounds})
            results["replay"] = part_replay(bench, replay_args)
        if "overhead" in parts:
            results["overhead"] = part_overhead(bench, args)
        if "rpo" in parts:
            results["rpo"] = part_rpo(bench, args)
    finally:
        bench.close()

    print(
        f"\nsummary: PostgreSQL {bench.version} ({bench.where}), {time.perf_counter() - started:.0f} s, "
        f"load average {load_at_start} at start, {load()} at end"
    )
    print(f"  {'measure':40} {'dataguard':>13} {'baseline':>13} {'ratio':>7}  baseline")
    if "replay" in results:
        r = results["replay"]
        print(
            f"  {'replay, row changes/s':40} {r['dataguard_rate']:13,.0f} {r['psql_rate']:13,.0f} "
            f"{r['ratio']:6.2f}x  psql -f, one statement per change ({r['changes']:,} changes, "
            f"{r['transactions']:,} transactions; targets equal the source: {'yes' if r['identical'] else 'NO'})"
        )
    if "overhead" in results:
        r = results["overhead"]
        print(
            f"  {'pgbench tpcb-like TPS':40} {r['capture']:13,.1f} {r['plain']:13,.1f} {r['ratio']:6.3f}x  "
            f"no slot (dataguard: slot + daemon every {args.overhead_interval:g} s)"
        )
    for interval, r in results.get("rpo", {}).items():
        rpo_text = f"{r['max']:.1f} / {r['p95']:.1f} s"
        print(
            f"  {f'RPO max / p95, {interval:g} s interval':40} {rpo_text:>13} "
            f"{'< 60 s':>13} {'':7}  target; at most {r['risk_max']} commits at risk; every commit "
            f"shipped at stop: {'yes' if r['ok'] else 'NO'}"
        )
    print("  ratio = dataguard / baseline: throughput or TPS, higher is better")


if __name__ == "__main__":
    main()
