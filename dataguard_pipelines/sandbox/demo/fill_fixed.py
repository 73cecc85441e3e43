"""INSERTs for the small tables that do not grow with the scale: plans, companies, branches, staff, ….

Built in Python from `companies.py` so the values read like the app's admin screens, not like hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import timedelta

from dataguard_pipelines.sandbox.demo.companies import FIRST_NAMES, LAST_NAMES, PLAN_IDS, PRICING_PLANS
from dataguard_pipelines.sandbox.demo.layout import CompanyLayout
from dataguard_pipelines.sandbox.demo.sql import Ctx, add_months, lit

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def slugify(text: str) -> str:
    """A URL slug the way Laravel's Str::slug writes German names."""
    text = text.lower()
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("&", "und")):
        text = text.replace(src, dst)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def fake_bcrypt(seed: str) -> str:
    """A string shaped like a bcrypt hash ($2y$12$ + 53 chars); no real password behind it."""
    digest = hashlib.sha512(seed.encode()).digest()
    return "$2y$12$" + "".join(_BCRYPT_ALPHABET[b % 64] for b in digest[:53])


def token(seed: str, length: int) -> str:
    """A random-looking alphanumeric token derived from `seed`."""
    raw = base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode()
    return raw.replace("+", "q").replace("/", "Z")[:length]


def jsonb(value: object) -> str:
    """A jsonb literal; key order fixed so the text is stable."""
    return lit(json.dumps(value, ensure_ascii=False, sort_keys=True)) + "::jsonb"


