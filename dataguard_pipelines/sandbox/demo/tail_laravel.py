"""The framework tables every Laravel app carries: queue, cache, sessions, auth, permissions, logs, settings.

They hold little business value but most of the table count, odd types (unix-int timestamps, json vs
jsonb, a column named "group", serialized PHP with backslashes) and a partitioned activity log.
"""

from __future__ import annotations

from datetime import timedelta

from dataguard_pipelines.sandbox.demo.sql import Ctx, add_months, h, lit, pick

DDL = r"""
CREATE TABLE migrations (
    id serial PRIMARY KEY,
    migration varchar(255) NOT NULL,
    batch integer NOT NULL
);
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    queue varchar(255) NOT NULL,
    payload text NOT NULL,
    attempts smallint NOT NULL,
    reserved_at integer,
    available_at integer NOT NULL,
    created_at integer NOT NULL
);
CREATE TABLE job_batches (
    id varchar(255) PRIMARY KEY,
    name varchar(255) NOT NULL,
    total_jobs integer NOT NULL,
    pending_jobs integer NOT NULL,
    failed_jobs integer NOT NULL,
    failed_job_ids text NOT NULL,
    options text,
    cancelled_at integer,
    created_at integer NOT NULL,
    finished_at integer
);
CREATE TABLE failed_jobs (
    id bigserial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    connection text NOT NULL,
    queue text NOT NULL,
    payload text NOT NULL,
    exception text NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE TABLE sessions (
    id varchar(255) PRIMARY KEY,
    user_id bigint,
    ip_address varchar(45),
    user_agent text,
    payload text NOT NULL,
    last_activity integer NOT NULL
);
CREATE TABLE cache (
    key varchar(255) PRIMARY KEY,
    value text NOT NULL,
    expiration integer NOT NULL
);
CREATE TABLE cache_locks (
    key varchar(255) PRIMARY KEY,
    owner varchar(255) NOT NULL,
    expiration integer NOT NULL
);
CREATE TABLE password_reset_tokens (
    email varchar(255) PRIMARY KEY,
    token varchar(255) NOT NULL,
    created_at timestamptz
);
CREATE TABLE personal_access_tokens (
    id bigserial PRIMARY KEY,
    tokenable_type varchar(255) NOT NULL,
    tokenable_id bigint NOT NULL,
    name varchar(255) NOT NULL,
    token varchar(64) NOT NULL UNIQUE,
    abilities text,
    last_used_at timestamptz,
    expires_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    type varchar(255) NOT NULL,
    notifiable_type varchar(255) NOT NULL,
    notifiable_id bigint NOT NULL,
    data jsonb NOT NULL,
    read_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE permissions (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    guard_name varchar(255) NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (name, guard_name)
);
CREATE TABLE roles (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    guard_name varchar(255) NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (name, guard_name)
);
CREATE TABLE model_has_roles (
    role_id bigint NOT NULL,
    model_type varchar(255) NOT NULL,
    model_id bigint NOT NULL,
    PRIMARY KEY (role_id, model_id, model_type)
);
CREATE TABLE model_has_permissions (
    permission_id bigint NOT NULL,
    model_type varchar(255) NOT NULL,
    model_id bigint NOT NULL,
    PRIMARY KEY (permission_id, model_id, model_type)
);
CREATE TABLE role_has_permissions (
    permission_id bigint NOT NULL,
    role_id bigint NOT NULL,
    PRIMARY KEY (permission_id, role_id)
);
CREATE TABLE activity_log (
    id bigserial,
    log_name varchar(255),
    description text NOT NULL,
    subject_type varchar(255),
    event varchar(255),
    subject_id bigint,
    causer_type varchar(255),
    causer_id bigint,
    properties jsonb,
    batch_uuid uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE media (
    id bigserial PRIMARY KEY,
    model_type varchar(255) NOT NULL,
    model_id bigint NOT NULL,
    uuid uuid UNIQUE,
    collection_name varchar(255) NOT NULL,
    name varchar(255) NOT NULL,
    file_name varchar(255) NOT NULL,
    mime_type varchar(255),
    disk varchar(255) NOT NULL,
    conversions_disk varchar(255),
    size bigint NOT NULL,
    manipulations json NOT NULL,
    custom_properties json NOT NULL,
    generated_conversions json NOT NULL,
    responsive_images json NOT NULL,
    order_column integer,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE telescope_entries (
    sequence bigserial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    batch_id uuid NOT NULL,
    family_hash varchar(255),
    should_display_on_index boolean NOT NULL DEFAULT true,
    type varchar(20) NOT NULL,
    content text NOT NULL,
    created_at timestamptz
);
CREATE TABLE telescope_entries_tags (
    entry_uuid uuid NOT NULL,
    tag varchar(255) NOT NULL,
    PRIMARY KEY (entry_uuid, tag)
);
CREATE TABLE telescope_monitoring (
    tag varchar(255) PRIMARY KEY
);
CREATE TABLE pulse_values (
    id bigserial PRIMARY KEY,
    timestamp integer NOT NULL,
    type varchar(255) NOT NULL,
    key text NOT NULL,
    key_hash uuid NOT NULL,
    value text NOT NULL,
    UNIQUE (type, key_hash)
);
CREATE TABLE pulse_entries (
    id bigserial PRIMARY KEY,
    timestamp integer NOT NULL,
    type varchar(255) NOT NULL,
    key text NOT NULL,
    key_hash uuid NOT NULL,
    value bigint
);
CREATE TABLE pulse_aggregates (
    id bigserial PRIMARY KEY,
    bucket integer NOT NULL,
    period integer NOT NULL,
    type varchar(255) NOT NULL,
    key text NOT NULL,
    key_hash uuid NOT NULL,
    aggregate varchar(255) NOT NULL,
    value numeric(20, 2) NOT NULL,
    count integer,
    UNIQUE (bucket, period, type, aggregate, key_hash)
);
CREATE TABLE settings (
    id bigserial PRIMARY KEY,
    "group" varchar(255) NOT NULL,
    name varchar(255) NOT NULL,
    locked boolean NOT NULL DEFAULT false,
    payload json NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE ("group", name)
);
CREATE TABLE company_settings (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    key varchar(255) NOT NULL,
    value jsonb,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (company_id, key)
);
CREATE TABLE feature_flags (
    id bigserial PRIMARY KEY,
    key varchar(100) NOT NULL UNIQUE,
    description text,
    enabled_globally boolean NOT NULL DEFAULT false,
    rollout_percent smallint NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE company_feature_flags (
    company_id bigint NOT NULL,
    feature_flag_id bigint NOT NULL,
    enabled boolean NOT NULL,
    updated_at timestamptz,
    PRIMARY KEY (company_id, feature_flag_id)
);
CREATE TABLE user_preferences (
    user_id bigint PRIMARY KEY,
    theme varchar(20) NOT NULL DEFAULT 'system',
    locale varchar(10),
    notifications jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz
);
"""

