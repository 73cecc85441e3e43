"""The scalar pricing rules at their edges; every expected number is worked out by hand in the comment."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dataguard_pipelines.core.billing.pricing import (
    ROUNDING_RULES,
    Plan,
    PlanPeriod,
    PlanSegment,
    billed_seconds,
    call_amount_cents,
    call_seconds,
    month_window_utc,
    plan_on,
    plan_segments,
    prorate,
    vat_cents,
)
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.sandbox.demo_data import PRICING_PLANS

BASIC = Plan("basic", 19, "up_minute", 100, 0, 4900)
PRO = Plan("pro", 15, "per_second", 500, 50, 14900)


@pytest.mark.parametrize(
    ("duration_ms", "expected"),
    [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (59_000, 59), (59_001, 60), (-5, 0)],
)
def test_call_seconds_counts_every_started_second(duration_ms: int, expected: int) -> None:
    assert call_seconds(duration_ms) == expected


@pytest.mark.parametrize(
    ("rounding", "seconds", "expected"),
    [
        ("per_second", 0, 0),
        ("per_second", 59, 59),
        ("per_second", 60, 60),
        ("per_second", 61, 61),
        ("up_minute", 0, 0),
        ("up_minute", 1, 60),
        ("up_minute", 59, 60),
        ("up_minute", 60, 60),
        ("up_minute", 61, 120),
        ("nearest_minute", 0, 0),
        ("nearest_minute", 29, 0),  # under half a minute: nothing
        ("nearest_minute", 30, 60),  # exactly half rounds up
        ("nearest_minute", 59, 60),
        ("nearest_minute", 60, 60),
        ("nearest_minute", 61, 60),
        ("nearest_minute", 89, 60),  # 1 min 29 s -> 1 min
        ("nearest_minute", 90, 120),  # 1 min 30 s -> 2 min
        ("nearest_minute", 91, 120),
    ],
)
def test_billed_seconds_applies_rounding_rule(rounding: str, seconds: int, expected: int) -> None:
    assert billed_seconds(seconds, rounding) == expected


@pytest.mark.parametrize(
    ("seconds", "per_minute_cents", "expected"),
    [
        (0, 15, 0),
        (1, 15, 1),  # 0.25 ct -> 1
        (4, 15, 1),  # 1.00 ct exactly
        (5, 15, 2),  # 1.25 ct -> 2
        (61, 15, 16),  # 15.25 ct -> 16
        (1, 29, 1),  # 29/60 = 0.483 ct -> 1
        (3, 29, 2),  # 87/60 = 1.45 ct -> 2
        (60, 29, 29),
        (120, 19, 38),  # whole minutes are exact: 2 x 19
        (60, 0, 0),
    ],
)
def test_call_amount_cents_rounds_up_to_whole_cent(
    seconds: int, per_minute_cents: int, expected: int
) -> None:
    assert call_amount_cents(seconds, per_minute_cents) == expected


@pytest.mark.parametrize(
    ("amount", "days", "of", "expected"),
    [
        (14900, 31, 31, 14900),  # full month exact
        (14900, 15, 31, 7209),  # 223500 / 31 = 7209.68 -> 7209
        (14900, 16, 31, 7690),  # 238400 / 31 = 7690.32 -> 7690
        (500, 14, 28, 250),
        (100, 16, 31, 51),  # 1600 / 31 = 51.6 -> 51
        (0, 10, 30, 0),
    ],
)
def test_prorate_rounds_down(amount: int, days: int, of: int, expected: int) -> None:
    assert prorate(amount, days, of) == expected


@pytest.mark.parametrize(
    ("net", "bp", "expected"),
    [
        (100, 1900, 19),
        (50, 1900, 10),  # 9.5 -> 10 (half up)
        (150, 1900, 29),  # 28.5 -> 29
        (149, 1900, 28),  # 28.31 -> 28
        (10, 1900, 2),  # 1.9 -> 2
        (50, 700, 4),  # 3.5 -> 4
        (7, 700, 0),  # 0.49 -> 0
        (1, 5000, 1),  # 0.5 -> 1
        (0, 1900, 0),
        (-50, 1900, -10),  # a credit note rounds away from zero too
        (14900, 1900, 2831),  # exact
    ],
)
def test_vat_cents_rounds_half_up(net: int, bp: int, expected: int) -> None:
    assert vat_cents(net, bp) == expected


def test_plan_on_uses_exclusive_valid_to() -> None:
    periods = [
        PlanPeriod(BASIC, date(2025, 1, 1), date(2025, 3, 16)),
        PlanPeriod(PRO, date(2025, 3, 16), None),
    ]
    assert plan_on(periods, date(2025, 3, 15)) == BASIC
    assert plan_on(periods, date(2025, 3, 16)) == PRO
    assert plan_on(periods, date(2030, 1, 1)) == PRO


def test_plan_on_names_company_and_day_when_no_period_applies() -> None:
    periods = [PlanPeriod(PRO, date(2025, 3, 10), None)]
    with pytest.raises(ConfigError, match=r"company 42: no plan period covers 2025-03-09"):
        plan_on(periods, date(2025, 3, 9), company_id="42")


def test_plan_on_refuses_overlapping_periods() -> None:
    periods = [
        PlanPeriod(BASIC, date(2025, 1, 1), date(2025, 3, 17)),
        PlanPeriod(PRO, date(2025, 3, 16), None),
    ]
    with pytest.raises(ConfigError, match=r"overlap on 2025-03-16"):
        plan_on(periods, date(2025, 3, 16), company_id="42")


def test_plan_refuses_unknown_rounding_rule() -> None:
    with pytest.raises(ConfigError, match=r"plan odd: rounding 'up_second'"):
        Plan("odd", 10, "up_second", 0, 0, 0)


def test_plan_refuses_negative_price() -> None:
    with pytest.raises(ConfigError, match=r"per_minute_cents must be a non-negative integer"):
        Plan("odd", -1, "per_second", 0, 0, 0)


def test_plan_period_refuses_empty_range() -> None:
    with pytest.raises(ConfigError, match=r"valid_to 2025-03-01 must be later"):
        PlanPeriod(PRO, date(2025, 3, 1), date(2025, 3, 1))


def test_demo_pricing_plans_are_valid_plans() -> None:
    plans = [
        Plan(
            p.code,
            p.per_minute_cents,
            p.rounding,
            p.included_minutes,
            p.appointment_fee_cents,
            p.monthly_base_cents,
        )
        for p in PRICING_PLANS
    ]
    assert {p.rounding for p in plans} == set(ROUNDING_RULES)


def test_plan_segments_merge_split_periods_of_the_same_plan() -> None:
    periods = [PlanPeriod(PRO, date(2025, 1, 1), date(2025, 3, 10)), PlanPeriod(PRO, date(2025, 3, 10), None)]
    assert plan_segments(periods, date(2025, 3, 1)) == [PlanSegment(PRO, date(2025, 3, 1), 31)]


def test_plan_segments_keep_returning_plan_separate_and_skip_days_without_plan() -> None:
    periods = [
        PlanPeriod(PRO, date(2025, 3, 5), date(2025, 3, 10)),
        PlanPeriod(BASIC, date(2025, 3, 10), date(2025, 3, 20)),
        PlanPeriod(PRO, date(2025, 3, 20), None),
    ]
    assert plan_segments(periods, date(2025, 3, 1)) == [
        PlanSegment(PRO, date(2025, 3, 5), 5),
        PlanSegment(BASIC, date(2025, 3, 10), 10),
        PlanSegment(PRO, date(2025, 3, 20), 12),
    ]


def test_month_window_is_the_berlin_month_across_dst() -> None:
    # March 2025 starts in CET (+1) and ends in CEST (+2, from 30 March).
    assert month_window_utc(date(2025, 3, 1)) == (
        datetime(2025, 2, 28, 23, tzinfo=UTC),
        datetime(2025, 3, 31, 22, tzinfo=UTC),
    )
    # October 2025 starts in CEST and ends in CET (from 26 October).
    assert month_window_utc(date(2025, 10, 17)) == (
        datetime(2025, 9, 30, 22, tzinfo=UTC),
        datetime(2025, 10, 31, 23, tzinfo=UTC),
    )
