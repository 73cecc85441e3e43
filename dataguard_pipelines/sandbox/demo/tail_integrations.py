"""Integration state: Cal.com teams and hosts, Retell agents/LLMs/numbers, encrypted credentials, sync runs,
and the voice agent's prompts and knowledge base (float arrays as embeddings).

Text primary keys (Retell ids) and foreign keys onto them give restore tools something besides `id`.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, h, pick

DDL = r"""
CREATE TABLE integrations (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    provider text NOT NULL,
    status text NOT NULL,
    config jsonb NOT NULL DEFAULT '{}',
    connected_at timestamptz,
    last_synced_at timestamptz,
    UNIQUE (company_id, provider)
);
CREATE TABLE integration_credentials (
    id bigserial PRIMARY KEY,
    integration_id bigint NOT NULL,
    key_id text NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE TABLE calcom_teams (
    id integer PRIMARY KEY,
    company_id bigint NOT NULL UNIQUE,
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE calcom_hosts (
    id bigserial PRIMARY KEY,
    calcom_team_id integer NOT NULL,
    staff_id bigint NOT NULL,
    calcom_user_id integer NOT NULL UNIQUE,
    username text NOT NULL,
    time_zone text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE calcom_schedules (
    id bigserial PRIMARY KEY,
    calcom_user_id integer NOT NULL,
    name text NOT NULL,
    time_zone text NOT NULL,
    availability jsonb NOT NULL,
    is_default boolean NOT NULL DEFAULT true
);
CREATE TABLE calcom_webhook_subscriptions (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    subscriber_url text NOT NULL,
    triggers text[] NOT NULL,
    active boolean NOT NULL,
    secret_hint varchar(8),
    created_at timestamptz NOT NULL
);
CREATE TABLE calcom_sync_runs (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    bookings_seen integer NOT NULL DEFAULT 0,
    bookings_changed integer NOT NULL DEFAULT 0,
    cursor text,
    status text NOT NULL,
    error text
);
CREATE TABLE retell_voices (
    voice_id text PRIMARY KEY,
    voice_name text NOT NULL,
    provider text NOT NULL,
    gender text,
    accent text,
    preview_audio_url text
);
CREATE TABLE retell_llms (
    llm_id text PRIMARY KEY,
    company_id bigint NOT NULL,
    model text NOT NULL,
    general_prompt text NOT NULL,
    begin_message text,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE retell_agents (
    agent_id text PRIMARY KEY,
    company_id bigint NOT NULL UNIQUE,
    agent_name text NOT NULL,
    voice_id text NOT NULL,
    language text NOT NULL,
    llm_id text NOT NULL,
    version integer NOT NULL,
    webhook_url text,
    last_modified_at timestamptz NOT NULL
);
CREATE TABLE retell_phone_numbers (
    phone_number text PRIMARY KEY,
    company_id bigint NOT NULL,
    inbound_agent_id text,
    outbound_agent_id text,
    area_code integer,
    nickname text,
    created_at timestamptz NOT NULL
);
CREATE TABLE retell_sync_runs (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    calls_seen integer NOT NULL DEFAULT 0,
    calls_changed integer NOT NULL DEFAULT 0,
    pagination_key text,
    status text NOT NULL,
    error text
);
CREATE TABLE phone_numbers (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    branch_id bigint,
    e164 text NOT NULL UNIQUE,
    label text,
    is_primary boolean NOT NULL DEFAULT false
);
CREATE TABLE agent_prompts (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    active_version integer NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE agent_prompt_versions (
    id bigserial PRIMARY KEY,
    agent_prompt_id bigint NOT NULL,
    version integer NOT NULL,
    body text NOT NULL,
    created_by bigint,
    created_at timestamptz NOT NULL,
    UNIQUE (agent_prompt_id, version)
);
CREATE TABLE knowledge_base_documents (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    title text NOT NULL,
    source_url text,
    content text NOT NULL,
    checksum char(32) NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE knowledge_base_chunks (
    id bigserial PRIMARY KEY,
    document_id bigint NOT NULL,
    chunk_index integer NOT NULL,
    content text NOT NULL,
    embedding real[] NOT NULL,
    token_count integer NOT NULL,
    UNIQUE (document_id, chunk_index)
);
CREATE TABLE faq_entries (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    question text NOT NULL,
    answer text NOT NULL,
    sort_order integer NOT NULL DEFAULT 0
);
"""

FOREIGN_KEYS = (
    ("integrations", "company_id", "companies", "CASCADE"),
    ("integration_credentials", "integration_id", "integrations", "CASCADE"),
    ("calcom_teams", "company_id", "companies", "CASCADE"),
    ("calcom_hosts", "calcom_team_id", "calcom_teams", "CASCADE"),
    ("calcom_hosts", "staff_id", "staff", "CASCADE"),
    ("calcom_webhook_subscriptions", "company_id", "companies", "CASCADE"),
    ("calcom_sync_runs", "company_id", "companies", "CASCADE"),
    ("retell_llms", "company_id", "companies", "CASCADE"),
    ("retell_agents", "company_id", "companies", "CASCADE"),
    ("retell_phone_numbers", "company_id", "companies", "CASCADE"),
    ("retell_sync_runs", "company_id", "companies", "CASCADE"),
    ("phone_numbers", "company_id", "companies", "CASCADE"),
    ("phone_numbers", "branch_id", "branches", "SET NULL"),
    ("agent_prompts", "company_id", "companies", "CASCADE"),
    ("agent_prompt_versions", "agent_prompt_id", "agent_prompts", "CASCADE"),
    ("knowledge_base_documents", "company_id", "companies", "CASCADE"),
    ("knowledge_base_chunks", "document_id", "knowledge_base_documents", "CASCADE"),
    ("faq_entries", "company_id", "companies", "CASCADE"),
)

INDEXES = r"""
ALTER TABLE retell_agents ADD CONSTRAINT retell_agents_llm_id_foreign
    FOREIGN KEY (llm_id) REFERENCES retell_llms (llm_id);
ALTER TABLE retell_agents ADD CONSTRAINT retell_agents_voice_id_foreign
    FOREIGN KEY (voice_id) REFERENCES retell_voices (voice_id);
ALTER TABLE retell_phone_numbers ADD CONSTRAINT retell_phone_numbers_inbound_agent_id_foreign
    FOREIGN KEY (inbound_agent_id) REFERENCES retell_agents (agent_id) ON DELETE SET NULL;
CREATE INDEX calcom_sync_runs_company_id_started_at_index ON calcom_sync_runs (company_id, started_at);
CREATE INDEX retell_sync_runs_company_id_started_at_index ON retell_sync_runs (company_id, started_at);
"""

_PROMPT = (
    "## Rolle\nDu bist die freundliche Telefonassistenz von {company}. Du sprichst Deutsch (Sie-Form), "
    "antwortest kurz und natürlich und buchst Termine über das Tool `book_appointment`.\n\n## Regeln\n"
    "1. Frage immer nach Name, Wunschleistung und Wunschzeit.\n2. Nenne nie interne Preise für Sonderfälle.\n"
    "3. Bei Notfällen verbinde sofort mit dem Team (`transfer_call`).\n4. Bestätige jeden Termin mit Datum "
    "und Uhrzeit.\n5. Wenn der Anrufer unsicher ist, biete zwei konkrete Zeiten an.\n\n## Tools\n"
    "- check_availability(service, date_from, date_to)\n- book_appointment(name, phone, service, start)\n"
    '- cancel_appointment(booking_uid)\n- transfer_call(number)\n\n## Beispiele\nAnrufer: "Haben Sie '
    'morgen was frei?"\nDu: "Ja, morgen um 9:30 Uhr oder um 14 Uhr. Was passt Ihnen besser?"\n'
)


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for integrations and the voice agent's configuration."""
    run_at = ctx.ts(f"{ctx.days - 30} + k / 4", "(k % 4) * 21600 + c.id * 60")
    prompt = "replace(" + "E'" + _PROMPT.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n") + "'"
    return [
        (
            "integrations",
            """
INSERT INTO integrations (company_id, provider, status, config, connected_at, last_synced_at)
SELECT c.id, p, CASE WHEN p = 'google_calendar' AND c.id % 4 = 0 THEN 'error' ELSE 'connected' END,
    CASE p WHEN 'calcom' THEN jsonb_build_object('team_id', c.calcom_team_id, 'api_version', '2024-08-13')
           WHEN 'retell' THEN jsonb_build_object('agent_id', c.retell_agent_id)
           ELSE jsonb_build_object('account', 'acct_' || substr(md5(p || c.id), 1, 16)) END,
    c.created_at + INTERVAL '1 day', c.updated_at
FROM companies c CROSS JOIN unnest(ARRAY['calcom', 'retell', 'stripe', 'google_calendar']) p
WHERE p <> 'google_calendar' OR c.id % 2 = 0 ORDER BY c.id, p""",
        ),
        (
            "integration_credentials",
            """
INSERT INTO integration_credentials (integration_id, key_id, nonce, ciphertext, created_at, rotated_at)
SELECT id, 'kek-2024-01', decode(substr(md5('nonce' || id), 1, 24), 'hex'),
    decode(md5('ct1' || id) || md5('ct2' || id) || md5('ct3' || id), 'hex') || '\\x00ff5c0a'::bytea,
    connected_at, CASE WHEN id % 3 = 0 THEN connected_at + INTERVAL '180 days' END
FROM integrations ORDER BY id""",
        ),
        (
            "calcom_teams",
            """
INSERT INTO calcom_teams (id, company_id, name, slug, created_at)
SELECT calcom_team_id, id, name, slug, created_at FROM companies ORDER BY id""",
        ),
        (
            "calcom_hosts",
            """
INSERT INTO calcom_hosts (calcom_team_id, staff_id, calcom_user_id, username, time_zone, created_at)
SELECT c.calcom_team_id, s.id, s.calcom_user_id, lower(split_part(s.email, '@', 1)), c.timezone, s.created_at
FROM staff s JOIN companies c ON c.id = s.company_id ORDER BY s.id""",
        ),
        (
            "calcom_schedules",
            """
INSERT INTO calcom_schedules (calcom_user_id, name, time_zone, availability, is_default)
SELECT calcom_user_id, 'Arbeitszeiten', time_zone, jsonb_build_array(
    jsonb_build_object('days', jsonb_build_array(1, 2, 3, 4, 5), 'startTime', '08:00', 'endTime', '17:00'),
    jsonb_build_object('days', jsonb_build_array(6), 'startTime', '09:00', 'endTime', '13:00')), true
FROM calcom_hosts ORDER BY id""",
        ),
        (
            "calcom_webhook_subscriptions",
            """
INSERT INTO calcom_webhook_subscriptions (company_id, subscriber_url, triggers, active, secret_hint,
    created_at)
SELECT id, 'https://app.example/api/webhooks/calcom?company=' || id,
    ARRAY['BOOKING_CREATED', 'BOOKING_RESCHEDULED', 'BOOKING_CANCELLED', 'BOOKING_REJECTED'], true,
    substr(md5('cwh' || id), 1, 8), created_at + INTERVAL '1 day'
FROM companies ORDER BY id""",
        ),
        (
            "calcom_sync_runs",
            f"""
INSERT INTO calcom_sync_runs (company_id, started_at, finished_at, bookings_seen, bookings_changed, cursor,
    status, error)
SELECT c.id, {run_at}, {run_at} + (2 + k % 5) * INTERVAL '1 second', 20 + {h("c.id * 1000 + k", 501, 80)},
    {h("c.id * 1000 + k", 502, 6)}, CASE WHEN k % 7 = 0 THEN NULL ELSE 'updatedAt>' || to_char({run_at}
    AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
    CASE WHEN {h("c.id * 1000 + k", 503, 40)} = 0 THEN 'failed' ELSE 'succeeded' END,
    CASE WHEN {h("c.id * 1000 + k", 503, 40)} = 0 THEN 'HTTP 429 Too Many Requests (retry-after: 60)' END
FROM companies c CROSS JOIN generate_series(0, 119) k ORDER BY 2, 1""",
        ),
        (
            "retell_voices",
            """
INSERT INTO retell_voices (voice_id, voice_name, provider, gender, accent, preview_audio_url) VALUES
    ('11labs-Anna', 'Anna', 'elevenlabs', 'female', 'German', 'https://retell.example/voices/anna.mp3'),
    ('11labs-Max', 'Max', 'elevenlabs', 'male', 'German', 'https://retell.example/voices/max.mp3'),
    ('openai-Nova', 'Nova', 'openai', 'female', 'American', NULL),
    ('deepgram-Lena', 'Lena', 'deepgram', 'female', 'Austrian', 'https://retell.example/voices/lena.mp3')""",
        ),
        (
            "retell_llms",
            f"""
INSERT INTO retell_llms (llm_id, company_id, model, general_prompt, begin_message, version, updated_at)
SELECT 'llm_' || substr(md5('llm' || id), 1, 24), id,
    CASE WHEN id % 2 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
    {prompt}, '{{company}}', name), name || ', guten Tag! Wie kann ich helfen?', 3 + id % 5,
    updated_at
FROM companies ORDER BY id""",
        ),
        (
            "retell_agents",
            """
INSERT INTO retell_agents (agent_id, company_id, agent_name, voice_id, language, llm_id, version, webhook_url,
    last_modified_at)
SELECT retell_agent_id, id, 'Telefonassistenz ' || name, CASE country_code WHEN 'AT' THEN 'deepgram-Lena'
    ELSE '11labs-Anna' END, CASE country_code WHEN 'CH' THEN 'de-CH' ELSE 'de-DE' END,
    'llm_' || substr(md5('llm' || id), 1, 24), 3 + id % 5, 'https://app.example/api/webhooks/retell',
        updated_at
FROM companies ORDER BY id""",
        ),
        (
            "retell_phone_numbers",
            """
INSERT INTO retell_phone_numbers (phone_number, company_id, inbound_agent_id, outbound_agent_id, area_code,
    nickname, created_at)
SELECT phone_number, id, retell_agent_id, CASE WHEN id % 2 = 0 THEN retell_agent_id END,
    substr(phone_number, 4, 2)::int, 'Hauptnummer ' || name, created_at
FROM companies ORDER BY id""",
        ),
        (
            "retell_sync_runs",
            f"""
INSERT INTO retell_sync_runs (company_id, started_at, finished_at, calls_seen, calls_changed, pagination_key,
    status, error)
SELECT c.id, {run_at} + INTERVAL '5 minutes',
    {run_at} + INTERVAL '5 minutes' + (3 + k % 7) * INTERVAL '1 second',
    10 + {h("c.id * 1000 + k", 504, 60)}, {h("c.id * 1000 + k", 505, 10)},
    'call_' || substr(md5('pk' || c.id || k), 1, 28), 'succeeded', NULL
FROM companies c CROSS JOIN generate_series(0, 119) k ORDER BY 2, 1""",
        ),
        (
            "phone_numbers",
            """
INSERT INTO phone_numbers (company_id, branch_id, e164, label, is_primary)
SELECT company_id, id, phone_number, name, is_main FROM branches ORDER BY id""",
        ),
        (
            "agent_prompts",
            """
INSERT INTO agent_prompts (id, company_id, name, active_version, created_at)
SELECT id, id, 'Standard-Begrüßung', 3 + id % 2, created_at FROM companies ORDER BY id""",
        ),
        (
            "agent_prompt_versions",
            f"""
INSERT INTO agent_prompt_versions (agent_prompt_id, version, body, created_by, created_at)
SELECT p.id, v, {prompt}, '{{company}}', c.name) || E'\\n## Version ' || v || E'\\n'
    || CASE WHEN v > 2 THEN 'Zusatz: Bei Fragen zu Preisen auf die Website verweisen.' ELSE '' END,
    NULL, c.created_at + v * INTERVAL '30 days'
FROM agent_prompts p JOIN companies c ON c.id = p.company_id CROSS JOIN generate_series(1, 4) v
ORDER BY p.id, v""",
        ),
        (
            "knowledge_base_documents",
            """
INSERT INTO knowledge_base_documents (company_id, title, source_url, content, checksum, created_at)
SELECT c.id, t, 'https://www.' || c.slug || '.example/' || lower(replace(t, ' ', '-')),
    repeat(t || ': ' || c.name || E' informiert. Öffnungszeiten Mo–Fr 8–18 Uhr, Sa 9–13 Uhr.\\n',
        (4 + c.id % 6)::int),
    md5(t || c.id), c.created_at + INTERVAL '2 days'
FROM companies c CROSS JOIN unnest(ARRAY['Anfahrt', 'Preise', 'Team', 'Datenschutz', 'FAQ']) t
ORDER BY c.id, t""",
        ),
        (
            "knowledge_base_chunks",
            f"""
INSERT INTO knowledge_base_chunks (document_id, chunk_index, content, embedding, token_count)
SELECT d.id, k, substr(d.content, 1 + (k - 1) * 120, 120),
    ARRAY(SELECT (({h("d.id * 100000 + k * 100 + j", 506, 20001)} - 10000) / 10000.0)::real
          FROM generate_series(1, 16) j ORDER BY j),
    30 + {h("d.id * 10 + k", 507, 20)}
FROM knowledge_base_documents d CROSS JOIN generate_series(1, 3) k ORDER BY d.id, k""",
        ),
        (
            "faq_entries",
            f"""
INSERT INTO faq_entries (company_id, question, answer, sort_order)
SELECT c.id, q, {
                pick(
                    (
                        "Ja, selbstverständlich.",
                        "Bitte rufen Sie uns dafür kurz an.",
                        "Das ist online über unsere Buchungsseite möglich.",
                    ),
                    "c.id * 10 + k",
                    508,
                )
            }, k
FROM companies c CROSS JOIN unnest(ARRAY['Kann ich online buchen?', 'Gibt es Parkplätze?',
    'Kann ich kurzfristig absagen?', 'Nehmen Sie Kartenzahlung?']) WITH ORDINALITY f(q, k)
ORDER BY c.id, k""",
        ),
    ]