FOREIGN_KEYS = (
    ("sessions", "user_id", "users", "CASCADE"),
    ("model_has_roles", "role_id", "roles", "CASCADE"),
    ("model_has_permissions", "permission_id", "permissions", "CASCADE"),
    ("role_has_permissions", "permission_id", "permissions", "CASCADE"),
    ("role_has_permissions", "role_id", "roles", "CASCADE"),
    ("company_settings", "company_id", "companies", "CASCADE"),
    ("company_feature_flags", "company_id", "companies", "CASCADE"),
    ("company_feature_flags", "feature_flag_id", "feature_flags", "CASCADE"),
    ("user_preferences", "user_id", "users", "CASCADE"),
)

INDEXES = r"""
CREATE INDEX jobs_queue_index ON jobs (queue);
CREATE INDEX sessions_user_id_index ON sessions (user_id);
CREATE INDEX sessions_last_activity_index ON sessions (last_activity);
CREATE INDEX personal_access_tokens_tokenable_index ON personal_access_tokens (tokenable_type, tokenable_id);
CREATE INDEX notifications_notifiable_index ON notifications (notifiable_type, notifiable_id);
CREATE INDEX notifications_unread_index ON notifications (notifiable_id) WHERE read_at IS NULL;
CREATE INDEX model_has_roles_model_index ON model_has_roles (model_id, model_type);
CREATE INDEX model_has_permissions_model_index ON model_has_permissions (model_id, model_type);
CREATE INDEX activity_log_log_name_index ON activity_log (log_name);
CREATE INDEX activity_log_subject_index ON activity_log (subject_type, subject_id);
CREATE INDEX activity_log_causer_index ON activity_log (causer_type, causer_id);
CREATE INDEX media_model_index ON media (model_type, model_id);
CREATE INDEX telescope_entries_batch_id_index ON telescope_entries (batch_id);
CREATE INDEX telescope_entries_type_should_display_on_index_index
    ON telescope_entries (type, should_display_on_index);
CREATE INDEX telescope_entries_tags_tag_index ON telescope_entries_tags (tag);
ALTER TABLE telescope_entries_tags ADD CONSTRAINT telescope_entries_tags_entry_uuid_foreign
    FOREIGN KEY (entry_uuid) REFERENCES telescope_entries (uuid) ON DELETE CASCADE;
CREATE INDEX pulse_entries_timestamp_type_index ON pulse_entries (timestamp, type, key_hash, value);
CREATE INDEX pulse_aggregates_period_bucket_index ON pulse_aggregates (period, bucket);
"""

