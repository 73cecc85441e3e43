"""One company's billing month, streamed: Arrow batches of calls and appointments in, priced line items out
batch by batch, and a summary that is derived from those line items alone (so a stored snapshot can be
re-checked without the sources). Memory depends on the batch size, never on the number of rows.

The per-row formulas are the scalar ones in `pricing.py`, applied with pyarrow.compute; see
docs/billing.md for the rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataguard_pipelines.core.billing.pricing import (
    BILLING_TZ,
    ROUNDING_STEPS,
    PlanPeriod,
    PlanSegment,
    days_in_month,
    local_midnight_utc,
    month_window_utc,
    plan_segments,
    prorate,
    vat_cents,
)
from dataguard_pipelines.core.errors import ConfigError

_UTC_US = pa.timestamp("us", tz="UTC")
_LOCAL_US = pa.timestamp("us", tz=str(BILLING_TZ))
_EPOCH = date(1970, 1, 1)

CALL_COLUMNS = pa.schema(
    [
        ("call_id", pa.string()),
        ("started_at", _UTC_US),
        ("duration_ms", pa.int64()),
        ("status", pa.string()),
    ]
)
APPOINTMENT_COLUMNS = pa.schema(
    [
        ("appointment_id", pa.string()),
        ("starts_at", _UTC_US),
        ("status", pa.string()),
    ]
)

KINDS = ("call", "appointment", "base_fee", "included_minutes")
LINE_ITEM_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),  # one of KINDS
        pa.field("source_id", pa.string()),  # call_id / appointment_id; null for plan rows
        pa.field("occurred_at", _UTC_US, nullable=False),  # started_at / starts_at; plan rows: segment start
        pa.field("day", pa.date32(), nullable=False),  # Europe/Berlin calendar day of occurred_at
        pa.field("plan_code", pa.string()),  # plan in force that day; null only on a day without a plan
        pa.field("status", pa.string()),  # source status; null for plan rows
        pa.field("billed", pa.bool_(), nullable=False),  # false: listed for the record, amount 0
        pa.field("rounding", pa.string()),  # calls: the rule applied; null otherwise
        pa.field("duration_ms", pa.int64()),  # calls: as reported; null otherwise
        pa.field("seconds", pa.int64()),  # calls: started seconds, ceil(duration_ms / 1000); null otherwise
        pa.field("quantity", pa.int64(), nullable=False),  # billed seconds, 1, days or minutes: see docs
        pa.field("rate_cents", pa.int64(), nullable=False),  # per minute, per appointment or per month
        pa.field("amount_cents", pa.int64(), nullable=False),  # what the row adds to the net amount
    ]
)

LINE_ITEM_WRITER_OPTIONS: dict[str, object] = {"use_dictionary": ["kind", "plan_code", "status", "rounding"]}
"""pq.ParquetWriter options for line items: dictionary-encode only the low-cardinality columns. Trying it on
ids and timestamps gains nothing and took 40 % of the write time for 10 million rows."""


@dataclass(frozen=True)
class BillingSummary:
    """The month's totals; every field follows from the line items (see `summarize_line_items`)."""

    company_id: str
    month: str
    plans: tuple[str, ...]
    calls: int
    billable_calls: int
    billable_seconds: int
    billable_minutes: int
    included_minutes: int
    appointments: int
    base_fee_cents: int
    calls_cents: int
    appointments_cents: int
    net_cents: int
    vat_rate_bp: int
    vat_cents: int
    gross_cents: int
    line_items: int

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["plans"] = list(self.plans)
        return out


