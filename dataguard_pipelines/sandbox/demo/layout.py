"""Id ranges per company, computed once in Python so every bulk INSERT can pick coherent foreign keys.

Rows of one company get contiguous ids (customers base+1 … base+n), so a hash picks a customer, staff
member or service of the right company with arithmetic instead of a lookup per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dataguard_pipelines.sandbox.demo.companies import DEMO_COMPANIES, PROFILES, DemoCompany, Profile
from dataguard_pipelines.sandbox.demo.sql import Ctx, add_months

SUPER_ADMINS = 2
STAFF_USERS_PER_COMPANY = 3


@dataclass(frozen=True)
class CompanyLayout:
    """Where one company's rows live in the id space, and when it became a customer."""

    company: DemoCompany
    profile: Profile
    created: date
    start_day: int  # day index in the window of the company's first activity
    slot_lo: int  # [slot_lo, slot_hi) of 0..99: the company's share of scaled rows
    slot_hi: int
    branch_base: int
    staff_base: int
    service_base: int
    user_base: int
    cust_base: int
    cust_n: int

    @property
    def branch_n(self) -> int:
        return len(self.profile.branches)

    @property
    def staff_n(self) -> int:
        return self.profile.staff

    @property
    def service_n(self) -> int:
        return len(self.profile.services)

    @property
    def user_n(self) -> int:
        return 2 + min(STAFF_USERS_PER_COMPANY, self.profile.staff)

    def event_type_id(self, k: int) -> int:
        """Cal.com event type id of the company's k-th service (1-based); k = service_n + 1 is hidden."""
        return 1_000_000 + self.company.id * 1000 + k


def build_layout(ctx: Ctx, customers: int) -> list[CompanyLayout]:
    """Assign id ranges in the fixed company order; customers are split by weight."""
    out: list[CompanyLayout] = []
    slot = branch = staff = service = cust = 0
    user = SUPER_ADMINS
    for company in DEMO_COMPANIES:
        profile = PROFILES[company.id]
        created = add_months(ctx.anchor, -profile.months_active) + timedelta(days=company.id % 9)
        created = max(created, ctx.start)
        cust_n = max(3, round(customers * profile.weight / 100))
        layout = CompanyLayout(
            company=company,
            profile=profile,
            created=created,
            start_day=(created - ctx.start).days + 1,
            slot_lo=slot,
            slot_hi=slot + profile.weight,
            branch_base=branch,
            staff_base=staff,
            service_base=service,
            user_base=user,
            cust_base=cust,
            cust_n=cust_n,
        )
        out.append(layout)
        slot += profile.weight
        branch += layout.branch_n
        staff += layout.staff_n
        service += layout.service_n
        user += layout.user_n
        cust += cust_n
    if slot != 100:
        raise AssertionError(f"company weights add up to {slot}, not 100")
    return out


def helper_tables_sql(ctx: Ctx, layout: list[CompanyLayout]) -> list[str]:
    """Temporary lookup tables the bulk INSERTs join: `_dg_co` (one row per company) and `_dg_slot`."""
    rows = ", ".join(
        f"({c.company.id}, {c.slot_lo}, {c.slot_hi}, {c.start_day}, {c.branch_base}, {c.branch_n}, "
        f"{c.staff_base}, {c.staff_n}, {c.service_base}, {c.service_n}, {c.user_base}, {c.user_n}, "
        f"{c.cust_base}, {c.cust_n}, {ctx.ts_of(c.created, 8 * 3600)})"
        for c in layout
    )
    return [
        "CREATE TEMP TABLE _dg_co (company_id int PRIMARY KEY, slot_lo int, slot_hi int, start_day int, "
        "branch_base int, branch_n int, staff_base int, staff_n int, service_base int, service_n int, "
        "user_base int, user_n int, cust_base int, cust_n int, created_at timestamptz) ON COMMIT DROP",
        f"INSERT INTO _dg_co VALUES {rows}",
        "CREATE TEMP TABLE _dg_slot ON COMMIT DROP AS SELECT s AS slot, c.* FROM generate_series(0, 99) s "
        "JOIN _dg_co c ON s >= c.slot_lo AND s < c.slot_hi",
        "CREATE UNIQUE INDEX ON _dg_slot (slot)",
        "ANALYZE _dg_co",
        "ANALYZE _dg_slot",
    ]