_JOB_CLASSES = (
    "App\\Jobs\\SyncCalcomBooking",
    "App\\Jobs\\ProcessRetellWebhook",
    "App\\Jobs\\SendAppointmentReminder",
    "App\\Jobs\\GenerateMonthlyInvoice",
    "App\\Notifications\\AppointmentConfirmed",
    "App\\Jobs\\RefreshCalcomEventTypes",
)
_NOTIFICATIONS = (
    "App\\Notifications\\NewBooking",
    "App\\Notifications\\BookingCancelled",
    "App\\Notifications\\MissedCall",
    "App\\Notifications\\InvoiceAvailable",
)
_PULSE_KEYS = (
    "GET /dashboard",
    "POST /api/webhooks/retell",
    'select * from "calls" where ...',
    "GET /appointments",
)
_PERMISSIONS = (
    "view appointments",
    "create appointments",
    "edit appointments",
    "delete appointments",
    "view calls",
    "listen recordings",
    "view customers",
    "edit customers",
    "delete customers",
    "export customers",
    "view billing",
    "manage billing",
    "manage staff",
    "manage services",
    "manage branches",
    "manage users",
    "manage integrations",
    "view reports",
    "manage settings",
    "impersonate users",
    "view audit log",
    "manage api keys",
    "manage webhooks",
    "view transcripts",
)
_ROLES = ("super-admin", "company-owner", "company-manager", "staff", "read-only")
_FLAGS = (
    ("voice_agent_v2", "Neue Retell-Agentenversion mit Tool-Calls"),
    ("sms_reminders", "SMS-Erinnerungen"),
    ("calcom_v2_bookings", "Cal.com API v2 Bookings-Endpunkt"),
    ("waitlist", "Warteliste"),
    ("recurring_appointments", "Serientermine"),
    ("whatsapp_channel", "WhatsApp-Kanal (Beta)"),
    ("ai_summary_emails", "Tägliche KI-Zusammenfassung"),
    ("new_billing_engine", "Neue Abrechnung"),
    ("multi_branch_routing", "Anrufrouting nach Filiale"),
    ("gdpr_auto_erase", "Automatische Löschung"),
    ("dark_mode", "Dunkles Design"),
    ("stripe_tax", "Stripe Tax"),
)


