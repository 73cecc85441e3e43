"""Side tables of customers, appointments and calls: notes, tags, consents, history, reminders, recordings.

All derived from the core rows (same company, same customer), so joins in the app make sense after a restore.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, arr, h, pick

DDL = r"""
CREATE TABLE tags (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    color char(7),
    UNIQUE (company_id, name)
);
CREATE TABLE customer_tag (
    customer_id bigint NOT NULL,
    tag_id bigint NOT NULL,
    PRIMARY KEY (customer_id, tag_id)
);
CREATE TABLE customer_notes (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    user_id bigint,
    body text NOT NULL,
    pinned boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);
CREATE TABLE customer_consents (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    kind text NOT NULL,
    granted boolean NOT NULL,
    source text,
    ip_address inet,
    granted_at timestamptz NOT NULL
);
CREATE TABLE waitlist_entries (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    service_id bigint,
    preferred_from date NOT NULL,
    preferred_to date NOT NULL,
    note text,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    CHECK (preferred_to >= preferred_from)
);
CREATE TABLE appointment_status_history (
    id bigserial PRIMARY KEY,
    appointment_id bigint NOT NULL,
    from_status text,
    to_status text NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL
);
CREATE TABLE appointment_reminders (
    id bigserial PRIMARY KEY,
    appointment_id bigint NOT NULL,
    channel text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    sent_at timestamptz,
    status text NOT NULL
);
CREATE TABLE appointment_notes (
    id bigserial PRIMARY KEY,
    appointment_id bigint NOT NULL,
    user_id bigint,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE call_tags (
    call_id bigint NOT NULL,
    tag text NOT NULL,
    PRIMARY KEY (call_id, tag)
);
CREATE TABLE call_notes (
    id bigserial PRIMARY KEY,
    call_id bigint NOT NULL,
    user_id bigint,
    body text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE call_transfers (
    id bigserial PRIMARY KEY,
    call_id bigint NOT NULL UNIQUE,
    target_number text NOT NULL,
    answered boolean NOT NULL,
    transferred_at timestamptz NOT NULL
);
CREATE TABLE call_recordings (
    id bigserial PRIMARY KEY,
    call_id bigint NOT NULL UNIQUE,
    url text NOT NULL,
    format text NOT NULL DEFAULT 'wav',
    duration_ms integer NOT NULL,
    size_bytes bigint NOT NULL,
    sha256 bytea NOT NULL,
    waveform_preview bytea,
    storage_class text NOT NULL,
    created_at timestamptz NOT NULL
);
"""

FOREIGN_KEYS = (
    ("tags", "company_id", "companies", "CASCADE"),
    ("customer_tag", "customer_id", "customers", "CASCADE"),
    ("customer_tag", "tag_id", "tags", "CASCADE"),
    ("customer_notes", "customer_id", "customers", "CASCADE"),
    ("customer_notes", "user_id", "users", "SET NULL"),
    ("customer_consents", "customer_id", "customers", "CASCADE"),
    ("waitlist_entries", "company_id", "companies", "CASCADE"),
    ("waitlist_entries", "customer_id", "customers", "CASCADE"),
    ("waitlist_entries", "service_id", "services", "SET NULL"),
    ("appointment_status_history", "appointment_id", "appointments", "CASCADE"),
    ("appointment_reminders", "appointment_id", "appointments", "CASCADE"),
    ("appointment_notes", "appointment_id", "appointments", "CASCADE"),
    ("appointment_notes", "user_id", "users", "SET NULL"),
    ("call_tags", "call_id", "calls", "CASCADE"),
    ("call_notes", "call_id", "calls", "CASCADE"),
    ("call_notes", "user_id", "users", "SET NULL"),
    ("call_transfers", "call_id", "calls", "CASCADE"),
    ("call_recordings", "call_id", "calls", "CASCADE"),
)

INDEXES = r"""
CREATE INDEX customer_tag_tag_id_index ON customer_tag (tag_id);
CREATE INDEX customer_notes_customer_id_index ON customer_notes (customer_id);
CREATE INDEX appointment_status_history_appointment_id_index ON appointment_status_history (appointment_id);
CREATE INDEX appointment_reminders_due_index ON appointment_reminders (scheduled_for) WHERE sent_at IS NULL;
CREATE INDEX call_tags_tag_index ON call_tags (tag);
"""

_TAGS = ("Stammkunde", "VIP", "Neukunde", "Zahlungserinnerung", "Barrierefrei")
_NOTES = (
    "Hat nach Parkmöglichkeiten gefragt.",
    "Rückruf erbeten, nicht vor 10 Uhr.",
    "Mag keine Terminänderungen per SMS.",
    'Hund heißt "Bello" – ängstlich beim Tierarzt.',
    "Rechnung bitte an: Firma Müller & Söhne\nz. Hd. Frau Groß\nIndustriestr. 5",
    "Allergie: Penicillin!",
    "Spricht nur Englisch / English only.",
)


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for the side tables."""
    customers = "(SELECT max(id) FROM customers)"
    at = ctx.ts_rand("i", 401)
    return [
        (
            "tags",
            f"""
INSERT INTO tags (id, company_id, name, color)
SELECT (c.id - 1) * 5 + k, c.id, ({arr(_TAGS)})[k], '#' || substr(md5('tag' || c.id || k), 1, 6)
FROM companies c CROSS JOIN generate_series(1, 5) k ORDER BY 1""",
        ),
        (
            "customer_tag",
            f"""
INSERT INTO customer_tag (customer_id, tag_id)
SELECT cu.id, t.id FROM customers cu
JOIN tags t ON t.company_id = cu.company_id AND t.name = ({arr(_TAGS)})[1 + {h("cu.id", 402, 5)}]
WHERE cu.id % 3 = 0 ORDER BY cu.id""",
        ),
        (
            "customer_notes",
            f"""
INSERT INTO customer_notes (customer_id, user_id, body, pinned, created_at)
SELECT cu.id, c.user_base + 1 + {h("i", 403, "c.user_n")}, {pick(_NOTES, "i", 404)}, i % 10 = 0,
    greatest(cu.created_at, {at})
FROM generate_series(1, {ctx.n(800, 5)}) i
JOIN customers cu ON cu.id = 1 + {h("i", 405, customers)} JOIN _dg_co c ON c.company_id = cu.company_id
ORDER BY i""",
        ),
        (
            "customer_consents",
            """
INSERT INTO customer_consents (customer_id, kind, granted, source, ip_address, granted_at)
SELECT id, 'marketing_email', true, coalesce(source, 'unknown'),
    CASE WHEN id % 4 = 0 THEN ('192.0.2.' || (1 + id % 250))::inet END, created_at
FROM customers WHERE marketing_consent ORDER BY id""",
        ),
        (
            "waitlist_entries",
            f"""
INSERT INTO waitlist_entries (company_id, customer_id, service_id, preferred_from, preferred_to, note, status,
    created_at)
SELECT c.company_id, c.cust_base + 1 + {h("i", 406, "c.cust_n")},
    c.service_base + 1 + {h("i", 407, "c.service_n")},
    (w AT TIME ZONE 'UTC')::date + 1, (w AT TIME ZONE 'UTC')::date + 1 + {h("i", 408, 20)},
    CASE WHEN i % 4 = 0 THEN 'Nur nachmittags' END,
    {pick(("waiting", "waiting", "offered", "booked", "expired"), "i", 409)}, w
FROM (SELECT i, {at} AS w FROM generate_series(1, {ctx.n(200, 3)}) i) s
JOIN _dg_slot c ON c.slot = {h("i", 410, 100)} ORDER BY i""",
        ),
        (
            "appointment_status_history",
            """
INSERT INTO appointment_status_history (appointment_id, from_status, to_status, changed_by, changed_at)
SELECT id, f, t, by, at FROM (
    SELECT id, NULL AS f, CASE WHEN status = 'pending' THEN 'pending' ELSE 'accepted' END AS t,
        source::text AS by, created_at AS at, 1 AS k FROM appointments
    UNION ALL
    SELECT id, 'accepted', status, CASE WHEN cancellation_reason = 'Telefonisch abgesagt' THEN 'phone_agent'
        ELSE 'calcom_webhook' END, coalesce(cancelled_at, created_at + INTERVAL '1 hour'), 2
    FROM appointments WHERE status IN ('cancelled', 'rejected')
) h ORDER BY id, k""",
        ),
        (
            "appointment_reminders",
            f"""
INSERT INTO appointment_reminders (appointment_id, channel, scheduled_for, sent_at, status)
SELECT id, CASE WHEN (metadata ->> 'reminder_sms')::boolean THEN 'sms' ELSE 'email' END,
    starts_at - INTERVAL '24 hours',
    CASE WHEN starts_at - INTERVAL '24 hours' < {ctx.ts(str(ctx.days - 2))}
        THEN starts_at - INTERVAL '24 hours' END,
    CASE WHEN starts_at - INTERVAL '24 hours' < {ctx.ts(str(ctx.days - 2))} THEN 'sent' ELSE 'scheduled' END
FROM appointments WHERE status IN ('accepted', 'pending') ORDER BY id""",
        ),
        (
            "appointment_notes",
            f"""
INSERT INTO appointment_notes (appointment_id, user_id, body, created_at)
SELECT a.id, c.user_base + 2, {pick(_NOTES, "a.id", 411)}, a.created_at + INTERVAL '10 minutes'
FROM appointments a JOIN _dg_co c ON c.company_id = a.company_id WHERE a.id % 13 = 0 ORDER BY a.id""",
        ),
        (
            "call_tags",
            """
INSERT INTO call_tags (call_id, tag)
SELECT id, t FROM calls CROSS JOIN LATERAL (VALUES
    (CASE WHEN appointment_id IS NOT NULL THEN 'termin' ELSE 'info' END),
    (CASE WHEN call_analysis ->> 'user_sentiment' = 'Negative' THEN 'unzufrieden' END)) v(t)
WHERE t IS NOT NULL AND call_status = 'ended' AND id % 4 = 0 ORDER BY id, t""",
        ),
        (
            "call_notes",
            """
INSERT INTO call_notes (call_id, user_id, body, created_at)
SELECT l.id, c.user_base + 1, 'Rückruf erledigt. ' || coalesce(l.call_analysis ->> 'call_summary', ''),
    l.updated_at + INTERVAL '2 hours'
FROM calls l JOIN _dg_co c ON c.company_id = l.company_id WHERE l.id % 25 = 0 AND l.call_status = 'ended'
ORDER BY l.id""",
        ),
        (
            "call_transfers",
            """
INSERT INTO call_transfers (call_id, target_number, answered, transferred_at)
SELECT l.id, co.phone_number || '0', l.id % 3 <> 0, l.ended_at - INTERVAL '2 seconds'
FROM calls l JOIN companies co ON co.id = l.company_id WHERE l.disconnection_reason = 'call_transfer'
ORDER BY l.id""",
        ),
        (
            "call_recordings",
            f"""
INSERT INTO call_recordings (call_id, url, duration_ms, size_bytes, sha256, waveform_preview, storage_class,
    created_at)
SELECT id, recording_url, duration_ms, (duration_ms::bigint * 32), sha256(convert_to(retell_call_id, 'UTF8')),
    decode(md5('w1' || id) || md5('w2' || id) || md5('w3' || id) || md5('w4' || id), 'hex'),
    CASE WHEN started_at < {ctx.ts(str(ctx.days - 30))} THEN 'GLACIER_IR' ELSE 'STANDARD' END,
    updated_at
FROM calls WHERE recording_url IS NOT NULL AND started_at >= {ctx.ts(str(ctx.days - 90))} ORDER BY id""",
        ),
    ]
