"""Billing month of 10 million calls: our streaming pyarrow computation against a DuckDB reference.

    .venv/bin/pip install -e '.[bench]'      # duckdb, for the reference only
    .venv/bin/python benchmarks/bench_billing.py [--calls 10000000] [--work DIR] [--batch-rows 262144]

Both sides read the same Parquet inputs (one company, March 2025, a plan change on the 16th: per-second
`pro`, then nearest-minute `enterprise`), write the same line items to Parquet and compute the same
totals; each runs in its own process, which reports its wall time and peak RSS (ru_maxrss). The totals
must be identical, and the two line-item files must hold the same rows (checked afterwards, untimed).

Prints wall time and peak RSS of each side and their ratio (target for ours: under 20 s and 2 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataguard_pipelines.core.billing.pricing import (  # noqa: E402
    Plan,
    PlanPeriod,
    days_in_month,
    month_window_utc,
)

SEED = 20250301
COMPANY = "85"
MONTH = date(2025, 3, 1)
VAT_RATE_BP = 1900
CHANGE_DAY = date(2025, 3, 16)
PRO = Plan("pro", 15, "per_second", 500, 50, 14900)
ENTERPRISE = Plan("enterprise", 12, "nearest_minute", 2000, 0, 49900)
PERIODS = (PlanPeriod(PRO, date(2024, 6, 1), CHANGE_DAY), PlanPeriod(ENTERPRISE, CHANGE_DAY, None))
TARGET_S, TARGET_MB = 20.0, 2048.0


# -- input ------------------------------------------------------------------------------------------------


def generate_inputs(work: Path, calls: int, appointments: int) -> None:
    """calls.parquet and appointments.parquet for one company and month, from a fixed seed; kept for reuse."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from dataguard_pipelines.core.billing.compute import APPOINTMENT_COLUMNS, CALL_COLUMNS

    marker = work / f"inputs-{calls}-{appointments}-{SEED}.ok"
    if marker.exists():
        return
    rng = np.random.default_rng(SEED)
    start, end = (int(t.timestamp()) * 1_000_000 for t in month_window_utc(MONTH))

    started = np.sort(rng.integers(start, end, calls))
    # Calls to an appointment line: median about 75 s, a long tail, 1.5 s .. 30 min.
    duration = np.clip(rng.lognormal(np.log(75_000), 0.9, calls), 1_500, 1_800_000).astype(np.int64)
    status = rng.choice(
        np.array(["ended", "error", "ongoing", "registered"]), calls, p=[0.96, 0.02, 0.01, 0.01]
    )
    chunk = 1_000_000
    with pq.ParquetWriter(work / "calls.parquet", CALL_COLUMNS) as writer:
        for lo in range(0, calls, chunk):
            hi = min(lo + chunk, calls)
            st = pa.array(status[lo:hi])
            ids = pc.utf8_lpad(pa.array(np.arange(lo, hi)).cast(pa.string()), width=10, padding="0")
            ended = pc.equal(st, "ended")
            registered = pc.equal(st, "registered")
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [
                        pc.binary_join_element_wise("call_", ids, ""),
                        pc.if_else(
                            registered,
                            pa.scalar(None, CALL_COLUMNS.field("started_at").type),
                            pa.array(started[lo:hi], CALL_COLUMNS.field("started_at").type),
                        ),
                        pc.if_else(ended, pa.array(duration[lo:hi]), pc.if_else(registered, None, 0)),
                        st,
                    ],
                    schema=CALL_COLUMNS,
                )
            )
    starts = np.sort(rng.integers(start, end, appointments))
    statuses = rng.choice(
        np.array(["accepted", "cancelled", "rejected", "pending"]), appointments, p=[0.85, 0.1, 0.03, 0.02]
    )
    ids = pc.utf8_lpad(pa.array(np.arange(appointments)).cast(pa.string()), width=8, padding="0")
    pq.write_table(
        pa.table(
            [
                pc.binary_join_element_wise("appt_", ids, ""),
                pa.array(starts, APPOINTMENT_COLUMNS.field("starts_at").type),
                pa.array(statuses),
            ],
            schema=APPOINTMENT_COLUMNS,
        ),
        work / "appointments.parquet",
    )
    marker.touch()


# -- the two contenders (each in its own process) ---------------------------------------------------------