def partitions_sql(ctx: Ctx) -> str:
    """activity_log partitions: everything older than six months, one per month up to the next, a default."""
    month0 = ctx.anchor.replace(day=1)
    first = add_months(month0, -6)
    parts = [
        f"CREATE TABLE activity_log_before_{first:%Y_%m} PARTITION OF activity_log "
        f"FOR VALUES FROM (MINVALUE) TO ('{first.isoformat()} 00:00:00+00')"
    ]
    for k in range(-6, 2):
        lo, hi = add_months(month0, k), add_months(month0, k + 1)
        parts.append(
            f"CREATE TABLE activity_log_{lo:%Y_%m} PARTITION OF activity_log "
            f"FOR VALUES FROM ('{lo.isoformat()} 00:00:00+00') TO ('{hi.isoformat()} 00:00:00+00')"
        )
    parts.append("CREATE TABLE activity_log_default PARTITION OF activity_log DEFAULT")
    return ";\n".join(parts)


def _epoch(ts: str) -> str:
    return f"extract(epoch FROM {ts})::int"


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for the framework tables."""
    users = "(SELECT max(id) FROM users)"
    appts = "(SELECT max(id) FROM appointments)"
    recent = ctx.ts_rand("i", 101, last_days=3)
    born = ctx.ts_of(ctx.start - timedelta(days=60), 9 * 3600)
    job_payload = (
        "json_build_object('uuid', md5('job:' || i)::uuid, 'displayName', cls, 'job', "
        "'Illuminate\\Queue\\CallQueuedHandler@call', 'maxTries', 3, 'timeout', 120, 'data', "
        "json_build_object('commandName', cls, 'command', 'O:' || length(cls) || ':\"' || cls || "
        '\'":2:{s:9:"bookingId";i:\' || i * 7 || \';s:5:"queue";s:7:"default";}\'))::text'
    )
    trace = (
        "'Illuminate\\Http\\Client\\ConnectionException: cURL error 28: Operation timed out after 30001 "
        "milliseconds with 0 bytes received (see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for "
        "https://api.cal.com/v2/bookings in /var/www/app/vendor/laravel/framework/src/Illuminate/Http/Client/"
        "PendingRequest.php:1604' || E'\\nStack trace:\\n' || "
        "(SELECT string_agg('#' || k || ' /var/www/app/vendor/laravel/framework/src/Illuminate/Pipeline/"
        "Pipeline.php(' || (100 + k * 7) || '): Illuminate\\Pipeline\\Pipeline->' || "
        "'Illuminate\\Pipeline\\{closure}(Object(App\\Jobs\\SyncCalcomBooking))', E'\\n' ORDER BY k) "
        "FROM generate_series(0, 3 + i % 20) k)"
    )
    subjects = (
        "App\\Models\\Appointment",
        "App\\Models\\Customer",
        "App\\Models\\Call",
        "App\\Models\\Service",
    )
    perms = ", ".join(f"({k}, {lit(p)}, 'web', {born}, {born})" for k, p in enumerate(_PERMISSIONS, 1))
    roles = ", ".join(f"({k}, {lit(r)}, 'web', {born}, {born})" for k, r in enumerate(_ROLES, 1))
    flags = ", ".join(
        f"({k}, {lit(key)}, {lit(d)}, {str(k % 4 == 0).lower()}, {(k * 17) % 101}, {born}, {born})"
        for k, (key, d) in enumerate(_FLAGS, 1)
    )
    return [
        (
            "jobs",
            f"""
INSERT INTO jobs (id, queue, payload, attempts, reserved_at, available_at, created_at)
SELECT i, {pick(("default", "default", "webhooks", "notifications", "billing"), "i", 102)}, {job_payload},
    {h("i", 103, 3)}, CASE WHEN i % 10 = 0 THEN {_epoch(recent)} + 5 END,
        {_epoch(recent)} + {h("i", 104, 60)},
    {_epoch(recent)}
FROM (SELECT i, {pick(_JOB_CLASSES, "i", 105)} AS cls FROM generate_series(1, {ctx.n(400, 5)}) i) s""",
        ),
        (
            "job_batches",
            f"""
