"""Inbound webhooks, outbound messages (SMS with an enum status, e-mail) and the security trail (audits,
logins).

Webhook and message rows are derived from appointments and calls, so they agree with the core tables.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, h, pick

DDL = r"""
CREATE TABLE webhook_calls (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    url varchar(512) NOT NULL,
    headers jsonb,
    payload jsonb,
    exception text,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE webhook_endpoints (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    url text NOT NULL,
    secret_hint varchar(8),
    events text[] NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz
);
CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    webhook_endpoint_id bigint NOT NULL,
    event text NOT NULL,
    payload jsonb NOT NULL,
    response_status smallint,
    attempts smallint NOT NULL DEFAULT 1,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE outbox_events (
    id bigserial PRIMARY KEY,
    aggregate_type text NOT NULL,
    aggregate_id bigint NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    published_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE sms_templates (
    id bigserial PRIMARY KEY,
    company_id bigint,
    key text NOT NULL,
    body text NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE email_templates (
    id bigserial PRIMARY KEY,
    company_id bigint,
    key text NOT NULL,
    locale varchar(5) NOT NULL,
    subject text NOT NULL,
    body_html text NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE sms_messages (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    customer_id bigint,
    appointment_id bigint,
    to_number text NOT NULL,
    body text NOT NULL,
    status sms_status NOT NULL,
    provider_message_id text,
    segments smallint NOT NULL DEFAULT 1,
    cost_cents integer,
    error_code text,
    sent_at timestamptz,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE email_logs (
    id bigserial PRIMARY KEY,
    company_id bigint,
    to_address text NOT NULL,
    subject text NOT NULL,
    template text NOT NULL,
    message_id text,
    status text NOT NULL,
    opened_at timestamptz,
    meta jsonb,
    created_at timestamptz NOT NULL
);
CREATE TABLE notification_preferences (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    channel text NOT NULL,
    event text NOT NULL,
    enabled boolean NOT NULL,
    UNIQUE (user_id, channel, event)
);
CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    company_id bigint,
    user_type varchar(255),
    user_id bigint,
    event varchar(255) NOT NULL,
    auditable_type varchar(255) NOT NULL,
    auditable_id bigint NOT NULL,
    old_values jsonb,
    new_values jsonb,
    url text,
    ip_address inet,
    user_agent varchar(1023),
    tags text[],
    created_at timestamptz NOT NULL
);
CREATE TABLE login_attempts (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    ip_address inet,
    successful boolean NOT NULL,
    user_agent text,
    created_at timestamptz NOT NULL
);
CREATE TABLE user_devices (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    name text NOT NULL,
    platform text NOT NULL,
    push_token text,
    last_seen_at timestamptz
);
CREATE TABLE user_invitations (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    email text NOT NULL,
    role text NOT NULL,
    token char(64) NOT NULL UNIQUE,
    invited_by bigint,
    accepted_at timestamptz,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE gdpr_requests (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    customer_id bigint,
    type text NOT NULL CHECK (type IN ('export', 'erase', 'rectify')),
    status text NOT NULL,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);
"""

FOREIGN_KEYS = (
    ("webhook_endpoints", "company_id", "companies", "CASCADE"),
    ("webhook_deliveries", "webhook_endpoint_id", "webhook_endpoints", "CASCADE"),
    ("sms_templates", "company_id", "companies", "CASCADE"),
    ("email_templates", "company_id", "companies", "CASCADE"),
    ("sms_messages", "company_id", "companies", "CASCADE"),
    ("sms_messages", "customer_id", "customers", "SET NULL"),
    ("sms_messages", "appointment_id", "appointments", "SET NULL"),
    ("email_logs", "company_id", "companies", "SET NULL"),
    ("notification_preferences", "user_id", "users", "CASCADE"),
    ("audit_events", "company_id", "companies", "SET NULL"),
    ("user_devices", "user_id", "users", "CASCADE"),
    ("user_invitations", "company_id", "companies", "CASCADE"),
    ("user_invitations", "invited_by", "users", "SET NULL"),
    ("gdpr_requests", "company_id", "companies", "CASCADE"),
    ("gdpr_requests", "customer_id", "customers", "SET NULL"),
)

INDEXES = r"""
CREATE INDEX webhook_calls_name_created_at_index ON webhook_calls (name, created_at);
CREATE INDEX webhook_deliveries_failed_index ON webhook_deliveries (webhook_endpoint_id)
    WHERE delivered_at IS NULL;
CREATE INDEX outbox_events_unpublished_index ON outbox_events (created_at) WHERE published_at IS NULL;
CREATE INDEX sms_messages_appointment_id_index ON sms_messages (appointment_id);
CREATE INDEX email_logs_to_address_index ON email_logs (to_address);
CREATE INDEX audit_events_auditable_index ON audit_events (auditable_type, auditable_id);
CREATE INDEX audit_events_user_id_index ON audit_events (user_id);
CREATE INDEX login_attempts_email_created_at_index ON login_attempts (email, created_at);
"""

_AUDITABLE = ("App\\Models\\Appointment", "App\\Models\\Customer", "App\\Models\\Service")
_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4",
    "AskPro/3.1.0 (iPhone; iOS 17.4.1; Scale/3.00)",
)


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for webhooks, messages and the security trail."""
    users = "(SELECT max(id) FROM users)"
    recent = ctx.ts(str(ctx.days - 60))
    at = ctx.ts_rand("i", 301)
    return [
        (
            "webhook_calls",
            f"""
INSERT INTO webhook_calls (name, url, headers, payload, exception, created_at, updated_at)
SELECT name, url, headers, payload, exception, at, at FROM (
    SELECT 'calcom' AS name, 'https://app.example/api/webhooks/calcom' AS url,
        jsonb_build_object('content-type', ARRAY['application/json'], 'x-cal-signature-256',
            ARRAY[md5('sig' || a.id) || md5('sig2' || a.id)]) AS headers,
        jsonb_build_object('triggerEvent', 'BOOKING_CREATED', 'createdAt', a.created_at, 'payload',
            jsonb_build_object('bookingId', a.calcom_booking_id, 'uid', a.calcom_booking_uid, 'eventTypeId',
            a.calcom_event_type_id, 'startTime', a.starts_at, 'endTime', a.ends_at, 'status', upper(a.status),
            'attendees', jsonb_build_array(jsonb_build_object('name', c.first_name || ' ' || c.last_name,
            'email', c.email, 'timeZone', 'Europe/Berlin', 'language', jsonb_build_object('locale', 'de'))),
            'organizer', jsonb_build_object('id', s.calcom_user_id, 'name',
                s.first_name || ' ' || s.last_name,
            'timeZone', 'Europe/Berlin'))) AS payload,
        CASE WHEN a.id % 97 = 0 THEN 'SQLSTATE[23505]: Unique violation: 7 ERROR:  duplicate key value '
            || 'violates unique constraint "appointments_calcom_booking_uid_unique"' END AS exception,
        a.created_at + INTERVAL '2 seconds' AS at, a.id AS ref, 1 AS k
    FROM appointments a JOIN customers c ON c.id = a.customer_id LEFT JOIN staff s ON s.id = a.staff_id
    WHERE a.created_at >= {recent}
    UNION ALL
    SELECT 'retell', 'https://app.example/api/webhooks/retell',
        jsonb_build_object('content-type', ARRAY['application/json'], 'x-retell-signature',
            ARRAY['v=' || (extract(epoch FROM l.updated_at) * 1000)::bigint || ',d=' || md5('rs' || l.id)]),
        jsonb_build_object('event', 'call_analyzed', 'call', jsonb_build_object('call_id', l.retell_call_id,
            'agent_id', l.agent_id, 'call_status', l.call_status, 'direction', l.direction, 'from_number',
            l.from_number, 'to_number', l.to_number, 'duration_ms', l.duration_ms, 'disconnection_reason',
            l.disconnection_reason, 'call_analysis', l.call_analysis)),
        NULL, l.updated_at + INTERVAL '1 second', l.id, 2
    FROM calls l WHERE l.call_status = 'ended' AND l.started_at >= {recent}
) w ORDER BY at, k, ref""",
        ),
        (
            "webhook_endpoints",
            """
INSERT INTO webhook_endpoints (id, company_id, url, secret_hint, events, is_active, created_at)
SELECT id, id, 'https://hooks.' || slug || '.example/askpro', substr(md5('wh' || id), 1, 8),
    ARRAY['appointment.created', 'appointment.cancelled'] || CASE WHEN id % 2 = 0 THEN ARRAY['call.ended']
    ELSE '{}'::text[] END, id <> 3, created_at + INTERVAL '10 days'
FROM companies ORDER BY id""",
        ),
        (
            "webhook_deliveries",
            f"""
INSERT INTO webhook_deliveries (webhook_endpoint_id, event, payload, response_status, attempts, delivered_at,
    created_at)
SELECT c.company_id, {pick(("appointment.created", "appointment.cancelled", "call.ended"), "i", 302)},
    jsonb_build_object('id', md5('wd' || i)::uuid, 'appointment_id', 1 + {h("i", 303, 5000)}),
    {pick(("200", "200", "200", "204", "410", "500", None), "i", 304)}::smallint, 1 + {h("i", 305, 3)},
    CASE WHEN {h("i", 306, 10)} > 0 THEN {at} + INTERVAL '1 second' END, {at}
FROM generate_series(1, {ctx.n(1500, 5)}) i JOIN _dg_slot c ON c.slot = {h("i", 307, 100)} ORDER BY i""",
        ),
        (
            "outbox_events",
            f"""
INSERT INTO outbox_events (aggregate_type, aggregate_id, event_type, payload, published_at, created_at)
SELECT 'appointment', id,
    CASE status WHEN 'cancelled' THEN 'AppointmentCancelled' ELSE 'AppointmentBooked' END,
    jsonb_build_object('id', id, 'company_id', company_id, 'starts_at', starts_at, 'status', status),
    CASE WHEN id % 50 <> 0 THEN created_at + INTERVAL '3 seconds' END, created_at
FROM appointments WHERE created_at >= {ctx.ts(str(ctx.days - 120))} ORDER BY id""",
        ),
        (
            "sms_templates",
            """
INSERT INTO sms_templates (company_id, key, body, created_at, updated_at)
SELECT c.id, k.key, replace(k.body, '{firma}', c.name), c.created_at, c.updated_at
FROM companies c CROSS JOIN (VALUES ('reminder',
    'Erinnerung: Ihr Termin bei {firma} ist morgen um {{zeit}} Uhr.
Absagen? Antworten Sie mit STOP.'), ('confirmation', '{firma}: Termin bestätigt für {{datum}}.')) k(key, body)
ORDER BY c.id, k.key""",
        ),
        (
            "email_templates",
            """
INSERT INTO email_templates (company_id, key, locale, subject, body_html, created_at, updated_at)
SELECT NULL, k, l, CASE l WHEN 'de' THEN 'Ihr Termin am {{ date }}' ELSE 'Your appointment on {{ date }}' END,
    '<!doctype html><html><body style="font-family: sans-serif"><h1>{{ company }}</h1><p>'
    || CASE l WHEN 'de' THEN 'Hallo {{ name }}, Ihr Termin ist bestätigt.'
              ELSE 'Hi {{ name }}, you''re booked.'
    END || '</p><p><a href="{{ cancel_url }}">Absagen</a></p></body></html>',
    TIMESTAMPTZ '2022-01-10 09:00:00+00', TIMESTAMPTZ '2022-01-10 09:00:00+00'
FROM unnest(ARRAY['booking_confirmed', 'booking_cancelled', 'booking_reminder', 'invoice_ready',
    'password_reset']) k CROSS JOIN unnest(ARRAY['de', 'en']) l ORDER BY k, l""",
        ),
        (
            "sms_messages",
            f"""
INSERT INTO sms_messages (company_id, customer_id, appointment_id, to_number, body, status,
    provider_message_id, segments, cost_cents, error_code, sent_at, delivered_at, created_at)
SELECT a.company_id, a.customer_id, a.id, c.phone_number,
    'Erinnerung: Ihr Termin bei ' || co.name || ' am ' || to_char(a.starts_at AT TIME ZONE 'UTC', 'DD.MM.')
        || ' um ' || to_char(a.starts_at AT TIME ZONE 'UTC', 'HH24:MI') || E' Uhr.\\nAbsagen: Antwort STOP',
    st, 'SM' || substr(md5('sms' || a.id), 1, 32), 1 + (a.id % 2)::int, 7,
    CASE WHEN st IN ('failed', 'undelivered') THEN '30006' END,
    CASE WHEN st <> 'queued' THEN a.starts_at - INTERVAL '24 hours' END,
    CASE WHEN st = 'delivered' THEN a.starts_at - INTERVAL '24 hours' + INTERVAL '4 seconds' END,
    a.starts_at - INTERVAL '24 hours' - INTERVAL '1 second'
FROM (SELECT a.*, (CASE WHEN {h("a.id", 308, 40)} = 0 THEN 'failed' WHEN {h("a.id", 308, 40)} = 1 THEN
        'undelivered' WHEN a.starts_at > {ctx.ts(str(ctx.days - 2))} THEN 'queued'
        WHEN {h("a.id", 309, 5)} = 0
        THEN 'sent' ELSE 'delivered' END)::sms_status AS st
      FROM appointments a WHERE a.status = 'accepted' AND (a.metadata ->> 'reminder_sms')::boolean) a
JOIN customers c ON c.id = a.customer_id JOIN companies co ON co.id = a.company_id
WHERE c.phone_number IS NOT NULL ORDER BY a.id""",
        ),
        (
            "email_logs",
            """
INSERT INTO email_logs (company_id, to_address, subject, template, message_id, status, opened_at, meta,
    created_at)
SELECT a.company_id, c.email, 'Ihr Termin am ' || to_char(a.starts_at AT TIME ZONE 'UTC', 'DD.MM.YYYY'),
    CASE a.status WHEN 'cancelled' THEN 'booking_cancelled' ELSE 'booking_confirmed' END,
    '<' || md5('mail' || a.id) || '@mail.askpro.example>',
        CASE WHEN a.id % 53 = 0 THEN 'bounced' ELSE 'sent' END,
    CASE WHEN a.id % 3 = 0 THEN a.created_at + INTERVAL '2 hours' END,
    jsonb_build_object('appointment_id', a.id, 'mailer', 'ses'), a.created_at + INTERVAL '20 seconds'
FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE c.email IS NOT NULL ORDER BY a.id""",
        ),
        (
            "notification_preferences",
            """
INSERT INTO notification_preferences (user_id, channel, event, enabled)
SELECT u.id, ch, ev, (u.id + length(ev)) % 4 <> 0 FROM users u
CROSS JOIN unnest(ARRAY['mail', 'database']) ch CROSS JOIN unnest(ARRAY['new_booking', 'cancellation',
    'missed_call']) ev ORDER BY u.id, ch, ev""",
        ),
        (
            "audit_events",
            f"""
INSERT INTO audit_events (company_id, user_type, user_id, event, auditable_type, auditable_id, old_values,
    new_values, url, ip_address, user_agent, tags, created_at)
SELECT c.company_id, 'App\\Models\\User', c.user_base + 1 + {h("i", 310, "c.user_n")}, ev,
    {pick(_AUDITABLE, "i", 311)},
    1 + {h("i", 312, 3000)},
    CASE WHEN ev <> 'created' THEN jsonb_build_object('status', 'accepted', 'phone_number',
        '+49 151 000' || i % 97)
    END, CASE WHEN ev <> 'deleted' THEN jsonb_build_object('status', 'cancelled', 'notes',
        E'Änderung\\tper Telefon')
    END, 'https://app.example/appointments/' || i, ('192.0.2.' || (1 + i % 250))::inet, {pick(_UA, "i", 313)},
    CASE WHEN i % 6 = 0 THEN ARRAY['gdpr'] END, {at}
FROM (SELECT i, {pick(("created", "updated", "updated", "deleted", "restored"), "i", 314)} AS ev
      FROM generate_series(1, {ctx.n(5000, 10)}) i) s JOIN _dg_slot c ON c.slot = {h("i", 315, 100)}
ORDER BY i""",
        ),
        (
            "login_attempts",
            f"""
INSERT INTO login_attempts (email, ip_address, successful, user_agent, created_at)
SELECT CASE WHEN i % 9 = 0 THEN 'admin@' || {pick(("example.com", "test.invalid", "x"), "i", 316)}
    ELSE u.email END,
    ('203.0.113.' || (1 + i % 250))::inet, i % 9 <> 0 AND i % 13 <> 0, {pick(_UA, "i", 317)}, {at}
FROM generate_series(1, {ctx.n(1200, 5)}) i JOIN users u ON u.id = 1 + {h("i", 318, users)} ORDER BY i""",
        ),
        (
            "user_devices",
            f"""
INSERT INTO user_devices (user_id, name, platform, push_token, last_seen_at)
SELECT id, CASE WHEN id % 2 = 0 THEN 'iPhone von ' || split_part(name, ' ', 1) ELSE 'Praxis-PC' END,
    CASE WHEN id % 2 = 0 THEN 'ios' ELSE 'web' END,
    CASE WHEN id % 2 = 0 THEN encode(sha256(convert_to('push' || id, 'UTF8')), 'hex') END,
    {ctx.ts(str(ctx.days - 1))} - id * INTERVAL '13 minutes'
FROM users ORDER BY id""",
        ),
        (
            "user_invitations",
            """
INSERT INTO user_invitations (company_id, email, role, token, invited_by, accepted_at, expires_at, created_at)
SELECT c.id, 'neu' || k || '@' || c.slug || '.example',
    CASE WHEN k = 1 THEN 'staff' ELSE 'company-manager' END,
    encode(sha256(convert_to('inv' || c.id || k, 'UTF8')), 'hex'),
        (SELECT min(id) FROM users WHERE company_id = c.id),
    CASE WHEN k = 1 THEN c.created_at + INTERVAL '3 days' END, c.created_at + INTERVAL '7 days',
    c.created_at + INTERVAL '1 day'
FROM companies c CROSS JOIN generate_series(1, 2) k WHERE k = 1 OR c.id % 3 = 0 ORDER BY c.id, k""",
        ),
        (
            "gdpr_requests",
            f"""
INSERT INTO gdpr_requests (company_id, customer_id, type, status, requested_at, completed_at)
SELECT c.company_id, c.cust_base + 1 + {h("i", 319, "c.cust_n")},
    {pick(("export", "erase", "rectify"), "i", 320)},
    CASE WHEN i % 5 = 0 THEN 'pending' ELSE 'completed' END, {at},
    CASE WHEN i % 5 <> 0 THEN {at} + INTERVAL '9 days' END
FROM generate_series(1, {ctx.n(40, 3)}) i JOIN _dg_slot c ON c.slot = {h("i", 321, 100)} ORDER BY i""",
        ),
    ]