def compute_billing(
    *,
    company_id: str,
    month: date,
    periods: Sequence[PlanPeriod],
    vat_rate_bp: int,
    calls: Iterable[pa.RecordBatch],
    appointments: Iterable[pa.RecordBatch],
    line_items: pq.ParquetWriter | None = None,
) -> BillingSummary:
    """Price one company's month and write its line items (schema LINE_ITEM_SCHEMA) to `line_items`.

    `month` may be any day of the month. Calls and appointments may include rows of other months; they
    are skipped. Every call and appointment that starts in the month becomes one line item (unbilled ones
    with amount 0), followed by a base-fee row, and an included-minutes credit where the plan has some, per
    plan segment. Raises ConfigError if a billable row falls on a day no plan period covers; the writer
    may then hold the batches before it, so the caller discards the file.
    """
    if not 0 <= vat_rate_bp <= 10000:
        raise ConfigError(f"company {company_id}: vat_rate_bp {vat_rate_bp} is outside 0..10000")
    pricing = _MonthPricing.build(company_id, month, periods)
    tally = _Tally()
    segment_call_cents = [0] * len(pricing.segments)

    def emit(items: pa.RecordBatch, kind: str | None = None) -> None:
        tally.add(items, kind=kind)
        if line_items is not None:
            line_items.write_batch(items)

    for batch in calls:
        priced = pricing.price_calls(_conform(batch, CALL_COLUMNS))
        if priced is not None:
            items, per_segment = priced
            for index, cents in per_segment.items():
                segment_call_cents[index] += cents
            emit(items, "call")
    for batch in appointments:
        items = pricing.price_appointments(_conform(batch, APPOINTMENT_COLUMNS))
        if items is not None:
            emit(items, "appointment")
    if pricing.segments:
        emit(pricing.plan_rows(segment_call_cents))
    return tally.summary(company_id=company_id, month=pricing.first_day, vat_rate_bp=vat_rate_bp)


def summarize_line_items(
    batches: Iterable[pa.RecordBatch], *, company_id: str, month: date, vat_rate_bp: int
) -> BillingSummary:
    """Recompute a summary from stored line items alone, e.g. to check a snapshot against its summary."""
    tally = _Tally()
    for batch in batches:
        tally.add(batch)
    return tally.summary(company_id=company_id, month=month.replace(day=1), vat_rate_bp=vat_rate_bp)


