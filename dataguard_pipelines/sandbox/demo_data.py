"""The demo dataset: a deterministic copy-alike of the booking SaaS whose database was lost.

`seed` builds 130+ tables (core booking domain plus the Laravel long tail) in an empty database, entirely
server-side. Every value derives from hashes of ids and from `anchor`, so the same (scale, anchor) gives
the same rows, and backups, restores and billing runs can be compared byte for byte.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg

from dataguard_pipelines.core.errors import ConfigError, SourceError
from dataguard_pipelines.sandbox.demo import (
    fill_bulk,
    fill_fixed,
    finish,
    schema_core,
    tail_billing,
    tail_integrations,
    tail_laravel,
    tail_messaging,
    tail_ops,
    tail_records,
    tail_shop,
    transcripts,
)
from dataguard_pipelines.sandbox.demo.companies import DEMO_COMPANIES, PRICING_PLANS, DemoCompany, PricingPlan
from dataguard_pipelines.sandbox.demo.layout import build_layout, helper_tables_sql
from dataguard_pipelines.sandbox.demo.sql import Ctx

__all__ = [
    "CRITICAL_TABLES",
    "DEMO_COMPANIES",
    "GENERATOR_VERSION",
    "PRICING_PLANS",
    "DemoCompany",
    "PricingPlan",
    "SeedReport",
    "default_anchor",
    "is_seeded",
    "seed",
]

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
CRITICAL_TABLES: tuple[str, ...] = (
    "users",
    "companies",
    "branches",
    "customers",
    "appointments",
    "calls",
    "staff",
    "services",
    "calcom_event_types",
)

# Rows per unit of scale; scale 1 gives about 50 MB (pg_database_size), growing linearly.
CUSTOMERS_PER_SCALE = 3600
APPOINTMENTS_PER_SCALE = 7200
OTHER_CALLS_PER_SCALE = 5000

_TAIL_MODULES = (
    tail_laravel,
    tail_billing,
    tail_messaging,
    tail_records,
    tail_integrations,
    tail_shop,
    tail_ops,
)
_SESSION_SETTINGS = (
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL synchronous_commit = off",
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '128MB'",
    "SET LOCAL maintenance_work_mem = '256MB'",
    "SET LOCAL statement_timeout = 0",
    "SET LOCAL search_path = public",
)


@dataclass(frozen=True)
class SeedReport:
    """What `seed` built: tables in public (partitions not counted), rows inserted, database size, time."""

    tables: int
    rows: int
    database_bytes: int
    duration_s: float


def default_anchor() -> date:
    """The first day of the current UTC month: history runs 24 months before it, up to 27 days after."""
    return datetime.now(UTC).date().replace(day=1)


def seed(
    dsn: str,
    *,
    scale: float = 1.0,
    anchor: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Create and fill the demo schema in the empty database at `dsn`, in one transaction.

    Raises ConfigError for a bad scale or a database that already has tables in public (nothing is
    touched then), SourceError when PostgreSQL fails mid-way (the transaction leaves the database empty).
    """
    if not (isinstance(scale, int | float) and math.isfinite(scale) and 0 < scale <= 1000):
        raise ConfigError(f"demo scale {scale!r} is out of range; use a number above 0 and at most 1000")
    ctx = Ctx(scale=float(scale), anchor=anchor or default_anchor())
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    try:
        with psycopg.connect(dsn) as conn:
            _refuse_unless_empty(conn)
            with conn.transaction(), conn.cursor() as cur:
                rows = _build(cur, ctx, say)
            say("analyzing tables")
            conn.autocommit = True
            conn.execute("ANALYZE")
            tables, size = conn.execute(
                "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                " AND relkind IN ('r', 'p') AND NOT relispartition), pg_database_size(current_database())"
            ).fetchone()
    except psycopg.Error as exc:
        raise SourceError(f"seeding the demo database failed: {_first_line(exc)}") from exc
    report = SeedReport(tables=tables, rows=rows, database_bytes=size, duration_s=time.monotonic() - started)
    log.info(
        "seeded demo data at scale %s: %d tables, %d rows, %.1f MB in %.1f s",
        scale,
        report.tables,
        report.rows,
        report.database_bytes / 1e6,
        report.duration_s,
    )
    say(
        f"done: {report.tables} tables, {report.rows:,} rows, {report.database_bytes / 1e6:.1f} MB "
        f"in {report.duration_s:.1f} s"
    )
    return report