INSERT INTO job_batches (id, name, total_jobs, pending_jobs, failed_jobs, failed_job_ids, options,
    cancelled_at, created_at, finished_at)
SELECT md5('batch:' || i)::uuid::text, 'Monatsabrechnung ' || i, 8 + i % 5,
    CASE WHEN i % 9 = 0 THEN 2 ELSE 0 END,
    CASE WHEN i % 13 = 0 THEN 1 ELSE 0 END, CASE WHEN i % 13 = 0 THEN '["' || md5('f' || i)::uuid || '"]'
    ELSE '[]' END, 'a:0:{{}}', NULL, {_epoch(ctx.ts_rand("i", 106))}, {_epoch(ctx.ts_rand("i", 106))} + 340
FROM generate_series(1, {ctx.n(60, 3)}) i""",
        ),
        (
            "failed_jobs",
            f"""
INSERT INTO failed_jobs (id, uuid, connection, queue, payload, exception, failed_at)
SELECT i, md5('failed:' || i)::uuid, 'database', 'default', {job_payload}, {trace}, {ctx.ts_rand("i", 107)}
FROM (SELECT i, {pick(_JOB_CLASSES, "i", 108)} AS cls FROM generate_series(1, {ctx.n(150, 3)}) i) s""",
        ),
        (
            "sessions",
            f"""
INSERT INTO sessions (id, user_id, ip_address, user_agent, payload, last_activity)
SELECT substr(md5('sess:' || i) || md5('sess2:' || i), 1, 40),
    CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + {h("i", 109, users)} END,
    '192.0.2.' || (1 + i % 250),
    {
                pick(
                    (
                        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
                        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
                        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
                        None,
                    ),
                    "i",
                    110,
                )
            },
    encode(convert_to(repeat('a:4:{{s:6:"_token";s:40:"' || md5('t' || i) || '";s:9:"_previous";'
        || 'a:1:{{s:3:"url";s:38:"https://app.example/dashboard/calls";}}}}', 1 + i % 4), 'UTF8'), 'base64'),
    {_epoch(recent)}
FROM generate_series(1, {ctx.n(1500, 5)}) i""",
        ),
        (
            "cache",
            f"""
INSERT INTO cache (key, value, expiration)
SELECT 'laravel_cache:' || {
                pick(("calcom_event_types", "retell_agent", "company_settings", "availability"), "i", 111)
            } || ':' || i,
    's:' || (40 + i % 300) || ':"' || repeat(md5('cache' || i), 1 + i % 10) || '";',
    {_epoch(recent)} + 3600
FROM generate_series(1, {ctx.n(600, 5)}) i""",
        ),
        (
            "cache_locks",
            f"""
INSERT INTO cache_locks (key, owner, expiration)
SELECT 'laravel_cache:lock:sync-company-' || id, md5('owner' || id), {_epoch(ctx.ts(str(ctx.days - 1)))} + 60
FROM companies WHERE id % 2 = 1""",
        ),
        (
            "password_reset_tokens",
            f"""
INSERT INTO password_reset_tokens (email, token, created_at)
SELECT email, '$2y$12$' || substr(md5('reset' || id) || md5('r2' || id), 1, 53),
    {ctx.ts(str(ctx.days - 2))} + id * INTERVAL '7 minutes'
FROM users WHERE id % 4 = 1""",
        ),
        (
            "personal_access_tokens",
            f"""
INSERT INTO personal_access_tokens (id, tokenable_type, tokenable_id, name, token, abilities, last_used_at,
    expires_at, created_at, updated_at)
SELECT id, 'App\\Models\\User', id, 'mobile-app', encode(sha256(convert_to('pat:' || id, 'UTF8')), 'hex'),
    '["*"]', CASE WHEN id % 3 <> 0 THEN {ctx.ts(str(ctx.days - 3))} + id * INTERVAL '1 hour' END,
    CASE WHEN id % 2 = 0 THEN {ctx.ts(str(ctx.days + 180))} END, created_at, created_at
