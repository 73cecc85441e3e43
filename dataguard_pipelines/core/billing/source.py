"""Billing inputs from the protected database: the company's plan periods, VAT rate, calls (the Retell
mirror when it holds the company's calls, else the application's `calls` table) and appointments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

from dataguard_pipelines.core.billing.compute import APPOINTMENT_COLUMNS, CALL_COLUMNS
from dataguard_pipelines.core.billing.pricing import Plan, PlanPeriod
from dataguard_pipelines.core.errors import ConfigError

BATCH_ROWS = 50_000
BILLING_TZ = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class BillingSource:
    """Where one company's month comes from (recorded in the snapshot's manifest)."""

    company_id: str
    month: date
    periods: tuple[PlanPeriod, ...]
    vat_rate_bp: int
    calls_from: str  # "retell_mirror" or "calls"


def month_window(month: date) -> tuple[datetime, datetime]:
    """The month in Europe/Berlin (how invoices count), as aware datetimes."""
    start = datetime.combine(month.replace(day=1), time(), BILLING_TZ)
    following = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
    return start, datetime.combine(following, time(), BILLING_TZ)


def load_source(conn, company_id: str, month: date) -> BillingSource:
    row = conn.execute(
        "SELECT vat_rate_bp FROM public.companies WHERE id::text = %s", (company_id,)
    ).fetchone()
    if row is None:
        raise ConfigError(f"unknown company {company_id}: it is not in the companies table")
    periods = tuple(
        PlanPeriod(
            plan=Plan(
                code=r[0],
                per_minute_cents=r[1],
                rounding=r[2],
                included_minutes=r[3],
                appointment_fee_cents=r[4],
                monthly_base_cents=r[5],
            ),
            valid_from=r[6],
            valid_to=r[7],
        )
        for r in conn.execute(
            "SELECT p.code, p.per_minute_cents, p.rounding, p.included_minutes, p.appointment_fee_cents,"
            " p.monthly_base_cents, cpp.valid_from, cpp.valid_to FROM public.company_plan_periods cpp"
            " JOIN public.pricing_plans p ON p.id = cpp.plan_id WHERE cpp.company_id::text = %s"
            " ORDER BY cpp.valid_from",
            (company_id,),
        )
    )
    if not periods:
        raise ConfigError(f"company {company_id} has no pricing plan period; add one to company_plan_periods")
    return BillingSource(
        company_id=company_id,
        month=month.replace(day=1),
        periods=periods,
        vat_rate_bp=row[0],
        calls_from="retell_mirror" if _mirror_has_calls(conn, company_id) else "calls",
    )


def _mirror_has_calls(conn, company_id: str) -> bool:
    if not conn.execute("SELECT to_regclass('dataguard.retell_calls')").fetchone()[0]:
        return False
    return bool(
        conn.execute(
            "SELECT 1 FROM dataguard.retell_calls WHERE company_id = %s AND deleted_at IS NULL LIMIT 1",
            (company_id,),
        ).fetchone()
    )


def iter_calls(conn, source: BillingSource) -> Iterator[pa.RecordBatch]:
    start, end = month_window(source.month)
    if source.calls_from == "retell_mirror":
        query = (
            "SELECT id, starts_at, coalesce((raw->>'duration_ms')::bigint,"
            " (extract(epoch FROM ends_at - starts_at) * 1000)::bigint, 0), status FROM dataguard.retell_calls"
            " WHERE company_id = %s AND deleted_at IS NULL AND starts_at >= %s AND starts_at < %s ORDER BY id"
        )
    else:
        query = (
            "SELECT retell_call_id, started_at, coalesce(duration_ms, 0)::bigint, call_status FROM public.calls"
            " WHERE company_id::text = %s AND started_at >= %s AND started_at < %s ORDER BY retell_call_id"
        )
    yield from _batches(conn, query, (source.company_id, start, end), CALL_COLUMNS)


def iter_appointments(conn, source: BillingSource) -> Iterator[pa.RecordBatch]:
    start, end = month_window(source.month)
    query = (
        "SELECT id::text, starts_at, status FROM public.appointments WHERE company_id::text = %s"
        " AND starts_at >= %s AND starts_at < %s ORDER BY id"
    )
    yield from _batches(conn, query, (source.company_id, start, end), APPOINTMENT_COLUMNS)


def _batches(conn, query: str, params: tuple, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with conn.transaction(), conn.cursor(name="dataguard_billing_source") as cursor:
        cursor.execute(query, params)
        while rows := cursor.fetchmany(BATCH_ROWS):
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
            )
