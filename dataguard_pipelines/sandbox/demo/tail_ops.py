"""Reporting aggregates (derived from calls and appointments), imports/exports, scheduled tasks, health checks
and the support desk: the operational long tail of the app.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, add_months, h, pick

DDL = r"""
CREATE TABLE daily_call_stats (
    company_id bigint NOT NULL,
    day date NOT NULL,
    calls integer NOT NULL,
    answered integer NOT NULL,
    duration_ms bigint NOT NULL,
    bookings integer NOT NULL,
    PRIMARY KEY (company_id, day)
);
CREATE TABLE daily_appointment_stats (
    company_id bigint NOT NULL,
    day date NOT NULL,
    booked integer NOT NULL,
    cancelled integer NOT NULL,
    revenue_cents bigint NOT NULL,
    PRIMARY KEY (company_id, day)
);
CREATE TABLE monthly_usage_snapshots (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    month date NOT NULL,
    calls integer NOT NULL,
    minutes numeric(12, 2) NOT NULL,
    appointments integer NOT NULL,
    checksum char(32) NOT NULL,
    computed_at timestamptz NOT NULL,
    UNIQUE (company_id, month)
);
CREATE TABLE reports (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    definition jsonb NOT NULL,
    created_by bigint,
    created_at timestamptz NOT NULL
);
CREATE TABLE report_schedules (
    id bigserial PRIMARY KEY,
    report_id bigint NOT NULL,
    cron text NOT NULL,
    recipients text[] NOT NULL,
    last_run_at timestamptz
);
CREATE TABLE dashboard_widgets (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    widget text NOT NULL,
    position smallint NOT NULL,
    settings jsonb
);
CREATE TABLE exports (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    kind text NOT NULL,
    status text NOT NULL,
    file_path text,
    row_count integer,
    created_at timestamptz NOT NULL
);
CREATE TABLE imports (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    user_id bigint,
    kind text NOT NULL,
    file_name text NOT NULL,
    status text NOT NULL,
    rows_total integer NOT NULL,
    rows_failed integer NOT NULL,
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE TABLE import_rows (
    id bigserial PRIMARY KEY,
    import_id bigint NOT NULL,
    row_number integer NOT NULL,
    data jsonb NOT NULL,
    error text
);
CREATE TABLE file_uploads (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    user_id bigint,
    disk text NOT NULL,
    path text NOT NULL,
    original_name text NOT NULL,
    mime_type text,
    size_bytes bigint NOT NULL,
    checksum_sha256 bytea NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE health_checks (
    id bigserial PRIMARY KEY,
    check_name text NOT NULL,
    status text NOT NULL,
    message text,
    meta jsonb,
    checked_at timestamptz NOT NULL
);
CREATE TABLE scheduled_tasks (
    id bigserial PRIMARY KEY,
    command text NOT NULL UNIQUE,
    cron text NOT NULL,
    timezone text NOT NULL,
    without_overlapping boolean NOT NULL,
    last_started_at timestamptz,
    last_finished_at timestamptz
);
CREATE TABLE task_runs (
    id bigserial PRIMARY KEY,
    scheduled_task_id bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    exit_code smallint,
    output text
);
CREATE TABLE support_tickets (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    user_id bigint,
    subject text NOT NULL,
    status text NOT NULL,
    priority text NOT NULL,
    created_at timestamptz NOT NULL,
    closed_at timestamptz
);
CREATE TABLE support_ticket_messages (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL,
    author_type text NOT NULL,
    author_id bigint,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE announcements (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    audience text NOT NULL,
    published_at timestamptz
);
"""

FOREIGN_KEYS = (
    ("daily_call_stats", "company_id", "companies", "CASCADE"),
    ("daily_appointment_stats", "company_id", "companies", "CASCADE"),
    ("monthly_usage_snapshots", "company_id", "companies", "CASCADE"),
    ("reports", "company_id", "companies", "CASCADE"),
    ("reports", "created_by", "users", "SET NULL"),
    ("report_schedules", "report_id", "reports", "CASCADE"),
    ("dashboard_widgets", "user_id", "users", "CASCADE"),
    ("exports", "user_id", "users", "CASCADE"),
    ("imports", "company_id", "companies", "CASCADE"),
    ("imports", "user_id", "users", "SET NULL"),
    ("import_rows", "import_id", "imports", "CASCADE"),
    ("file_uploads", "company_id", "companies", "CASCADE"),
    ("file_uploads", "user_id", "users", "SET NULL"),
    ("task_runs", "scheduled_task_id", "scheduled_tasks", "CASCADE"),
    ("support_tickets", "company_id", "companies", "CASCADE"),
    ("support_tickets", "user_id", "users", "SET NULL"),
    ("support_ticket_messages", "ticket_id", "support_tickets", "CASCADE"),
)

INDEXES = r"""
CREATE INDEX task_runs_scheduled_task_id_started_at_index ON task_runs (scheduled_task_id, started_at);
CREATE INDEX support_tickets_open_index ON support_tickets (company_id) WHERE closed_at IS NULL;
"""

_UPLOAD_NAMES = ("Überweisung.pdf", "Befund 2024.pdf", "Vollmacht (unterschrieben).pdf", "IMG_2041.JPG")
_TASKS = (
    ("calcom:sync-bookings", "*/15 * * * *"),
    ("retell:sync-calls", "*/10 * * * *"),
    ("reminders:send", "*/5 * * * *"),
    ("billing:invoice-month", "0 6 2 * *"),
    ("queue:prune-failed", "0 3 * * *"),
    ("telescope:prune --hours=48", "0 4 * * *"),
    ("gdpr:erase-expired", "30 2 * * *"),
    ("stats:aggregate-daily", "10 0 * * *"),
    ("backup:run", "0 1 * * *"),
    ("sitemap:generate", "0 5 * * 1"),
)


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for reporting and operations."""
    users = "(SELECT max(id) FROM users)"
    at = ctx.ts_rand("i", 701)
    last_snapshot = add_months(ctx.anchor.replace(day=1), -2)
    tasks = ", ".join(
        f"({k}, '{c}', '{cron}', 'Europe/Berlin', {str(k % 3 != 0).lower()})"
        for k, (c, cron) in enumerate(_TASKS, 1)
    )
    return [
        (
            "daily_call_stats",
            """
INSERT INTO daily_call_stats (company_id, day, calls, answered, duration_ms, bookings)
SELECT company_id, (started_at AT TIME ZONE 'UTC')::date, count(*),
    count(*) FILTER (WHERE call_status = 'ended'),
    coalesce(sum(duration_ms), 0), count(appointment_id) FILTER (WHERE direction = 'inbound')
FROM calls WHERE started_at IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""",
        ),
        (
            "daily_appointment_stats",
            """
INSERT INTO daily_appointment_stats (company_id, day, booked, cancelled, revenue_cents)
SELECT company_id, (starts_at AT TIME ZONE 'UTC')::date, count(*) FILTER (WHERE status = 'accepted'),
    count(*) FILTER (WHERE status = 'cancelled'),
        coalesce(sum(price_cents) FILTER (WHERE status = 'accepted'), 0)
FROM appointments GROUP BY 1, 2 ORDER BY 1, 2""",
        ),
        (
            "monthly_usage_snapshots",
            f"""
INSERT INTO monthly_usage_snapshots (company_id, month, calls, minutes, appointments, checksum, computed_at)
SELECT l.company_id, l.month, l.calls, l.minutes, coalesce(a.n, 0),
    md5(l.company_id || ':' || l.month || ':' || l.calls || ':' || l.minutes),
    (l.month + INTERVAL '1 month' + INTERVAL '1 day 3 hours')::timestamp AT TIME ZONE 'UTC'
FROM (SELECT company_id, date_trunc('month', started_at AT TIME ZONE 'UTC')::date AS month, count(*) AS calls,
          round(sum(duration_ms) / 60000.0, 2) AS minutes
      FROM calls WHERE call_status = 'ended' GROUP BY 1, 2) l
LEFT JOIN (SELECT company_id, date_trunc('month', starts_at AT TIME ZONE 'UTC')::date AS month, count(*) AS n
           FROM appointments GROUP BY 1, 2) a USING (company_id, month)
WHERE l.month <= DATE '{last_snapshot.isoformat()}' ORDER BY 1, 2""",
        ),
        (
            "reports",
            """
INSERT INTO reports (company_id, name, definition, created_by, created_at)
SELECT c.id, n, jsonb_build_object('metric', n, 'group_by', 'week', 'filters',
    jsonb_build_object('branch', NULL)),
    (SELECT min(id) FROM users u WHERE u.company_id = c.id), c.created_at + INTERVAL '20 days'
FROM companies c CROSS JOIN unnest(ARRAY['Anrufe pro Woche', 'Stornoquote']) n ORDER BY c.id, n""",
        ),
        (
            "report_schedules",
            """
INSERT INTO report_schedules (report_id, cron, recipients, last_run_at)
SELECT r.id, '0 7 * * 1', ARRAY['inhaber@' || c.slug || '.example'], NULL
FROM reports r JOIN companies c ON c.id = r.company_id WHERE r.id % 2 = 1 ORDER BY r.id""",
        ),
        (
            "dashboard_widgets",
            """
INSERT INTO dashboard_widgets (user_id, widget, position, settings)
SELECT u.id, w, k, CASE WHEN k = 1 THEN '{"range": "7d"}'::jsonb END FROM users u
CROSS JOIN unnest(ARRAY['calls_today', 'upcoming_appointments', 'missed_calls']) WITH ORDINALITY t(w, k)
ORDER BY u.id, k""",
        ),
        (
            "exports",
            f"""
INSERT INTO exports (user_id, kind, status, file_path, row_count, created_at)
SELECT 1 + {h("i", 702, users)}, {pick(("customers_csv", "appointments_xlsx", "calls_csv"), "i", 703)},
    CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'done' END,
    CASE WHEN i % 10 <> 0 THEN 'exports/' || md5('exp' || i) || '.csv' END, 100 + {h("i", 704, 5000)}, {at}
FROM generate_series(1, {ctx.n(40, 3)}) i ORDER BY i""",
        ),
        (
            "imports",
            """
INSERT INTO imports (id, company_id, user_id, kind, file_name, status, rows_total, rows_failed, created_at,
    finished_at)
SELECT c.id, c.id, (SELECT min(id) FROM users u WHERE u.company_id = c.id), 'customers',
    'Kundenliste ' || c.name || ' (Export alt).csv', 'finished', 20, c.id % 3,
    c.created_at + INTERVAL '3 days', c.created_at + INTERVAL '3 days 2 minutes'
FROM companies c ORDER BY c.id""",
        ),
        (
            "import_rows",
            """
INSERT INTO import_rows (import_id, row_number, data, error)
SELECT i.id, r, jsonb_build_object('Vorname', 'Kunde ' || r, 'Telefon', CASE WHEN r % 7 = 0 THEN 'n/a'
    ELSE '+49 170 ' || lpad((i.id * 1000 + r)::text, 7, '0') END, 'Notiz', CASE WHEN r % 5 = 0
    THEN E'mit "Anführungszeichen", Semikolon; und\\nZeilenumbruch' END),
    CASE WHEN r <= i.rows_failed THEN 'Ungültige Telefonnummer in Zeile ' || r END
FROM imports i CROSS JOIN generate_series(1, 20) r ORDER BY i.id, r""",
        ),
        (
            "file_uploads",
            f"""
INSERT INTO file_uploads (company_id, user_id, disk, path, original_name, mime_type, size_bytes,
    checksum_sha256, created_at)
SELECT c.company_id, c.user_base + 1, 's3', 'uploads/' || c.company_id || '/' || md5('up' || i) || '.pdf',
    {pick(_UPLOAD_NAMES, "i", 705)},
    'application/pdf', 1000 + {h("i", 706, 9000000)}, sha256(convert_to('up' || i, 'UTF8')), {at}
FROM generate_series(1, {ctx.n(200, 3)}) i JOIN _dg_slot c ON c.slot = {h("i", 707, 100)} ORDER BY i""",
        ),
        (
            "health_checks",
            f"""
INSERT INTO health_checks (check_name, status, message, meta, checked_at)
SELECT n, CASE WHEN {h("d * 10 + k", 708, 30)} = 0 THEN 'warning' ELSE 'ok' END,
    CASE WHEN {h("d * 10 + k", 708, 30)} = 0 THEN 'Antwortzeit erhöht' END,
    jsonb_build_object('latency_ms', 20 + {h("d * 10 + k", 709, 300)}),
    {ctx.ts(f"{ctx.days - 30} + d", "k * 3600")}
FROM generate_series(0, 29) d CROSS JOIN unnest(ARRAY['database', 'queue', 'calcom_api', 'retell_api'])
    WITH ORDINALITY t(n, k) ORDER BY d, k""",
        ),
        (
            "scheduled_tasks",
            f"INSERT INTO scheduled_tasks (id, command, cron, timezone, without_overlapping) VALUES {tasks}",
        ),
        (
            "task_runs",
            f"""
INSERT INTO task_runs (scheduled_task_id, started_at, finished_at, exit_code, output)
SELECT 1 + i % {len(_TASKS)}, {ctx.ts(f"{ctx.days - 14} + i / 200", "(i % 200) * 432")},
    {ctx.ts(f"{ctx.days - 14} + i / 200", "(i % 200) * 432 + 3")},
    CASE WHEN {h("i", 710, 50)} = 0 THEN 1 ELSE 0 END,
    CASE WHEN {h("i", 710, 50)} = 0 THEN E'ERROR: cURL error 6: Could not resolve host\\n  at vendor/guzzle'
         ELSE 'Processed ' || (i % 37) || ' items.' END
FROM generate_series(1, {ctx.n(2800, 10)}) i ORDER BY i""",
        ),
        (
            "support_tickets",
            f"""
INSERT INTO support_tickets (company_id, user_id, subject, status, priority, created_at, closed_at)
SELECT c.company_id, c.user_base + 1, {
                pick(
                    (
                        "Agent versteht Namen falsch",
                        "Rechnung unklar",
                        "Cal.com-Sync hängt",
                        "Neue Filiale anlegen",
                        "Anrufer landen in Warteschleife",
                    ),
                    "i",
                    711,
                )
            },
    CASE WHEN i % 6 = 0 THEN 'open' ELSE 'closed' END, {pick(("low", "normal", "high"), "i", 712)}, {at},
    CASE WHEN i % 6 <> 0 THEN {at} + INTERVAL '2 days' END
FROM generate_series(1, {ctx.n(120, 3)}) i JOIN _dg_slot c ON c.slot = {h("i", 713, 100)} ORDER BY i""",
        ),
        (
            "support_ticket_messages",
            """
INSERT INTO support_ticket_messages (ticket_id, author_type, author_id, body, created_at)
SELECT t.id, CASE WHEN k % 2 = 1 THEN 'customer' ELSE 'agent' END, CASE WHEN k % 2 = 1 THEN t.user_id END,
    CASE WHEN k = 1 THEN t.subject || E'.\\n\\nViele Grüße'
         ELSE 'Danke für Ihre Nachricht, wir prüfen das.' END,
    t.created_at + k * INTERVAL '3 hours'
FROM support_tickets t CROSS JOIN generate_series(1, 3) k ORDER BY t.id, k""",
        ),
        (
            "announcements",
            f"""
INSERT INTO announcements (title, body, audience, published_at) VALUES
    ('Neue Stimmen verfügbar', 'Ab sofort: „Lena“ (österreichisch).', 'all', {ctx.ts("200")}),
    ('Wartung am Sonntag', E'Sonntag 02:00–04:00 Uhr\\nkeine Buchungen möglich.', 'all', {ctx.ts("400")}),
    ('Preisänderung 2025', 'Die Tarife „Legacy Flat“ laufen aus.', 'owners', {ctx.ts("600")}),
    ('Entwurf: Sommeraktion', 'noch nicht veröffentlicht', 'all', NULL)""",
        ),
    ]
