"""SQL snippet helpers and the seed context: every pseudo-random value is a hash of an id, never random().

`hashint8extended` is the C hash PostgreSQL uses for hash indexes and hash partitions; it is stable
across server versions (hash indexes survive pg_upgrade), so the same (scale, anchor) gives the same bytes.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

HISTORY_MONTHS = 24
TAIL_DAYS = 27


def h(expr: str, salt: int, mod: int | str) -> str:
    """An int in [0, mod) derived from `expr` (an integer SQL expression) and a salt; `mod` (< 2^31) may be
    SQL."""
    return f"(abs(hashint8extended(({expr})::int8, {salt}) % {mod})::int)"


def u(expr: str, salt: int) -> str:
    """A float in [0, 1) derived from `expr` and a salt."""
    return f"({h(expr, salt, 1_000_003)}::float8 / 1000003)"


def lit(value: str | None) -> str:
    """A SQL literal for a Python string; E'' form when it carries backslashes or control characters."""
    if value is None:
        return "NULL"
    if any(c in value for c in "\\\t\n\r"):
        escaped = (
            value.replace("\\", "\\\\")
            .replace("'", "''")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
        return f"E'{escaped}'"
    return "'" + value.replace("'", "''") + "'"


def arr(values: Sequence[str | None]) -> str:
    """A text[] literal."""
    return "ARRAY[" + ", ".join(lit(v) for v in values) + "]::text[]"


def pick(values: Sequence[str | None], expr: str, salt: int) -> str:
    """One element of `values`, chosen by hash of `expr`."""
    return f"({arr(values)})[1 + {h(expr, salt, len(values))}]"


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of shorter months."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Ctx:
    """What one seed run needs to build its statements: the scale and the time window."""

    scale: float
    anchor: date

    @property
    def start(self) -> date:
        """First day of history: 24 months before the anchor."""
        return add_months(self.anchor, -HISTORY_MONTHS)

    @property
    def end(self) -> date:
        """Last day that carries data: anchor + 27 days."""
        return self.anchor + timedelta(days=TAIL_DAYS)

    @property
    def days(self) -> int:
        """Number of days in the window, both ends included."""
        return (self.end - self.start).days + 1

    @property
    def anchor_day(self) -> int:
        """Day index of the anchor inside the window."""
        return (self.anchor - self.start).days

    def n(self, base: float, minimum: int = 1) -> int:
        """A row count that grows linearly with the scale."""
        return max(minimum, round(base * self.scale))

    def ts(self, day_expr: str, seconds_expr: str = "0") -> str:
        """A timestamptz: window start + day index + seconds (UTC, independent of the session time zone)."""
        return (
            f"(TIMESTAMPTZ '{self.start.isoformat()} 00:00:00+00' + ({day_expr}) * INTERVAL '1 day'"
            f" + ({seconds_expr}) * INTERVAL '1 second')"
        )

    def ts_of(self, day: date, seconds: int = 0) -> str:
        """A timestamptz literal for a Python date plus seconds."""
        return self.ts(str((day - self.start).days), str(seconds))

    def ts_rand(self, key: str, salt: int, *, last_days: int | None = None) -> str:
        """A timestamptz in the window (or its last `last_days` days), denser towards the end like a growing
        business."""
        span = min(last_days or self.days, self.days)
        day = f"{self.days - span} + floor({span} * sqrt({u(key, salt)}))::int"
        return self.ts(day, h(key, salt + 1, 86400))

    def weekday(self, day_expr: str) -> str:
        """Day index moved off Sundays (to Monday, or Saturday at the window's end)."""
        return (
            f"(CASE WHEN extract(isodow FROM DATE '{self.start.isoformat()}' + ({day_expr})::int)::int = 7"
            f" THEN CASE WHEN ({day_expr}) + 1 < {self.days} THEN ({day_expr}) + 1 ELSE ({day_expr}) - 1 END"
            f" ELSE ({day_expr}) END)"
        )