FROM users""",
        ),
        (
            "notifications",
            f"""
INSERT INTO notifications (id, type, notifiable_type, notifiable_id, data, read_at, created_at, updated_at)
SELECT md5('notification:' || i)::uuid,
    {pick(_NOTIFICATIONS, "i", 112)},
    'App\\Models\\User', 1 + {h("i", 113, users)},
    jsonb_build_object('appointment_id', 1 + {h("i", 114, appts)}, 'message',
        {
                pick(
                    (
                        "Neuer Termin über den Telefonassistenten",
                        "Termin storniert",
                        "Verpasster Anruf",
                        "Neue Rechnung verfügbar",
                    ),
                    "i",
                    112,
                )
            }, 'url', '/appointments/' || (1 + {h("i", 114, appts)})),
    CASE WHEN {h("i", 115, 3)} > 0 THEN at + INTERVAL '3 hours' END, at, at
FROM (SELECT i, {ctx.ts_rand("i", 116)} AS at FROM generate_series(1, {ctx.n(3000, 10)}) i) s""",
        ),
        (
            "permissions",
            f"INSERT INTO permissions (id, name, guard_name, created_at, updated_at) VALUES {perms}",
        ),
        ("roles", f"INSERT INTO roles (id, name, guard_name, created_at, updated_at) VALUES {roles}"),
        (
            "role_has_permissions",
            """
INSERT INTO role_has_permissions (permission_id, role_id)
SELECT p.id, r.id FROM permissions p CROSS JOIN roles r
WHERE r.name = 'super-admin' OR (r.name = 'company-owner' AND p.name <> 'impersonate users')
   OR (r.name = 'company-manager' AND p.name NOT LIKE 'manage billing' AND p.name NOT LIKE '%users')
   OR (r.name = 'staff' AND p.name LIKE 'view %' AND p.name <> 'view billing')
   OR (r.name = 'read-only' AND p.name IN ('view appointments', 'view calls'))
ORDER BY p.id, r.id""",
        ),
        (
            "model_has_roles",
            """
INSERT INTO model_has_roles (role_id, model_type, model_id)
SELECT CASE WHEN is_super_admin THEN 1 WHEN email LIKE 'inhaber@%' THEN 2 WHEN email LIKE 'buero@%' THEN 3
            ELSE 4 END, 'App\\Models\\User', id
FROM users ORDER BY id""",
        ),
        (
            "model_has_permissions",
            """
INSERT INTO model_has_permissions (permission_id, model_type, model_id)
SELECT p.id, 'App\\Models\\User', u.id FROM users u JOIN permissions p ON p.name = 'export customers'
WHERE u.email LIKE 'buero@%' ORDER BY u.id""",
        ),
        (
            "activity_log",
            f"""
INSERT INTO activity_log (id, log_name, description, subject_type, event, subject_id, causer_type, causer_id,
    properties, batch_uuid, created_at, updated_at)
SELECT i, {pick(("default", "appointments", "appointments", "customers", "billing", "auth"), "i", 117)}, ev,
    subj, ev, 1 + {h("i", 118, appts)}, CASE WHEN i % 4 <> 0 THEN 'App\\Models\\User' END,
    CASE WHEN i % 4 <> 0 THEN 1 + {h("i", 119, users)} END,
    jsonb_build_object('attributes', jsonb_build_object('status', {pick(("accepted", "cancelled"), "i", 120)},
        'starts_at', at + INTERVAL '3 days', 'notes',
            CASE WHEN i % 17 = 0 THEN E'mehrzeilig\\nmit\\ttab' END),
        'old', CASE WHEN ev = 'updated' THEN jsonb_build_object('status', 'pending') END),
    CASE WHEN i % 5 = 0 THEN md5('batch' || i / 5)::uuid END, at, at