def run_ours(work: Path, batch_rows: int, fraction: int = 1) -> dict:
    """Our side; `fraction` > 1 reads only the first 1/fraction of the call row groups (memory flatness)."""
    import pyarrow.parquet as pq

    from dataguard_pipelines.core.billing.compute import (
        LINE_ITEM_SCHEMA,
        LINE_ITEM_WRITER_OPTIONS,
        compute_billing,
    )

    baseline_mb = _peak_mb()
    started = time.perf_counter()
    # pre_buffer=False: with pre-buffering, iter_batches keeps the byte ranges it read until the reader is
    # done, so Arrow memory grows with the file (by ~140 MB over this 160 MB file, pyarrow 26).
    calls = pq.ParquetFile(work / "calls.parquet", pre_buffer=False)
    row_groups = list(range(max(1, calls.num_row_groups // fraction)))
    appointments = pq.ParquetFile(work / "appointments.parquet", pre_buffer=False)
    out = work / ("ours.parquet" if fraction == 1 else f"ours-1-{fraction}.parquet")
    with pq.ParquetWriter(out, LINE_ITEM_SCHEMA, **LINE_ITEM_WRITER_OPTIONS) as writer:
        summary = compute_billing(
            company_id=COMPANY,
            month=MONTH,
            periods=PERIODS,
            vat_rate_bp=VAT_RATE_BP,
            calls=calls.iter_batches(batch_size=batch_rows, row_groups=row_groups),
            appointments=appointments.iter_batches(batch_size=batch_rows),
            line_items=writer,
        )
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": _peak_mb(),
        "baseline_rss_mb": baseline_mb,
        "summary": summary.as_dict(),
    }


def run_duckdb(work: Path) -> dict:
    import duckdb

    baseline_mb = _peak_mb()
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    con.execute(_duckdb_setup_sql())
    con.execute(f"COPY ({_duckdb_line_items_sql(work)}) TO '{work / 'duck.parquet'}' (FORMAT parquet)")
    cursor = con.execute(_duckdb_totals_sql(work / "duck.parquet"))
    row = cursor.fetchone()
    summary = dict(zip([d[0] for d in cursor.description], row, strict=True))
    summary["plans"] = list(summary["plans"])
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": _peak_mb(),
        "baseline_rss_mb": baseline_mb,
        "duckdb_version": duckdb.__version__,
        "summary": summary,
    }


def _duckdb_setup_sql() -> str:
    """The periods as a table, and the month's days with their plan and plan segment (gaps and islands)."""
    periods = ",\n".join(
        f"('{p.plan.code}', {p.plan.per_minute_cents}, '{p.plan.rounding}', {p.plan.included_minutes}, "
        f"{p.plan.appointment_fee_cents}, {p.plan.monthly_base_cents}, DATE '{p.valid_from}', "
        + (f"DATE '{p.valid_to}')" if p.valid_to else "NULL::DATE)")
        for p in PERIODS
    )
    last = date(MONTH.year, MONTH.month, days_in_month(MONTH))
    return f"""
CREATE TEMP TABLE periods AS SELECT * FROM (VALUES {periods}) p(code, per_minute_cents, rounding,
    included_minutes, appointment_fee_cents, monthly_base_cents, valid_from, valid_to);
CREATE TEMP TABLE days AS
WITH d AS (
    SELECT g::DATE AS day, p.* EXCLUDE (valid_from, valid_to)
    FROM generate_series(DATE '{MONTH}', DATE '{last}', INTERVAL 1 DAY) t(g)
    LEFT JOIN periods p ON p.valid_from <= g::DATE AND (p.valid_to IS NULL OR g::DATE < p.valid_to)
), islands AS (
    SELECT *, day - CAST(row_number() OVER (PARTITION BY code, per_minute_cents, rounding, included_minutes,
        appointment_fee_cents, monthly_base_cents ORDER BY day) AS INTEGER) AS island
    FROM d
)
SELECT *, min(day) OVER w AS first_day, count(*) OVER w AS seg_days
FROM islands
WINDOW w AS (PARTITION BY code, per_minute_cents, rounding, included_minutes, appointment_fee_cents,
    monthly_base_cents, island);
"""


def _duckdb_line_items_sql(work: Path) -> str:
    start, end = month_window_utc(MONTH)
    dim = days_in_month(MONTH)

    def inside(column: str) -> str:
        return f"{column} >= TIMESTAMPTZ '{start.isoformat()}' AND {column} < TIMESTAMPTZ '{end.isoformat()}'"

    return f"""
WITH c AS (
    SELECT call_id, started_at, duration_ms, status,
        CAST(timezone('Europe/Berlin', started_at) AS DATE) AS day,
        coalesce(status = 'ended' AND duration_ms > 0, false) AS billed,
        (greatest(coalesce(duration_ms, 0), 0) + 999) // 1000 AS seconds
    FROM read_parquet('{work / "calls.parquet"}')
    WHERE {inside("started_at")}
), calls AS (
    SELECT 'call' AS kind, call_id AS source_id, started_at AS occurred_at, c.day, d.code AS plan_code,
        status, billed, d.rounding, duration_ms, seconds,
        CASE WHEN NOT billed THEN 0
             WHEN d.rounding = 'per_second' THEN seconds
             WHEN d.rounding = 'up_minute' THEN (seconds + 59) // 60 * 60
             ELSE (seconds + 30) // 60 * 60 END::BIGINT AS quantity,
        coalesce(d.per_minute_cents, 0)::BIGINT AS rate_cents,
        (quantity * rate_cents + 59) // 60 AS amount_cents,
        d.first_day
    FROM c LEFT JOIN days d ON d.day = c.day
), appointments AS (
    SELECT 'appointment' AS kind, appointment_id AS source_id, starts_at AS occurred_at, a.day,
        d.code AS plan_code, status, coalesce(status = 'accepted', false) AS billed, NULL::VARCHAR AS rounding,
        NULL::BIGINT AS duration_ms, NULL::BIGINT AS seconds, billed::BIGINT AS quantity,
        coalesce(d.appointment_fee_cents, 0)::BIGINT AS rate_cents, quantity * rate_cents AS amount_cents
    FROM (SELECT *, CAST(timezone('Europe/Berlin', starts_at) AS DATE) AS day
          FROM read_parquet('{work / "appointments.parquet"}')
          WHERE {inside("starts_at")}) a
    LEFT JOIN days d ON d.day = a.day
), segments AS (
    SELECT DISTINCT first_day, seg_days, code, per_minute_cents, included_minutes, monthly_base_cents
    FROM days WHERE code IS NOT NULL
), segment_calls AS (
    SELECT first_day, sum(amount_cents) AS cents FROM calls GROUP BY first_day
), plan_rows AS (
    SELECT 'base_fee' AS kind, first_day, 0 AS sort, seg_days::BIGINT AS quantity,
        monthly_base_cents::BIGINT AS rate_cents, (seg_days * monthly_base_cents) // {dim} AS amount_cents, code
    FROM segments
    UNION ALL
    SELECT 'included_minutes', s.first_day, 1, (s.included_minutes * s.seg_days) // {dim},
        s.per_minute_cents, -least((s.included_minutes * s.seg_days) // {dim} * s.per_minute_cents,
        coalesce(sc.cents, 0)), s.code
    FROM segments s LEFT JOIN segment_calls sc USING (first_day)
    WHERE s.included_minutes > 0
)
SELECT kind, source_id, occurred_at, day, plan_code, status, billed, rounding, duration_ms, seconds, quantity,
    rate_cents, amount_cents
FROM calls
UNION ALL
SELECT * FROM appointments
UNION ALL
SELECT * FROM (
    SELECT kind, NULL::VARCHAR, timezone('Europe/Berlin', first_day::TIMESTAMP), first_day, code, NULL::VARCHAR,
        true, NULL::VARCHAR, NULL::BIGINT, NULL::BIGINT, quantity, rate_cents, amount_cents
    FROM plan_rows ORDER BY first_day, sort)
"""


def _duckdb_totals_sql(line_items: Path) -> str:
    # sum() of BIGINT is HUGEINT in DuckDB, and HUGEINT // INTEGER goes through DOUBLE: cast back first.
    return f"""
WITH t AS (
    SELECT
        count(*) FILTER (kind = 'call') AS calls,
        count(*) FILTER (kind = 'call' AND billed) AS billable_calls,
        coalesce(sum(quantity) FILTER (kind = 'call' AND billed), 0)::BIGINT AS billable_seconds,
        coalesce(sum(quantity) FILTER (kind = 'included_minutes'), 0)::BIGINT AS included_minutes,
        count(*) FILTER (kind = 'appointment' AND billed) AS appointments,
        coalesce(sum(amount_cents) FILTER (kind = 'base_fee'), 0)::BIGINT AS base_fee_cents,
        coalesce(sum(amount_cents) FILTER (kind IN ('call', 'included_minutes')), 0)::BIGINT AS calls_cents,
        coalesce(sum(amount_cents) FILTER (kind = 'appointment'), 0)::BIGINT AS appointments_cents,
        coalesce(sum(amount_cents), 0)::BIGINT AS net_cents,
        count(*) AS line_items
    FROM read_parquet('{line_items}')
), plans AS (
    SELECT coalesce(list(plan_code ORDER BY first_day), []) AS plans
    FROM (SELECT plan_code, min(day) AS first_day FROM read_parquet('{line_items}')
          WHERE kind = 'base_fee' GROUP BY plan_code)
)
SELECT '{COMPANY}' AS company_id, '{MONTH:%Y-%m}' AS month, plans, calls, billable_calls, billable_seconds,
    (billable_seconds + 59) // 60 AS billable_minutes, included_minutes, appointments, base_fee_cents,
    calls_cents, appointments_cents, net_cents, {VAT_RATE_BP} AS vat_rate_bp,
    (net_cents * {VAT_RATE_BP} + 5000) // 10000 AS vat_cents,
    net_cents + (net_cents * {VAT_RATE_BP} + 5000) // 10000 AS gross_cents, line_items
FROM t, plans
"""


def verify_same_line_items(work: Path) -> dict:
    """Rows in one file and not the other (as multisets), both ways; 0 and 0 means the same line items."""
    import duckdb

    ours, duck = work / "ours.parquet", work / "duck.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")

    def missing(a: Path, b: Path) -> int:
        query = f"SELECT count(*) FROM (SELECT * FROM read_parquet('{a}') EXCEPT ALL SELECT * FROM read_parquet('{b}'))"
        return con.execute(query).fetchone()[0]

    return {"only_ours": missing(ours, duck), "only_duckdb": missing(duck, ours)}