@dataclass
class _Tally:
    """Running totals over line-item batches: a small group-by per batch, or three sums if the kind is known."""

    rows: int = 0
    calls: int = 0
    billable_calls: int = 0
    billable_seconds: int = 0
    included_minutes: int = 0
    appointments: int = 0
    base_fee_cents: int = 0
    calls_cents: int = 0
    appointments_cents: int = 0
    plans: list[str] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch, *, kind: str | None = None) -> None:
        """Count a batch; `kind` says every row is of that kind (calls and appointments as priced here,
        where unbilled rows have quantity 0), which replaces the group-by with three sums."""
        self.rows += batch.num_rows
        if batch.num_rows == 0:
            return
        if kind is not None:
            billed = pc.sum(batch.column("billed")).as_py() or 0
            quantity = pc.sum(batch.column("quantity")).as_py() or 0
            self._fold(kind, True, billed, quantity, pc.sum(batch.column("amount_cents")).as_py() or 0, batch)
            self._fold(kind, False, batch.num_rows - billed, 0, 0, batch)
            return
        groups = (
            pa.Table.from_batches([batch.select(["kind", "billed", "quantity", "amount_cents"])])
            .group_by(["kind", "billed"])
            .aggregate([([], "count_all"), ("quantity", "sum"), ("amount_cents", "sum")])
            .to_pylist()
        )
        for g in groups:
            quantity, cents = g["quantity_sum"] or 0, g["amount_cents_sum"] or 0
            self._fold(g["kind"], g["billed"], g["count_all"], quantity, cents, batch)

    def _fold(
        self, kind: str, billed: bool, count: int, quantity: int, cents: int, batch: pa.RecordBatch
    ) -> None:
        """Add one (kind, billed) group's row count and sums."""
        if kind == "call":
            self.calls += count
            self.calls_cents += cents
            if billed:
                self.billable_calls += count
                self.billable_seconds += quantity
        elif kind == "included_minutes":
            self.included_minutes += quantity
            self.calls_cents += cents
        elif kind == "appointment":
            self.appointments_cents += cents
            if billed:
                self.appointments += count
        elif kind == "base_fee":
            self.base_fee_cents += cents
            codes = batch.filter(pc.equal(batch.column("kind"), "base_fee")).column("plan_code")
            self.plans.extend(c for c in codes.to_pylist() if c not in self.plans)
        else:
            raise ValueError(f"line item kind {kind!r} is not one of {KINDS}")

    def summary(self, *, company_id: str, month: date, vat_rate_bp: int) -> BillingSummary:
        net = self.base_fee_cents + self.calls_cents + self.appointments_cents
        vat = vat_cents(net, vat_rate_bp)
        return BillingSummary(
            company_id=company_id,
            month=f"{month.year:04d}-{month.month:02d}",
            plans=tuple(self.plans),
            calls=self.calls,
            billable_calls=self.billable_calls,
            billable_seconds=self.billable_seconds,
            billable_minutes=-(-self.billable_seconds // 60),
            included_minutes=self.included_minutes,
            appointments=self.appointments,
            base_fee_cents=self.base_fee_cents,
            calls_cents=self.calls_cents,
            appointments_cents=self.appointments_cents,
            net_cents=net,
            vat_rate_bp=vat_rate_bp,
            vat_cents=vat,
            gross_cents=net + vat,
            line_items=self.rows,
        )


@dataclass(frozen=True)
class _MonthPricing:
    """The month's plan segments as small lookup arrays indexed by day of month and by segment."""

    company_id: str
    first_day: date
    days: int
    segments: list[PlanSegment]
    start: pa.Scalar
    end: pa.Scalar
    day_segment: pa.Array  # int32 per day of month; null on a day without a plan
    code: pa.Array
    rounding: pa.Array
    add: pa.Array
    step: pa.Array
    rate: pa.Array
    fee: pa.Array

    @classmethod
    def build(cls, company_id: str, month: date, periods: Sequence[PlanPeriod]) -> _MonthPricing:
        first = month.replace(day=1)
        days = days_in_month(first)
        segments = plan_segments(periods, first, company_id=company_id)
        day_segment: list[int | None] = [None] * days
        for index, seg in enumerate(segments):
            offset = (seg.first_day - first).days
            day_segment[offset : offset + seg.days] = [index] * seg.days
        plans = [s.plan for s in segments]
        start, end = month_window_utc(first)
        return cls(
            company_id=company_id,
            first_day=first,
            days=days,
            segments=segments,
            start=pa.scalar(start, _UTC_US),
            end=pa.scalar(end, _UTC_US),
            day_segment=pa.array(day_segment, pa.int32()),
            code=pa.array([p.code for p in plans], pa.string()),
            rounding=pa.array([p.rounding for p in plans], pa.string()),
            add=pa.array([ROUNDING_STEPS[p.rounding][0] for p in plans], pa.int64()),
            step=pa.array([ROUNDING_STEPS[p.rounding][1] for p in plans], pa.int64()),
            rate=pa.array([p.per_minute_cents for p in plans], pa.int64()),
            fee=pa.array([p.appointment_fee_cents for p in plans], pa.int64()),
        )

    def _in_month(self, batch: pa.RecordBatch, ts_column: str) -> tuple[pa.RecordBatch, pa.Array, pa.Array]:
        """The batch's rows of this month, their Berlin day and their plan segment (null: no plan)."""
        ts = batch.column(ts_column)
        inside = pc.and_(pc.greater_equal(ts, self.start), pc.less(ts, self.end))
        batch = batch.filter(inside)
        day = pc.local_timestamp(batch.column(ts_column).cast(_LOCAL_US)).cast(pa.date32())
        day_index = pc.subtract(day.cast(pa.int32()), (self.first_day - _EPOCH).days)
        return batch, day, pc.take(self.day_segment, day_index)

    def _require_plan(self, billed: pa.Array, segment: pa.Array, day: pa.Array) -> None:
        missing = pc.and_(billed, pc.is_null(segment))
        if pc.any(missing).as_py():
            first = pc.min(pc.filter(day, missing)).as_py()
            raise ConfigError(
                f"company {self.company_id}: no plan period covers {first}, which has billable calls or "
                "appointments; add a company_plan_periods row for that day"
            )

    def price_calls(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[int, int]] | None:
        batch, day, segment = self._in_month(batch, "started_at")
        n = batch.num_rows
        if n == 0:
            return None
        duration_ms = batch.column("duration_ms")
        status = batch.column("status")
        billed = pc.and_(
            pc.fill_null(pc.equal(status, "ended"), False),
            pc.fill_null(pc.greater(duration_ms, 0), False),
        )
        self._require_plan(billed, segment, day)
        per_row = _PerRow.of(segment)
        ms = pc.fill_null(pc.max_element_wise(duration_ms, 0), 0)
        seconds = pc.divide(pc.add(ms, 999), 1000)
        step = per_row.value(self.step)
        rounded = pc.multiply(pc.divide(pc.add(seconds, per_row.value(self.add)), step), step)
        quantity = pc.fill_null(pc.if_else(billed, rounded, 0), 0)
        rate = pc.fill_null(per_row.column(self.rate), 0)
        amount = pc.divide(pc.add(pc.multiply(quantity, rate), 59), 60)
        items = pa.RecordBatch.from_arrays(
            [
                pa.repeat(pa.scalar("call"), n),
                batch.column("call_id"),
                batch.column("started_at"),
                day,
                per_row.column(self.code),
                status,
                billed,
                per_row.column(self.rounding),
                duration_ms,
                seconds,
                quantity,
                rate,
                amount,
            ],
            schema=LINE_ITEM_SCHEMA,
        )
        return items, self._cents_per_segment(per_row, amount)

    def _cents_per_segment(self, per_row: _PerRow, amount: pa.Array) -> dict[int, int]:
        if per_row.only is not None:
            return {per_row.only: pc.sum(amount).as_py() or 0}
        sums = (
            pa.table({"segment": per_row.segment, "amount": amount})
            .group_by("segment")
            .aggregate([("amount", "sum")])
            .to_pylist()
        )
        return {g["segment"]: g["amount_sum"] for g in sums if g["segment"] is not None}

    def price_appointments(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        batch, day, segment = self._in_month(batch, "starts_at")
        n = batch.num_rows
        if n == 0:
            return None
        status = batch.column("status")
        billed = pc.fill_null(pc.equal(status, "accepted"), False)
        self._require_plan(billed, segment, day)
        per_row = _PerRow.of(segment)
        quantity = pc.cast(billed, pa.int64())
        rate = pc.fill_null(per_row.column(self.fee), 0)
        return pa.RecordBatch.from_arrays(
            [
                pa.repeat(pa.scalar("appointment"), n),
                batch.column("appointment_id"),
                batch.column("starts_at"),
                day,
                per_row.column(self.code),
                status,
                billed,
                pa.nulls(n, pa.string()),
                pa.nulls(n, pa.int64()),
                pa.nulls(n, pa.int64()),
                quantity,
                rate,
                pc.multiply(quantity, rate),
            ],
            schema=LINE_ITEM_SCHEMA,
        )

    def plan_rows(self, segment_call_cents: Sequence[int]) -> pa.RecordBatch:
        """Per segment: the prorated base fee, then the included-minutes credit (capped at the segment's
        call charges) if the plan includes minutes."""
        rows: list[dict] = []
        for seg, call_cents in zip(self.segments, segment_call_cents, strict=True):
            plan = seg.plan
            common = {
                "source_id": None,
                "occurred_at": local_midnight_utc(seg.first_day),
                "day": seg.first_day,
                "plan_code": plan.code,
                "status": None,
                "billed": True,
                "rounding": None,
                "duration_ms": None,
                "seconds": None,
            }
            base = prorate(plan.monthly_base_cents, seg.days, self.days)
            rows.append(
                common
                | {"kind": "base_fee", "quantity": seg.days, "rate_cents": plan.monthly_base_cents}
                | {"amount_cents": base}
            )
            if plan.included_minutes:
                minutes = prorate(plan.included_minutes, seg.days, self.days)
                credit = min(minutes * plan.per_minute_cents, call_cents)
                rows.append(
                    common
                    | {"kind": "included_minutes", "quantity": minutes, "rate_cents": plan.per_minute_cents}
                    | {"amount_cents": -credit}
                )
        return pa.RecordBatch.from_pylist(rows, schema=LINE_ITEM_SCHEMA)


@dataclass(frozen=True)
class _PerRow:
    """A segment attribute for each row of a batch: a take by segment, or a broadcast when the whole batch
    lies in one segment (the usual case, as sources come ordered by time)."""

    segment: pa.Array
    only: int | None

    @classmethod
    def of(cls, segment: pa.Array) -> _PerRow:
        if segment.null_count == 0:
            bounds = pc.min_max(segment)
            if bounds["min"] == bounds["max"]:
                return cls(segment, bounds["min"].as_py())
        return cls(segment, None)

    def value(self, by_segment: pa.Array) -> pa.Array | pa.Scalar:
        """For arithmetic, where a scalar broadcasts."""
        return by_segment[self.only] if self.only is not None else pc.take(by_segment, self.segment)

    def column(self, by_segment: pa.Array) -> pa.Array:
        if self.only is not None:
            return pa.repeat(by_segment[self.only], len(self.segment))
        return pc.take(by_segment, self.segment)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch's columns named in `schema`, cast to its types (extra columns are ignored)."""
    missing = [name for name in schema.names if name not in batch.schema.names]
    if missing:
        raise ValueError(f"batch lacks column(s) {', '.join(missing)}; expected {schema}")
    arrays = []
    for f in schema:
        column = batch.column(f.name)
        if column.type != f.type:
            if pa.types.is_timestamp(column.type) and column.type.tz is None:
                raise ValueError(f"column {f.name} is a timestamp without time zone; pass UTC timestamps")
            column = column.cast(f.type, safe=False)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