FROM (SELECT i, {ctx.ts_rand("i", 121)} AS at, {pick(("created", "updated", "updated", "deleted"), "i", 122)}
    AS ev, {pick(subjects, "i", 123)} AS subj FROM generate_series(1, {ctx.n(12000, 20)}) i) s""",
        ),
        (
            "media",
            f"""
INSERT INTO media (id, model_type, model_id, uuid, collection_name, name, file_name, mime_type, disk,
    conversions_disk, size, manipulations, custom_properties, generated_conversions, responsive_images,
    order_column, created_at, updated_at)
SELECT i, 'App\\Models\\Customer', 1 + {h("i", 124, "(SELECT max(id) FROM customers)")},
    md5('media' || i)::uuid,
    {pick(("documents", "avatars", "consent-forms"), "i", 125)}, 'scan-' || i,
    'Scan ' || i || {pick((" (1).pdf", ".pdf", " Überweisung.pdf", ".jpg"), "i", 126)},
    'application/pdf', 's3', 's3', 20000 + {h("i", 127, 5000000)}, '[]',
    json_build_object('uploaded_by', 1 + i % 7), '{{"thumb": true}}', '[]', i, at, at
FROM (SELECT i, {ctx.ts_rand("i", 128)} AS at FROM generate_series(1, {ctx.n(300, 3)}) i) s""",
        ),
        (
            "telescope_entries",
            f"""
INSERT INTO telescope_entries (sequence, uuid, batch_id, family_hash, should_display_on_index, type, content,
    created_at)
SELECT i, md5('tel' || i)::uuid, md5('telb' || i / 3)::uuid,
    CASE WHEN i % 4 = 0 THEN md5('fam' || i % 40) END,
    true, typ, json_build_object('method', 'POST', 'uri', '/api/webhooks/' ||
        CASE WHEN typ = 'request' THEN 'retell' ELSE 'calcom' END, 'headers',
            json_build_object('content-type',
        'application/json', 'user-agent', 'Retell-Webhook/1.0'), 'payload', json_build_object('event',
        'call_ended', 'call_id', 'call_' || substr(md5('tc' || i), 1, 28)), 'response_status', 200,
            'duration', 20 + i % 400, 'memory', 18 + i % 30, 'hostname', 'app-1')::text,
    {ctx.ts_rand("i", 129, last_days=2)}
FROM (SELECT i, {pick(("request", "query", "job", "exception", "log"), "i", 130)} AS typ
      FROM generate_series(1, {ctx.n(2000, 5)}) i) s""",
        ),
        (
            "telescope_entries_tags",
            """
INSERT INTO telescope_entries_tags (entry_uuid, tag)
SELECT uuid,
    'Auth:' || (1 + sequence % 9) FROM telescope_entries WHERE sequence % 3 = 0 ORDER BY sequence""",
        ),
        ("telescope_monitoring", "INSERT INTO telescope_monitoring (tag) VALUES ('Auth:1'), ('company:85')"),
        (
            "pulse_values",
            f"""
INSERT INTO pulse_values (id, timestamp, type, key, key_hash, value)
SELECT i, {_epoch(recent)}, 'system', 'app-' || i, md5('system' || 'app-' || i)::uuid,
    json_build_object('name', 'app-' || i, 'cpu', 10 + i % 80, 'memory_used', 1200 + i * 3,
                      'memory_total', 3900, 'storage', json_build_array(json_build_object('directory', '/',
                      'total', 81000, 'used', 23000 + i)))::text
FROM generate_series(1, {ctx.n(300, 3)}) i""",
        ),
        (
            "pulse_entries",
            f"""
INSERT INTO pulse_entries (id, timestamp, type, key, key_hash, value)
SELECT i, {_epoch(recent)}, {pick(("slow_request", "slow_query", "user_request", "exception"), "i", 131)},
    k, md5(k)::uuid, 1000 + {h("i", 132, 30000)}
FROM (SELECT i, {pick(_PULSE_KEYS, "i", 133)} AS k FROM generate_series(1, {ctx.n(3000, 5)}) i) s""",
        ),
        (
            "pulse_aggregates",
            f"""