def values(table: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """One multi-row INSERT from already rendered SQL literals."""
    body = ",\n".join("(" + ", ".join(row) + ")" for row in rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n{body}"


def _b(flag: bool) -> str:
    return "true" if flag else "false"


def plans_sql(ctx: Ctx) -> str:
    created = ctx.ts_of(ctx.start - timedelta(days=90), 9 * 3600)
    rows = [
        (
            str(p.id),
            lit(p.code),
            lit(p.name),
            str(p.per_minute_cents),
            lit(p.rounding),
            str(p.included_minutes),
            str(p.appointment_fee_cents),
            str(p.monthly_base_cents),
            _b(p.is_active),
            created,
            created,
        )
        for p in PRICING_PLANS
    ]
    cols = (
        "id",
        "code",
        "name",
        "per_minute_cents",
        "rounding",
        "included_minutes",
        "appointment_fee_cents",
        "monthly_base_cents",
        "is_active",
        "created_at",
        "updated_at",
    )
    return values("pricing_plans", cols, rows)


def companies_sql(ctx: Ctx, layout: Sequence[CompanyLayout]) -> list[str]:
    """companies and their plan history; company 85 switches plan mid-month in the month before the anchor."""
    company_rows, period_rows = [], []
    anchor_month = ctx.anchor.replace(day=1)
    period_id = 0
    for c in layout:
        co, pr = c.company, c.profile
        created = ctx.ts_of(c.created, 8 * 3600)
        settings = {
            "booking_lead_hours": 2 + co.id % 5,
            "greeting": f"Willkommen bei {co.name}!",
            "reminder_sms": co.id % 2 == 0,
            "languages": ["de", "en"],
        }
        company_rows.append(
            (
                str(co.id),
                lit(co.name),
                lit(co.slug),
                str(PLAN_IDS[co.plan_code]),
                str(pr.vat_rate_bp),
                str(co.calcom_team_id),
                lit(co.retell_agent_id),
                lit(pr.industry),
                lit(co.phone_number),
                lit(f"info@{co.slug}.example"),
                lit(f"buchhaltung@{co.slug}.example"),
                lit(f"https://www.{co.slug}.example"),
                lit(f"Hauptstraße {co.id}"),
                lit(f"{10000 + co.id * 613:05d}"),
                lit(pr.city),
                lit(pr.country),
                lit(
                    "Europe/Vienna"
                    if pr.country == "AT"
                    else "Europe/Zurich"
                    if pr.country == "CH"
                    else "Europe/Berlin"
                ),
                jsonb(settings),
                created,
                ctx.ts_of(ctx.anchor - timedelta(days=co.id % 20), 10 * 3600),
            )
        )
        starts = [(c.created, pr.first_plan)]
        for change in pr.changes:
            day = add_months(anchor_month, -change.months_before).replace(day=change.day)
            starts.append((day, change.plan_code))
        for k, (valid_from, code) in enumerate(starts):
            period_id += 1
            valid_to = lit(starts[k + 1][0].isoformat()) if k + 1 < len(starts) else "NULL"
            note = "Tarifwechsel auf Kundenwunsch" if k else "Vertragsbeginn"
            period_rows.append(
                (
                    str(period_id),
                    str(co.id),
                    str(PLAN_IDS[code]),
                    lit(valid_from.isoformat()),
                    valid_to,
                    lit(note),
                    ctx.ts_of(valid_from, 7 * 3600),
                )
            )
    company_cols = (
        "id",
        "name",
        "slug",
        "plan_id",
        "vat_rate_bp",
        "calcom_team_id",
        "retell_agent_id",
        "industry",
        "phone_number",
        "email",
        "billing_email",
        "website",
        "address_line",
        "postal_code",
        "city",
        "country_code",
        "timezone",
        "settings",
        "created_at",
        "updated_at",
    )
    period_cols = ("id", "company_id", "plan_id", "valid_from", "valid_to", "note", "created_at")
    return [
        values("companies", company_cols, company_rows),
        values("company_plan_periods", period_cols, period_rows),
    ]


def _person(company_id: int, k: int) -> tuple[str, str]:
    return (
        FIRST_NAMES[(company_id * 7 + k * 3) % len(FIRST_NAMES)],
        LAST_NAMES[(company_id * 5 + k * 11) % len(LAST_NAMES)],
    )


def shops_sql(ctx: Ctx, layout: Sequence[CompanyLayout]) -> list[str]:
    """branches, service categories, Cal.com event types, services, staff and who offers what."""
    branches, categories, event_types, services, staff, offers = [], [], [], [], [], []
    hours = {
        "mon": ["08:00", "18:00"],
        "tue": ["08:00", "18:00"],
        "wed": ["08:00", "13:00"],
        "thu": ["08:00", "19:00"],
        "fri": ["08:00", "16:00"],
        "sat": None,
        "sun": None,
    }
    for c in layout:
        co = c.company
        created = ctx.ts_of(c.created, 9 * 3600)
        updated = ctx.ts_of(c.created + timedelta(days=30), 9 * 3600)
        for k, name in enumerate(c.profile.branches, start=1):
            branches.append(
                (
                    str(c.branch_base + k),
                    str(co.id),
                    lit(f"{co.name} {name}"),
                    lit(slugify(name)),
                    lit(f"{co.phone_number[:-2]}{10 + k}"),
                    lit(f"{slugify(name)}@{co.slug}.example"),
                    lit(f"{name}weg {k * 3}"),
                    lit(f"{10000 + co.id * 613 + k:05d}"),
                    lit(c.profile.city),
                    jsonb(hours),
                    _b(k == 1),
                    created,
                    updated,
                )
            )
        cat_base = len(categories)
        categories.append((str(cat_base + 1), str(co.id), lit("Behandlungen"), "1", created, updated))
        categories.append((str(cat_base + 2), str(co.id), lit("Beratung & Sonstiges"), "2", created, updated))
        for k, (name, minutes, price) in enumerate(c.profile.services, start=1):
            et_id = c.event_type_id(k)
            event_types.append(
                (
                    str(et_id),
                    str(co.id),
                    str(co.calcom_team_id),
                    lit(name),
                    lit(slugify(name)),
                    lit(f"{name} bei {co.name}"),
                    str(minutes),
                    "false",
                    str(price),
                    _b(minutes >= 90),
                    jsonb({"smartContractAddress": None, "apps": {}}),
                    created,
                    updated,
                )
            )
            category = cat_base + (2 if k == len(c.profile.services) else 1)
            services.append(
                (
                    str(c.service_base + k),
                    str(co.id),
                    str(category),
                    lit(name),
                    lit(None if k % 3 == 0 else f"{name} – ca. {minutes} Minuten"),
                    str(minutes),
                    str(5 * (k % 3)),
                    str(price),
                    str(et_id),
                    str(k),
                    created,
                    updated,
                )
            )
        hidden_id = c.event_type_id(c.service_n + 1)
        event_types.append(
            (
                str(hidden_id),
                str(co.id),
                str(co.calcom_team_id),
                lit("Interne Blockzeit"),
                lit("interne-blockzeit"),
                "NULL",
                "60",
                "true",
                "0",
                "false",
                jsonb({}),
                created,
                updated,
            )
        )
        for k in range(1, c.staff_n + 1):
            first, last = _person(co.id, k)
            staff_id = c.staff_base + k
            user_id = str(c.user_base + 2 + k) if k <= c.user_n - 2 else "NULL"
            langs = ["de"] + (["en"] if k % 2 else []) + (["tr"] if k % 5 == 0 else [])
            color = "#" + hashlib.md5(f"staff:{staff_id}".encode()).hexdigest()[:6]
            staff.append(
                (
                    str(staff_id),
                    str(co.id),
                    str(c.branch_base + 1 + (k - 1) % c.branch_n),
                    user_id,
                    lit(first),
                    lit(last),
                    lit(f"{slugify(first)}.{slugify(last)}@{co.slug}.example"),
                    lit(f"+4917{staff_id:08d}"),
                    str(200_000 + staff_id),
                    lit(color),
                    "ARRAY[" + ", ".join(lit(x) for x in langs) + "]",
                    created,
                    updated,
                )
            )
            for s in range(1, c.service_n + 1):
                if (k + s) % 3 != 0 or s == 1:
                    offers.append((str(staff_id), str(c.service_base + s), created))
    return [
        values(
            "branches",
            (
                "id",
                "company_id",
                "name",
                "slug",
                "phone_number",
                "email",
                "address_line",
                "postal_code",
                "city",
                "opening_hours",
                "is_main",
                "created_at",
                "updated_at",
            ),
            branches,
        ),
        values(
            "service_categories",
            ("id", "company_id", "name", "sort_order", "created_at", "updated_at"),
            categories,
        ),
        values(
            "calcom_event_types",
            (
                "id",
                "company_id",
                "team_id",
                "title",
                "slug",
                "description",
                "length_minutes",
                "hidden",
                "price_cents",
                "requires_confirmation",
                "metadata",
                "created_at",
                "updated_at",
            ),
            event_types,
        ),
        values(
            "services",
            (
                "id",
                "company_id",
                "category_id",
                "name",
                "description",
                "duration_minutes",
                "buffer_minutes",
                "price_cents",
                "calcom_event_type_id",
                "sort_order",
                "created_at",
                "updated_at",
            ),
            services,
        ),
        values(
            "staff",
            (
                "id",
                "company_id",
                "branch_id",
                "user_id",
                "first_name",
                "last_name",
                "email",
                "phone_number",
                "calcom_user_id",
                "color",
                "languages",
                "created_at",
                "updated_at",
            ),
            staff,
        ),
        values("staff_services", ("staff_id", "service_id", "created_at"), offers),
    ]


def users_sql(ctx: Ctx, layout: Sequence[CompanyLayout]) -> str:
    """Super admins, then per company an owner, an office manager and a login for some staff."""
    rows = []
    first_day = ctx.ts_of(ctx.start - timedelta(days=60), 9 * 3600)

    def row(uid: int, company: int | None, branch: int | None, name: str, email: str, when: str) -> tuple:
        remember = lit(token(f"remember:{uid}", 60)) if uid % 3 else "NULL"
        secret = lit(token(f"2fa:{uid}", 32)) if uid % 4 == 0 else "NULL"
        ip = f"10.{uid % 7}.{uid % 250}.{(uid * 37) % 250 + 1}" if uid % 5 else f"2001:db8::{uid:x}"
        login = ctx.ts_of(ctx.anchor + timedelta(days=uid % 25), 8 * 3600 + uid * 97)
        return (
            str(uid),
            str(company) if company else "NULL",
            str(branch) if branch else "NULL",
            lit(name),
            lit(email),
            when,
            lit(fake_bcrypt(f"pw:{uid}")),
            remember,
            secret,
            _b(company is None),
            login,
            lit(ip),
            when,
            when,
        )

    rows.append(row(1, None, None, "Plattform Admin", "admin@dataguard-demo.example", first_day))
    rows.append(row(2, None, None, "Support Team", "support@dataguard-demo.example", first_day))
    for c in layout:
        co = c.company
        created = ctx.ts_of(c.created, 8 * 3600 + 600)
        first, last = _person(co.id, 0)
        rows.append(
            row(c.user_base + 1, co.id, None, f"{first} {last}", f"inhaber@{co.slug}.example", created)
        )
        rows.append(
            row(
                c.user_base + 2,
                co.id,
                c.branch_base + 1,
                "Büro " + c.profile.branches[0],
                f"buero@{co.slug}.example",
                created,
            )
        )
        for k in range(1, c.user_n - 1):
            first, last = _person(co.id, k)
            branch = c.branch_base + 1 + (k - 1) % c.branch_n
            rows.append(
                row(
                    c.user_base + 2 + k,
                    co.id,
                    branch,
                    f"{first} {last}",
                    f"{slugify(first)}.{slugify(last)}@{co.slug}.example",
                    created,
                )
            )
    cols = (
        "id",
        "company_id",
        "branch_id",
        "name",
        "email",
        "email_verified_at",
        "password",
        "remember_token",
        "two_factor_secret",
        "is_super_admin",
        "last_login_at",
        "last_login_ip",
        "created_at",
        "updated_at",
    )
    return values("users", cols, rows)
