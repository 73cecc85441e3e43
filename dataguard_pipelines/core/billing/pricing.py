"""Price lists and the plan in force on each day: the rules an invoice applies, one integer function each.

Every rule here is stated for one call or one plan period in plain integers; `compute.py` applies the
same formulas to whole Arrow batches, and `docs/billing.md` states them for people.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dataguard_pipelines.core.errors import ConfigError

ROUNDING_RULES = ("per_second", "up_minute", "nearest_minute")

BILLING_TZ = ZoneInfo("Europe/Berlin")
"""Invoices use German calendar months and days; inputs are UTC and are converted to this zone."""

# rule -> (add, step): billed seconds = (seconds + add) // step * step, one formula for every rule.
ROUNDING_STEPS: dict[str, tuple[int, int]] = {
    "per_second": (0, 1),
    "up_minute": (59, 60),
    "nearest_minute": (30, 60),
}


@dataclass(frozen=True)
class Plan:
    """One row of `pricing_plans`: what a minute, an appointment and a month cost, in euro cents."""

    code: str
    per_minute_cents: int
    rounding: str
    included_minutes: int
    appointment_fee_cents: int
    monthly_base_cents: int

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_RULES:
            raise ConfigError(
                f"plan {self.code}: rounding {self.rounding!r} is not one of {', '.join(ROUNDING_RULES)}; "
                "fix pricing_plans.rounding"
            )
        for name in ("per_minute_cents", "included_minutes", "appointment_fee_cents", "monthly_base_cents"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"plan {self.code}: {name} must be a non-negative integer, not {value!r}")


@dataclass(frozen=True)
class PlanPeriod:
    """One row of `company_plan_periods`: `plan` applies on days in [valid_from, valid_to); None is open."""

    plan: Plan
    valid_from: date
    valid_to: date | None

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ConfigError(
                f"plan period {self.plan.code} from {self.valid_from}: valid_to {self.valid_to} must be later"
            )

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class PlanSegment:
    """A run of consecutive days of one month under one plan: the unit that base fee and included
    minutes are prorated over."""

    plan: Plan
    first_day: date
    days: int


def plan_on(periods: Sequence[PlanPeriod], day: date, *, company_id: str | None = None) -> Plan:
    """The plan in force on `day` (a Europe/Berlin calendar day)."""
    who = f"company {company_id}" if company_id is not None else "company"
    matches = [p for p in periods if p.covers(day)]
    if not matches:
        raise ConfigError(f"{who}: no plan period covers {day}; add a company_plan_periods row for that day")
    if len(matches) > 1:
        codes = ", ".join(f"{p.plan.code} from {p.valid_from}" for p in matches)
        raise ConfigError(
            f"{who}: plan periods overlap on {day} ({codes}); make valid_to exclusive ends meet"
        )
    return matches[0].plan


def plan_segments(
    periods: Sequence[PlanPeriod], month: date, *, company_id: str | None = None
) -> list[PlanSegment]:
    """The month cut into maximal runs of days with the same plan; days without a plan belong to none."""
    segments: list[PlanSegment] = []
    for day in month_days(month):
        if not any(p.covers(day) for p in periods):
            continue
        plan = plan_on(periods, day, company_id=company_id)
        last = segments[-1] if segments else None
        if last is not None and last.plan == plan and last.first_day + timedelta(days=last.days) == day:
            segments[-1] = PlanSegment(plan, last.first_day, last.days + 1)
        else:
            segments.append(PlanSegment(plan, day, 1))
    return segments


def month_days(month: date) -> list[date]:
    """Every calendar day of the month that contains `month`."""
    first = month.replace(day=1)
    return [first + timedelta(days=i) for i in range(days_in_month(first))]


def days_in_month(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def local_midnight_utc(day: date) -> datetime:
    """The UTC instant at which `day` starts in Europe/Berlin (23 or 25 hours apart around DST)."""
    return datetime(day.year, day.month, day.day, tzinfo=BILLING_TZ).astimezone(UTC)


def month_window_utc(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the Europe/Berlin month as UTC instants."""
    first = month.replace(day=1)
    following = first + timedelta(days=days_in_month(first))
    return local_midnight_utc(first), local_midnight_utc(following)


def call_seconds(duration_ms: int) -> int:
    """Whole seconds of a call: every started second counts (1 ms -> 1 s, 1000 ms -> 1 s)."""
    return (max(duration_ms, 0) + 999) // 1000


def billed_seconds(seconds: int, rounding: str) -> int:
    """Seconds charged after the plan's rounding rule: per_second as is, up_minute to the next full
    minute, nearest_minute to the nearest full minute with 30 s rounding up."""
    add, step = ROUNDING_STEPS[rounding]
    return (seconds + add) // step * step


def call_amount_cents(billed: int, per_minute_cents: int) -> int:
    """Price of one call, rounded up to a whole cent (exact for whole minutes)."""
    return (billed * per_minute_cents + 59) // 60


def prorate(amount: int, days: int, month_days_count: int) -> int:
    """`amount` for `days` of a month with `month_days_count` days, rounded down; a full month is exact."""
    return amount * days // month_days_count


def vat_cents(net_cents: int, vat_rate_bp: int) -> int:
    """VAT on a net amount, rounded half-up (half away from zero) to a whole cent."""
    magnitude = (abs(net_cents) * vat_rate_bp + 5000) // 10000
    return magnitude if net_cents >= 0 else -magnitude