INSERT INTO pulse_aggregates (id, bucket, period, type, key, key_hash, aggregate, value, count)
SELECT i, {_epoch(ctx.ts(str(ctx.days - 1)))} - i * 60, 60, 'user_request', 'u' || (i % 7),
    md5('u' || (i % 7))::uuid, 'count', (i % 97) * 1.25, i % 97
FROM generate_series(1, {ctx.n(1500, 5)}) i""",
        ),
        (
            "settings",
            f"""
INSERT INTO settings (id, "group", name, locked, payload, created_at, updated_at)
SELECT k, g, n, k % 5 = 0, v::json, {born}, {born}
FROM (VALUES (1, 'general', 'site_name', '"AskPro Termine"'), (2, 'general', 'support_email',
    '"support@dataguard-demo.example"'), (3, 'billing', 'default_currency', '"EUR"'),
    (4, 'billing', 'invoice_footer', '"Zahlbar innerhalb von 14 Tagen.\\nIBAN DE00 0000 0000 0000 0000 00"'),
    (5, 'retell', 'default_voice', '"11labs-Anna"'), (6, 'retell', 'max_call_minutes', '15'),
    (7, 'calcom', 'api_version', '"2024-08-13"'), (8, 'calcom', 'sync_window_days', '90'),
    (9, 'mail', 'from', '{{"address": "noreply@dataguard-demo.example", "name": "AskPro"}}'),
    (10, 'security', 'password_min_length', '12'), (11, 'security', 'session_lifetime', '120'),
    (12, 'gdpr', 'retention_days', '730')) v(k, g, n, v)""",
        ),
        (
            "company_settings",
            """
INSERT INTO company_settings (company_id, key, value, created_at, updated_at)
SELECT c.id, k.key, CASE k.key WHEN 'business_hours' THEN '{"mon-fri": "08:00-18:00"}'::jsonb
    WHEN 'reminder_hours_before' THEN to_jsonb(24)
    WHEN 'agent_greeting' THEN to_jsonb(c.name || ', guten Tag!')
    ELSE to_jsonb(c.id % 2 = 0) END, c.created_at, c.updated_at
FROM companies c CROSS JOIN (VALUES ('business_hours'), ('reminder_hours_before'), ('agent_greeting'),
    ('allow_online_cancellation')) k(key)
ORDER BY c.id, k.key""",
        ),
        (
            "feature_flags",
            "INSERT INTO feature_flags (id, key, description, enabled_globally, rollout_percent, "
            f"created_at, updated_at) VALUES {flags}",
        ),
        (
            "company_feature_flags",
            f"""
INSERT INTO company_feature_flags (company_id, feature_flag_id, enabled, updated_at)
SELECT c.id, f.id, {h("c.id * 100 + f.id", 134, 3)} > 0, c.updated_at
FROM companies c CROSS JOIN feature_flags f WHERE (c.id + f.id) % 3 <> 0 ORDER BY c.id, f.id""",
        ),
        (
            "user_preferences",
            f"""
INSERT INTO user_preferences (user_id, theme, locale, notifications, updated_at)
SELECT id, {pick(("system", "light", "dark"), "id", 135)}, CASE WHEN id % 6 = 0 THEN 'en' END,
    jsonb_build_object('email', true, 'sms', id % 2 = 0, 'digest',
        {pick(("daily", "weekly", "never"), "id", 136)}),
    updated_at
FROM users ORDER BY id""",
        ),
    ]


def migrations_sql(tables: list[str]) -> str:
    """migrations: one Laravel migration per table, in creation order, over a few deploy batches."""
    rows = ", ".join(
        f"({k}, '20{22 + k // 60:02d}_{1 + k % 12:02d}_{1 + k % 28:02d}_{k:06d}_create_{t}_table', "
        f"{1 + k // 15})"
        for k, t in enumerate(tables, 1)
    )
    return f"INSERT INTO migrations (id, migration, batch) VALUES {rows}"