def is_seeded(dsn: str) -> bool:
    """Whether `seed` completed here: it writes public.demo_meta last, in the same transaction."""
    try:
        with psycopg.connect(dsn) as conn:
            if conn.execute("SELECT to_regclass('public.demo_meta')").fetchone()[0] is None:
                return False
            return conn.execute("SELECT EXISTS (SELECT 1 FROM public.demo_meta)").fetchone()[0]
    except psycopg.Error as exc:
        raise SourceError(f"cannot check the demo marker: {_first_line(exc)}") from exc


def _refuse_unless_empty(conn: psycopg.Connection) -> None:
    version = conn.info.server_version
    if version < 130000:
        raise ConfigError(
            f"the demo needs PostgreSQL 13 or newer; {conn.info.dbname} runs {version // 10000}"
        )
    count = conn.execute(
        "SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace('public')"
        " AND relkind IN ('r', 'p', 'v', 'm', 'f')"
    ).fetchone()[0]
    conn.rollback()
    if count:
        raise ConfigError(
            f"database {conn.info.dbname} is not empty ({count} tables or views in schema public); "
            "seed the demo into an empty database"
        )


def _build(cur: psycopg.Cursor, ctx: Ctx, say: Callable[[str], None]) -> int:
    """Run every statement of the seed; returns the number of rows inserted."""
    rows = 0

    def run(sql: str) -> int:
        cur.execute(sql)
        return max(cur.rowcount, 0)

    def fill(label: str, sql: str) -> None:
        nonlocal rows
        t0 = time.monotonic()
        n = run(sql)
        rows += n
        say(f"{label}: {n:,} rows in {time.monotonic() - t0:.1f} s")

    for setting in _SESSION_SETTINGS:
        run(setting)
    run("CREATE SCHEMA IF NOT EXISTS public")
    ddl = [schema_core.TABLES] + [m.DDL for m in _TAIL_MODULES]
    run(schema_core.TYPES_AND_FUNCTIONS)
    for block in ddl:
        run(block)
    run(tail_laravel.partitions_sql(ctx))
    tables = [name for block in ddl for name in re.findall(r"CREATE TABLE (\w+)", block)]
    say(f"schema: {len(tables)} tables")

    customers = ctx.n(CUSTOMERS_PER_SCALE, minimum=24)
    layout = build_layout(ctx, customers)
    for sql in helper_tables_sql(ctx, layout) + transcripts.templates_sql():
        run(sql)
    for sql in [
        fill_fixed.plans_sql(ctx),
        *fill_fixed.companies_sql(ctx, layout),
        *fill_fixed.shops_sql(ctx, layout),
        fill_fixed.users_sql(ctx, layout),
    ]:
        rows += run(sql)
    say(f"companies: {len(layout)} with plans, branches, staff, services, event types, users")

    fill("customers", fill_bulk.customers_sql(ctx, sum(c.cust_n for c in layout)))
    fill("appointments", fill_bulk.appointments_sql(ctx, ctx.n(APPOINTMENTS_PER_SCALE, minimum=40)))
    fill("calls", fill_bulk.calls_sql(ctx, ctx.n(OTHER_CALLS_PER_SCALE, minimum=20)))
    fill("call_events_raw", fill_bulk.call_events_sql(ctx))

    for module in _TAIL_MODULES:
        t0, before = time.monotonic(), rows
        for _table, sql in module.fill(ctx):
            rows += run(sql)
        name = module.__name__.rsplit(".", 1)[-1]
        say(f"{name}: {rows - before:,} rows in {time.monotonic() - t0:.1f} s")
    rows += run(tail_laravel.migrations_sql(tables))

    t0 = time.monotonic()
    fks = schema_core.FOREIGN_KEYS + tuple(fk for m in _TAIL_MODULES for fk in m.FOREIGN_KEYS)
    for sql in finish.foreign_keys_sql(fks):
        run(sql)
    for sql in [
        schema_core.INDEXES,
        *(m.INDEXES for m in _TAIL_MODULES),
        schema_core.COMMENTS,
        finish.VIEWS,
        *finish.triggers_sql(),
        finish.RESET_SEQUENCES,
    ]:
        run(sql)
    for sql in finish.meta_sql(ctx.scale, ctx.anchor.isoformat(), GENERATOR_VERSION):
        run(sql)
    say(f"constraints, indexes, views, triggers: {len(fks)} foreign keys in {time.monotonic() - t0:.1f} s")
    return rows


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
