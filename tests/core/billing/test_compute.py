"""compute_billing on hand-computed months: expected numbers are literals worked out in the comments, not
re-derived by the code under test. Every case also checks that the summary follows from the line items."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataguard_pipelines.core.billing.compute import (
    APPOINTMENT_COLUMNS,
    CALL_COLUMNS,
    LINE_ITEM_SCHEMA,
    BillingSummary,
    compute_billing,
    summarize_line_items,
)
from dataguard_pipelines.core.billing.pricing import (
    Plan,
    PlanPeriod,
    billed_seconds,
    call_amount_cents,
    call_seconds,
)
from dataguard_pipelines.core.errors import ConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "billing.md"
MARCH = date(2025, 3, 1)

STARTER = Plan("starter", 29, "up_minute", 0, 0, 0)
BASIC = Plan("basic", 19, "up_minute", 100, 0, 4900)
PRO = Plan("pro", 15, "per_second", 500, 50, 14900)
NEAREST = Plan("near", 10, "nearest_minute", 0, 0, 0)
SECONDS = Plan("sec", 15, "per_second", 0, 0, 0)
FLAT = Plan("flat", 10, "up_minute", 0, 0, 0)


def always(plan: Plan) -> list[PlanPeriod]:
    return [PlanPeriod(plan, date(2024, 1, 1), None)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def calls_batch(rows: list[tuple]) -> pa.RecordBatch:
    """rows: (call_id, started_at, duration_ms, status)."""
    return pa.RecordBatch.from_pylist(
        [dict(zip(CALL_COLUMNS.names, r, strict=True)) for r in rows], CALL_COLUMNS
    )


def appointments_batch(rows: list[tuple]) -> pa.RecordBatch:
    """rows: (appointment_id, starts_at, status)."""
    return pa.RecordBatch.from_pylist(
        [dict(zip(APPOINTMENT_COLUMNS.names, r, strict=True)) for r in rows], APPOINTMENT_COLUMNS
    )


def ended(seconds_list: list[float], at: datetime = utc(2025, 3, 5, 10)) -> pa.RecordBatch:
    return calls_batch([(f"c{i}", at, round(s * 1000), "ended") for i, s in enumerate(seconds_list)])


def bill(
    periods: list[PlanPeriod],
    calls: list[pa.RecordBatch] = (),
    appointments: list[pa.RecordBatch] = (),
    *,
    vat_rate_bp: int = 1900,
    month: date = MARCH,
    company_id: str = "7",
) -> tuple[BillingSummary, pa.Table]:
    """Run compute_billing into an in-memory Parquet file; check the summary against its line items."""
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, LINE_ITEM_SCHEMA) as writer:
        summary = compute_billing(
            company_id=company_id,
            month=month,
            periods=periods,
            vat_rate_bp=vat_rate_bp,
            calls=calls,
            appointments=appointments,
            line_items=writer,
        )
    table = pq.read_table(pa.BufferReader(sink.getvalue()))
    assert table.schema == LINE_ITEM_SCHEMA
    assert table.num_rows == summary.line_items
    assert sum(table.column("amount_cents").to_pylist()) == summary.net_cents
    again = summarize_line_items(
        table.to_batches(), company_id=company_id, month=month, vat_rate_bp=vat_rate_bp
    )
    assert again == summary
    return summary, table


def amounts(table: pa.Table, kind: str = "call") -> list[int]:
    return [r["amount_cents"] for r in table.to_pylist() if r["kind"] == kind]


def test_up_minute_rounds_each_call_up_to_a_whole_minute() -> None:
    # 29 ct/min: 0 ms not billed; 1 ms, 59 s, 60 s -> 1 min = 29; 60.001 s (61 started s), 61 s -> 2 min = 58
    calls = ended([0, 0.001, 59, 60, 60.001, 61])
    summary, table = bill(always(STARTER), [calls])
    assert amounts(table) == [0, 29, 29, 29, 58, 58]
    assert summary.calls == 6
    assert summary.billable_calls == 5
    assert summary.billable_seconds == 420  # 60 + 60 + 60 + 120 + 120
    assert summary.billable_minutes == 7
    assert summary.calls_cents == 203  # 4 x 29 + ... = 29 + 29 + 29 + 58 + 58
    assert summary.net_cents == 203
    assert summary.vat_cents == 39  # 38.57
    assert summary.gross_cents == 242
    assert summary.line_items == 7  # 6 calls + base fee row


def test_nearest_minute_rounds_half_a_minute_up() -> None:
    # 10 ct/min: 29 s -> 0; 30 s -> 1 min; 89 s -> 1; 89.5 s is 90 started s -> 2; 90 s -> 2; 91 s -> 2; 61 s -> 1
    calls = ended([29, 30, 89, 89.5, 90, 91, 61])
    summary, table = bill(always(NEAREST), [calls])
    assert amounts(table) == [0, 10, 10, 20, 20, 20, 10]
    assert [r["quantity"] for r in table.to_pylist() if r["kind"] == "call"] == [0, 60, 60, 120, 120, 120, 60]
    assert summary.billable_calls == 7  # the 29 s call is billed, at 0 minutes
    assert summary.billable_seconds == 540
    assert summary.billable_minutes == 9
    assert summary.net_cents == 90
    assert summary.vat_cents == 17  # 17.1
    assert summary.gross_cents == 107


def test_per_second_rounds_each_call_up_to_a_whole_cent() -> None:
    # 15 ct/min = 0.25 ct/s: 1 ms (1 s) 0.25 -> 1; 4 s 1.00 -> 1; 5 s 1.25 -> 2; 59 s 14.75 -> 15;
    # 60 s 15; 61 s 15.25 -> 16; 61.001 s (62 s) 15.5 -> 16
    calls = ended([0.001, 4, 5, 59, 60, 61, 61.001])
    summary, table = bill(always(SECONDS), [calls])
    assert amounts(table) == [1, 1, 2, 15, 15, 16, 16]
    assert summary.billable_seconds == 252  # 1 + 4 + 5 + 59 + 60 + 61 + 62
    assert summary.billable_minutes == 5  # ceil(4.2)
    assert summary.net_cents == 66
    assert summary.vat_cents == 13  # 12.54
    assert summary.gross_cents == 79


def test_zero_call_month_bills_only_the_base_fee() -> None:
    summary, table = bill(always(PRO))
    assert [(r["kind"], r["quantity"], r["amount_cents"]) for r in table.to_pylist()] == [
        ("base_fee", 31, 14900),
        ("included_minutes", 500, 0),  # nothing to deduct from
    ]
    assert summary.as_dict() == {
        "company_id": "7",
        "month": "2025-03",
        "plans": ["pro"],
        "calls": 0,
        "billable_calls": 0,
        "billable_seconds": 0,
        "billable_minutes": 0,
        "included_minutes": 500,
        "appointments": 0,
        "base_fee_cents": 14900,
        "calls_cents": 0,
        "appointments_cents": 0,
        "net_cents": 14900,
        "vat_rate_bp": 1900,
        "vat_cents": 2831,  # 14900 x 0.19 exactly
        "gross_cents": 17731,
        "line_items": 2,
    }


def test_zero_call_month_on_a_free_plan_is_zero() -> None:
    summary, _ = bill(always(STARTER))
    assert (summary.net_cents, summary.gross_cents, summary.line_items) == (0, 0, 1)


MID_MONTH_PERIODS = [
    PlanPeriod(BASIC, date(2025, 1, 1), date(2025, 3, 16)),
    PlanPeriod(PRO, date(2025, 3, 16), None),
]
MID_MONTH_CALLS = [
    ("c1", utc(2025, 3, 2, 9), 3_000_000, "ended"),  # basic, 50 min -> 950
    ("c2", utc(2025, 3, 15, 22, 59), 61_000, "ended"),  # 23:59 on 15 March in Berlin: basic, 2 min -> 38
    ("c3", utc(2025, 3, 15, 23, 30), 61_000, "ended"),  # 00:30 on 16 March in Berlin: pro, 61 s -> 16
    ("c4", utc(2025, 3, 20, 12), 90_500, "ended"),  # pro, 91 s -> 22.75 -> 23
]
MID_MONTH_APPOINTMENTS = [
    ("a1", utc(2025, 3, 10, 9), "accepted"),  # basic: fee 0
    ("a2", utc(2025, 3, 20, 9), "accepted"),  # pro: 50
    ("a3", utc(2025, 3, 21, 9), "cancelled"),
    ("a4", utc(2025, 3, 22, 9), "rejected"),
]


def test_mid_month_plan_change_prices_each_day_with_its_plan_and_prorates() -> None:
    summary, table = bill(
        MID_MONTH_PERIODS, [calls_batch(MID_MONTH_CALLS)], [appointments_batch(MID_MONTH_APPOINTMENTS)]
    )
    rows = table.to_pylist()
    assert [
        (r["source_id"], r["plan_code"], r["day"], r["quantity"], r["amount_cents"]) for r in rows[:4]
    ] == [
        ("c1", "basic", date(2025, 3, 2), 3000, 950),
        ("c2", "basic", date(2025, 3, 15), 120, 38),
        ("c3", "pro", date(2025, 3, 16), 61, 16),
        ("c4", "pro", date(2025, 3, 20), 91, 23),
    ]
    assert amounts(table, "appointment") == [0, 50, 0, 0]
    assert [(r["kind"], r["plan_code"], r["day"], r["quantity"], r["amount_cents"]) for r in rows[8:]] == [
        ("base_fee", "basic", date(2025, 3, 1), 15, 2370),  # 4900 x 15 / 31 = 2370.97
        ("included_minutes", "basic", date(2025, 3, 1), 48, -912),  # 100 x 15 / 31 = 48.4; min(48 x 19, 988)
        ("base_fee", "pro", date(2025, 3, 16), 16, 7690),  # 14900 x 16 / 31 = 7690.32
        ("included_minutes", "pro", date(2025, 3, 16), 258, -39),  # 500 x 16 / 31 = 258.1; min(3870, 16 + 23)
    ]
    assert rows[8]["occurred_at"] == utc(2025, 2, 28, 23)  # midnight in Berlin
    assert rows[10]["occurred_at"] == utc(2025, 3, 15, 23)
    assert summary.plans == ("basic", "pro")
    assert summary.base_fee_cents == 10060
    assert summary.calls_cents == 76  # 988 - 912 + 39 - 39
    assert summary.included_minutes == 306
    assert summary.appointments == 2
    assert summary.appointments_cents == 50
    assert summary.net_cents == 10186
    assert summary.vat_cents == 1935  # 1935.34
    assert summary.gross_cents == 12121


def test_compute_billing_matches_worked_example_in_docs() -> None:
    block = re.search(r"```json\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    summary, _ = bill(
        MID_MONTH_PERIODS, [calls_batch(MID_MONTH_CALLS)], [appointments_batch(MID_MONTH_APPOINTMENTS)]
    )
    assert summary.as_dict() == json.loads(block.group(1))


def test_calls_outside_the_berlin_month_are_ignored() -> None:
    calls = calls_batch(
        [
            ("feb", utc(2025, 2, 28, 22, 59, 59), 60_000, "ended"),  # 23:59:59 on 28 Feb in Berlin
            ("first", utc(2025, 2, 28, 23), 60_000, "ended"),  # 00:00 on 1 March in Berlin
            ("last", utc(2025, 3, 31, 21, 59, 59), 60_000, "ended"),  # 23:59:59 on 31 March (CEST)
            ("apr", utc(2025, 3, 31, 22), 60_000, "ended"),  # 00:00 on 1 April in Berlin
            ("never", None, 60_000, "registered"),
        ]
    )
    summary, table = bill(always(STARTER), [calls])
    assert [(r["source_id"], r["day"]) for r in table.to_pylist() if r["kind"] == "call"] == [
        ("first", date(2025, 3, 1)),
        ("last", date(2025, 3, 31)),
    ]
    assert (summary.calls, summary.net_cents, summary.vat_cents, summary.gross_cents) == (2, 58, 11, 69)


def test_calls_not_ended_or_without_duration_are_listed_unbilled() -> None:
    at = utc(2025, 3, 5, 10)
    calls = calls_batch(
        [
            ("ok", at, 60_000, "ended"),  # 29
            ("err", at, 60_000, "error"),
            ("live", at, 60_000, "ongoing"),
            ("reg", at, None, "registered"),
            ("zero", at, 0, "ended"),
            ("none", at, None, "ended"),
        ]
    )
    summary, table = bill(always(STARTER), [calls])
    rows = table.to_pylist()[:6]
    assert [(r["source_id"], r["billed"], r["quantity"], r["amount_cents"]) for r in rows] == [
        ("ok", True, 60, 29),
        ("err", False, 0, 0),
        ("live", False, 0, 0),
        ("reg", False, 0, 0),
        ("zero", False, 0, 0),
        ("none", False, 0, 0),
    ]
    assert (summary.calls, summary.billable_calls, summary.net_cents) == (6, 1, 29)


def test_appointments_bill_the_fee_for_accepted_ones_only() -> None:
    appointments = appointments_batch(
        [
            ("a1", utc(2025, 3, 3, 8), "accepted"),
            ("a2", utc(2025, 3, 4, 8), "accepted"),
            ("a3", utc(2025, 3, 31, 21), "accepted"),  # 23:00 on 31 March in Berlin
            ("a4", utc(2025, 3, 5, 8), "cancelled"),
            ("a5", utc(2025, 3, 6, 8), "rejected"),
            ("a6", utc(2025, 3, 7, 8), "pending"),
            ("a7", utc(2025, 4, 2, 8), "accepted"),  # April
        ]
    )
    summary, table = bill(always(PRO), [], [appointments])
    assert amounts(table, "appointment") == [50, 50, 50, 0, 0, 0]
    assert (summary.appointments, summary.appointments_cents) == (3, 150)
    assert summary.net_cents == 15050  # 14900 base + 150
    assert summary.vat_cents == 2860  # 2859.5 rounds half up
    assert summary.gross_cents == 17910


@pytest.mark.parametrize(("vat_rate_bp", "vat"), [(1900, 10), (700, 4), (0, 0), (10000, 50)])
def test_vat_rounds_half_up(vat_rate_bp: int, vat: int) -> None:
    # five one-minute calls at 10 ct: net 50; 19 % = 9.5 -> 10, 7 % = 3.5 -> 4
    summary, _ = bill(always(FLAT), [ended([60] * 5)], vat_rate_bp=vat_rate_bp)
    assert (summary.net_cents, summary.vat_cents, summary.gross_cents) == (50, vat, 50 + vat)


def test_included_minutes_never_credit_more_than_the_calls_cost() -> None:
    # basic all month: 100 included minutes; 30 calls of 3 min 1 s -> 4 min each = 120 min -> 2280 ct;
    # credit 100 x 19 = 1900; calls 380; base 4900
    summary, table = bill(always(BASIC), [ended([181] * 30)])
    assert amounts(table, "included_minutes") == [-1900]
    assert (summary.billable_minutes, summary.calls_cents, summary.net_cents) == (120, 380, 5280)


def test_month_starting_without_plan_prorates_and_refuses_billable_calls_before_it() -> None:
    periods = [PlanPeriod(PRO, date(2025, 3, 10), None)]
    # 22 days of 31: base 14900 x 22 / 31 = 10574.19 -> 10574; included 500 x 22 / 31 = 354.8 -> 354
    unbilled = calls_batch([("err", utc(2025, 3, 5, 10), 5_000, "error")])
    summary, table = bill(periods, [unbilled])
    assert table.to_pylist()[0]["plan_code"] is None
    assert (summary.base_fee_cents, summary.included_minutes, summary.net_cents) == (10574, 354, 10574)
    with pytest.raises(ConfigError, match=r"company 7: no plan period covers 2025-03-05"):
        bill(periods, [ended([60], at=utc(2025, 3, 5, 10))])


def test_compute_billing_refuses_vat_rate_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"vat_rate_bp 10001"):
        bill(always(PRO), vat_rate_bp=10001)


def test_compute_billing_accepts_other_integer_and_timestamp_units_and_extra_columns() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "call_id": ["x"],
            "started_at": pa.array([utc(2025, 3, 5, 10)], pa.timestamp("ns", tz="Europe/Berlin")),
            "duration_ms": pa.array([61_000], pa.int32()),
            "status": ["ended"],
            "agent_id": ["agent_1"],
        }
    )
    summary, _ = bill(always(STARTER), [batch])
    assert summary.net_cents == 58


def test_compute_billing_refuses_naive_timestamps() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "call_id": ["x"],
            "started_at": pa.array([datetime(2025, 3, 5, 10)], pa.timestamp("us")),
            "duration_ms": [61_000],
            "status": ["ended"],
        }
    )
    with pytest.raises(ValueError, match=r"started_at is a timestamp without time zone"):
        bill(always(STARTER), [batch])


# -- properties ---------------------------------------------------------------------------------------------

MONTH_START = utc(2025, 2, 28, 20)  # a few hours before the Berlin month, to a few hours after it
MONTH_SPAN_S = int((utc(2025, 4, 1, 2) - MONTH_START).total_seconds())
call_rows = st.lists(
    st.tuples(
        st.integers(0, MONTH_SPAN_S),
        st.one_of(st.none(), st.integers(0, 4_000_000)),
        st.sampled_from(["ended", "ended", "ended", "error", "ongoing", None]),
    ),
    max_size=120,
)
plan_strategy = st.builds(
    Plan,
    code=st.sampled_from(["a", "b", "c"]),
    per_minute_cents=st.integers(0, 60),
    rounding=st.sampled_from(["per_second", "up_minute", "nearest_minute"]),
    included_minutes=st.integers(0, 300),
    appointment_fee_cents=st.integers(0, 100),
    monthly_base_cents=st.integers(0, 20_000),
)


def as_calls(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "call_id": f"c{i}",
                "started_at": MONTH_START + timedelta(seconds=t),
                "duration_ms": ms,
                "status": s,
            }
            for i, (t, ms, s) in enumerate(rows)
        ],
        schema=CALL_COLUMNS,
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=call_rows,
    first=plan_strategy,
    second=plan_strategy,
    change_day=st.integers(2, 31),
    chunk=st.integers(1, 50),
)
def test_batch_size_does_not_change_summary_or_line_items(
    rows: list[tuple], first: Plan, second: Plan, change_day: int, chunk: int
) -> None:
    periods = [
        PlanPeriod(first, date(2025, 1, 1), date(2025, 3, change_day)),
        PlanPeriod(second, date(2025, 3, change_day), None),
    ]
    table = as_calls(rows)
    appointments = appointments_batch([("a0", utc(2025, 3, 3, 9), "accepted")])
    whole = bill(periods, table.to_batches(), [appointments])
    split = bill(periods, table.to_batches(max_chunksize=chunk), [appointments.slice(0, 0), appointments])
    assert split[0] == whole[0]
    assert split[1].equals(whole[1])


@settings(max_examples=60, deadline=None)
@given(rows=call_rows, plan=plan_strategy)
def test_call_line_items_match_the_scalar_rules(rows: list[tuple], plan: Plan) -> None:
    _, table = bill(always(plan), as_calls(rows).to_batches())
    for item in table.to_pylist():
        if item["kind"] != "call":
            continue
        seconds = call_seconds(item["duration_ms"] or 0)
        assert item["seconds"] == seconds
        if item["billed"]:
            billed = billed_seconds(seconds, plan.rounding)
            assert item["quantity"] == billed
            assert item["amount_cents"] == call_amount_cents(billed, plan.per_minute_cents)
        else:
            assert (item["quantity"], item["amount_cents"]) == (0, 0)
