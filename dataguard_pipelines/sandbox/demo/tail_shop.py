"""Shop structure and reference data: working hours (`time`), absences, holidays, countries, translations,
onboarding and Jetstream teams. Small, mostly fixed-size tables.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, h, lit

DDL = r"""
CREATE TABLE countries (
    code char(2) PRIMARY KEY,
    name text NOT NULL,
    phone_prefix varchar(5) NOT NULL,
    currency_code char(3) NOT NULL,
    eu_member boolean NOT NULL
);
CREATE TABLE currencies (
    code char(3) PRIMARY KEY,
    name text NOT NULL,
    symbol text NOT NULL,
    minor_units smallint NOT NULL
);
CREATE TABLE languages (
    code varchar(5) PRIMARY KEY,
    name text NOT NULL,
    native_name text NOT NULL
);
CREATE TABLE translations (
    id bigserial PRIMARY KEY,
    locale varchar(5) NOT NULL,
    namespace text NOT NULL,
    key text NOT NULL,
    value text,
    UNIQUE (locale, namespace, key)
);
CREATE TABLE public_holidays (
    id bigserial PRIMARY KEY,
    country_code char(2) NOT NULL,
    day date NOT NULL,
    name text NOT NULL,
    UNIQUE (country_code, day)
);
CREATE TABLE branch_closures (
    id bigserial PRIMARY KEY,
    branch_id bigint NOT NULL,
    closed_on date NOT NULL,
    reason text,
    UNIQUE (branch_id, closed_on)
);
CREATE TABLE staff_schedules (
    id bigserial PRIMARY KEY,
    staff_id bigint NOT NULL,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts_at time NOT NULL,
    ends_at time NOT NULL,
    valid_from date NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE TABLE staff_absences (
    id bigserial PRIMARY KEY,
    staff_id bigint NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    reason text NOT NULL,
    approved_by bigint,
    CHECK (ends_on >= starts_on)
);
CREATE TABLE onboarding_steps (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    title text NOT NULL,
    sort_order smallint NOT NULL
);
CREATE TABLE company_onboarding_progress (
    company_id bigint NOT NULL,
    onboarding_step_id bigint NOT NULL,
    completed_at timestamptz,
    PRIMARY KEY (company_id, onboarding_step_id)
);
CREATE TABLE teams (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    company_id bigint,
    name text NOT NULL,
    personal_team boolean NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE team_user (
    id bigserial PRIMARY KEY,
    team_id bigint NOT NULL,
    user_id bigint NOT NULL,
    role text,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (team_id, user_id)
);
"""

FOREIGN_KEYS = (
    ("branch_closures", "branch_id", "branches", "CASCADE"),
    ("staff_schedules", "staff_id", "staff", "CASCADE"),
    ("staff_absences", "staff_id", "staff", "CASCADE"),
    ("staff_absences", "approved_by", "users", "SET NULL"),
    ("company_onboarding_progress", "company_id", "companies", "CASCADE"),
    ("company_onboarding_progress", "onboarding_step_id", "onboarding_steps", "CASCADE"),
    ("teams", "user_id", "users", "CASCADE"),
    ("teams", "company_id", "companies", "CASCADE"),
    ("team_user", "team_id", "teams", "CASCADE"),
    ("team_user", "user_id", "users", "CASCADE"),
)

INDEXES = r"""
ALTER TABLE public_holidays ADD CONSTRAINT public_holidays_country_code_foreign
    FOREIGN KEY (country_code) REFERENCES countries (code);
CREATE INDEX staff_schedules_staff_id_weekday_index ON staff_schedules (staff_id, weekday);
"""

_HOLIDAYS = (
    ("DE", 1, 1, "Neujahr"),
    ("DE", 5, 1, "Tag der Arbeit"),
    ("DE", 10, 3, "Tag der Deutschen Einheit"),
    ("DE", 12, 25, "1. Weihnachtstag"),
    ("DE", 12, 26, "2. Weihnachtstag"),
    ("AT", 1, 1, "Neujahr"),
    ("AT", 1, 6, "Heilige Drei Könige"),
    ("AT", 5, 1, "Staatsfeiertag"),
    ("AT", 10, 26, "Nationalfeiertag"),
    ("AT", 12, 8, "Mariä Empfängnis"),
    ("AT", 12, 25, "Christtag"),
    ("CH", 1, 1, "Neujahrstag"),
    ("CH", 8, 1, "Bundesfeier"),
    ("CH", 12, 25, "Weihnachtstag"),
)
_TRANSLATIONS = (
    (
        "booking.confirmed",
        "Ihr Termin am :date ist bestätigt.",
        "Your appointment on :date is confirmed.",
        "Randevunuz :date tarihinde onaylandı.",
    ),
    (
        "booking.cancelled",
        "Ihr Termin wurde storniert.",
        "Your appointment was cancelled.",
        "Randevunuz iptal edildi.",
    ),
    (
        "call.missed",
        "Verpasster Anruf von :number",
        "Missed call from :number",
        ":number numarasından cevapsız",
    ),
    ("greeting", "Guten Tag, :name!", "Hello, :name!", "Merhaba, :name!"),
    ("invoice.ready", "Ihre Rechnung für :month ist da.", "Your invoice for :month is ready.", None),
    (
        "errors.generic",
        "Etwas ist schiefgelaufen.\nBitte später erneut versuchen.",
        "Something went wrong.\nPlease try again later.",
        "Bir şeyler ters gitti.",
    ),
    ("quote.test", 'Sie sagte: "Passt!" – \\o/', 'She said: "Fine!" – \\o/', None),
)


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for shop structure and reference data."""
    holidays = ", ".join(
        f"({lit(c)}, DATE '{y:04d}-{m:02d}-{d:02d}', {lit(n)})"
        for y in range(ctx.start.year, ctx.end.year + 1)
        for c, m, d, n in _HOLIDAYS
    )
    translations = ", ".join(
        f"({lit(loc)}, 'messages', {lit(key)}, {lit(val)})"
        for key, *vals in _TRANSLATIONS
        for loc, val in zip(("de", "en", "tr"), vals, strict=True)
    )
    return [
        (
            "countries",
            """
INSERT INTO countries (code, name, phone_prefix, currency_code, eu_member) VALUES
    ('DE', 'Deutschland', '+49', 'EUR', true), ('AT', 'Österreich', '+43', 'EUR', true),
    ('CH', 'Schweiz', '+41', 'CHF', false), ('NL', 'Niederlande', '+31', 'EUR', true),
    ('PL', 'Polen', '+48', 'PLN', true), ('TR', 'Türkei', '+90', 'TRY', false),
    ('GB', 'Vereinigtes Königreich', '+44', 'GBP', false), ('FR', 'Frankreich', '+33', 'EUR', true)""",
        ),
        (
            "currencies",
            """
INSERT INTO currencies (code, name, symbol, minor_units) VALUES
    ('EUR', 'Euro', '€', 2), ('CHF', 'Schweizer Franken', 'Fr.', 2), ('PLN', 'Złoty', 'zł', 2),
    ('TRY', 'Türkische Lira', '₺', 2), ('GBP', 'Pfund Sterling', '£', 2), ('JPY', 'Yen', '¥', 0)""",
        ),
        (
            "languages",
            """
INSERT INTO languages (code, name, native_name) VALUES
    ('de', 'Deutsch', 'Deutsch'), ('en', 'Englisch', 'English'), ('tr', 'Türkisch', 'Türkçe'),
    ('pl', 'Polnisch', 'Polski'), ('ar', 'Arabisch', 'العربية'), ('uk', 'Ukrainisch', 'Українська')""",
        ),
        ("translations", f"INSERT INTO translations (locale, namespace, key, value) VALUES {translations}"),
        ("public_holidays", f"INSERT INTO public_holidays (country_code, day, name) VALUES {holidays}"),
        (
            "branch_closures",
            f"""
INSERT INTO branch_closures (branch_id, closed_on, reason)
SELECT b.id, p.day, p.name FROM branches b JOIN companies c ON c.id = b.company_id
JOIN public_holidays p ON p.country_code = c.country_code
WHERE p.day BETWEEN DATE '{ctx.start.isoformat()}' AND DATE '{ctx.end.isoformat()}' ORDER BY b.id, p.day""",
        ),
        (
            "staff_schedules",
            """
INSERT INTO staff_schedules (staff_id, weekday, starts_at, ends_at, valid_from)
SELECT s.id, d, TIME '08:00' + (s.id % 3) * INTERVAL '30 minutes',
    CASE WHEN d = 6 THEN TIME '13:00' ELSE TIME '16:30' + (s.id % 4) * INTERVAL '30 minutes' END,
    (s.created_at AT TIME ZONE 'UTC')::date
FROM staff s CROSS JOIN generate_series(1, 6) d WHERE d < 6 OR s.id % 3 = 0 ORDER BY s.id, d""",
        ),
        (
            "staff_absences",
            f"""
INSERT INTO staff_absences (staff_id, starts_on, ends_on, reason, approved_by)
SELECT s.id, DATE '{ctx.start.isoformat()}' + {h("s.id * 10 + k", 601, ctx.days - 20)},
    DATE '{ctx.start.isoformat()}' + {h("s.id * 10 + k", 601, ctx.days - 20)}
        + {h("s.id * 10 + k", 602, 12)},
    (ARRAY['Urlaub', 'Krankheit', 'Fortbildung'])[1 + {h("s.id * 10 + k", 603, 3)}],
    CASE WHEN k <> 2 THEN (SELECT min(id) FROM users u WHERE u.company_id = s.company_id) END
FROM staff s CROSS JOIN generate_series(1, 3) k ORDER BY s.id, k""",
        ),
        (
            "onboarding_steps",
            """
INSERT INTO onboarding_steps (id, key, title, sort_order) VALUES
    (1, 'company_profile', 'Firmenprofil ausfüllen', 1), (2, 'connect_calcom', 'Cal.com verbinden', 2),
    (3, 'connect_retell', 'Telefonassistenz einrichten', 3), (4, 'add_services', 'Leistungen anlegen', 4),
    (5, 'add_staff', 'Team einladen', 5), (6, 'test_call', 'Testanruf durchführen', 6),
    (7, 'billing', 'Zahlungsmethode hinterlegen', 7), (8, 'go_live', 'Live schalten', 8)""",
        ),
        (
            "company_onboarding_progress",
            """
INSERT INTO company_onboarding_progress (company_id, onboarding_step_id, completed_at)
SELECT c.id, s.id, CASE WHEN s.id < 8 OR c.id <> 101 THEN c.created_at + s.id * INTERVAL '1 day' END
FROM companies c CROSS JOIN onboarding_steps s ORDER BY c.id, s.id""",
        ),
        (
            "teams",
            """
INSERT INTO teams (id, user_id, company_id, name, personal_team, created_at, updated_at)
SELECT c.id, (SELECT min(id) FROM users u WHERE u.company_id = c.id), c.id, c.name, false, c.created_at,
    c.updated_at
FROM companies c ORDER BY c.id""",
        ),
        (
            "team_user",
            """
INSERT INTO team_user (team_id, user_id, role, created_at, updated_at)
SELECT company_id, id, CASE WHEN email LIKE 'buero@%' THEN 'admin' ELSE 'editor' END, created_at, created_at
FROM users WHERE company_id IS NOT NULL AND email NOT LIKE 'inhaber@%' ORDER BY id""",
        ),
    ]