def _peak_mb() -> float:
    """Peak RSS of this process image. ru_maxrss would carry over the parent's peak through fork + exec,
    so read VmHWM, which starts afresh at exec; ru_maxrss where /proc is missing."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


# -- driver -----------------------------------------------------------------------------------------------


def child(mode: str, work: Path, batch_rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--work", str(work), "--batch-rows", str(batch_rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=262_144)
    parser.add_argument("--work", type=Path, help="keep inputs here and reuse them (default: a temp dir)")
    parser.add_argument("--child", choices=["ours", "ours-tenth", "duckdb", "verify"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        run = {
            "ours": lambda: run_ours(args.work, args.batch_rows),
            "ours-tenth": lambda: run_ours(args.work, args.batch_rows, fraction=10),
            "duckdb": lambda: run_duckdb(args.work),
            "verify": lambda: verify_same_line_items(args.work),
        }[args.child]
        print(json.dumps(run()))
        return

    with tempfile.TemporaryDirectory(prefix="bench_billing_") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        generate_inputs(work, args.calls, args.appointments)
        size_mb = (work / "calls.parquet").stat().st_size / 1e6
        print(
            f"inputs: {args.calls:,} calls ({size_mb:.0f} MB Parquet), {args.appointments:,} appointments "
            f"in {MONTH:%Y-%m}, ready in {time.perf_counter() - began:.1f} s"
        )
        ours = child("ours", work, args.batch_rows)
        tenth = child("ours-tenth", work, args.batch_rows)
        duck = child("duckdb", work, args.batch_rows)
        same = child("verify", work, args.batch_rows)

    assert ours["summary"] == duck["summary"], (ours["summary"], duck["summary"])
    assert same == {"only_ours": 0, "only_duckdb": 0}, same
    s = ours["summary"]
    print(
        f"totals (identical): {s['line_items']:,} line items, {s['billable_calls']:,} billable calls, "
        f"{s['billable_minutes']:,} min, net {s['net_cents']:,} ct, VAT {s['vat_cents']:,} ct, "
        f"gross {s['gross_cents']:,} ct; line-item files hold the same rows"
    )
    rows = [("ours (pyarrow, streaming)", ours), (f"duckdb {duck['duckdb_version']}", duck)]
    for name, r in rows:
        print(
            f"  {name:<28} {r['seconds']:6.2f} s   peak RSS {r['peak_rss_mb']:7.0f} MB "
            f"(after imports {r['baseline_rss_mb']:.0f} MB)   {args.calls / r['seconds'] / 1e6:5.2f} M calls/s"
        )
    print(
        f"  ratio ours/duckdb: time {ours['seconds'] / duck['seconds']:.2f}x, "
        f"peak RSS {ours['peak_rss_mb'] / duck['peak_rss_mb']:.2f}x"
    )
    print(
        f"  ours on the first tenth ({tenth['summary']['calls']:,} calls): {tenth['seconds']:.2f} s, "
        f"peak RSS {tenth['peak_rss_mb']:.0f} MB (memory should not grow with the row count)"
    )
    ok = ours["seconds"] < TARGET_S and ours["peak_rss_mb"] < TARGET_MB
    print(f"  target (ours < {TARGET_S:.0f} s and < {TARGET_MB:.0f} MB): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
