"""Billing and API access tables: invoices with a generated column and a standalone number sequence, Stripe
mirrors, API keys stored only as hashes (bytea), OAuth tokens, request logs.

Invoices stop two months before the anchor: the month before the anchor is what the billing job computes.
"""

from __future__ import annotations

from dataguard_pipelines.sandbox.demo.sql import Ctx, add_months, h, pick

DDL = r"""
CREATE TABLE tax_rates (
    id bigserial PRIMARY KEY,
    country_code char(2) NOT NULL,
    name text NOT NULL,
    rate numeric(5, 2) NOT NULL,
    valid_from date NOT NULL,
    valid_to date
);
CREATE TABLE billing_addresses (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL UNIQUE,
    name text NOT NULL,
    line1 text NOT NULL,
    line2 text,
    postal_code text NOT NULL,
    city text NOT NULL,
    country_code char(2) NOT NULL,
    vat_id text,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE payment_methods (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    stripe_payment_method_id text NOT NULL UNIQUE,
    type text NOT NULL,
    card_brand text,
    card_last_four char(4),
    exp_month smallint,
    exp_year smallint,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz
);
CREATE TABLE subscriptions (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    type text NOT NULL DEFAULT 'default',
    stripe_id text NOT NULL UNIQUE,
    stripe_status text NOT NULL,
    stripe_price text,
    quantity integer,
    trial_ends_at timestamptz,
    ends_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE subscription_items (
    id bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL,
    stripe_id text NOT NULL UNIQUE,
    stripe_product text NOT NULL,
    stripe_price text NOT NULL,
    quantity integer,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE coupons (
    id bigserial PRIMARY KEY,
    code text NOT NULL UNIQUE,
    percent_off numeric(5, 2),
    amount_off_cents integer,
    valid_until date,
    max_redemptions integer,
    CHECK (percent_off IS NOT NULL OR amount_off_cents IS NOT NULL)
);
CREATE TABLE company_coupons (
    company_id bigint NOT NULL,
    coupon_id bigint NOT NULL,
    redeemed_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, coupon_id)
);
CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    number bigint NOT NULL DEFAULT nextval('invoice_number_seq') UNIQUE,
    period_start date NOT NULL,
    period_end date NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency char(3) NOT NULL DEFAULT 'EUR',
    subtotal_cents bigint NOT NULL,
    vat_rate_bp integer NOT NULL,
    tax_cents bigint NOT NULL,
    total_cents bigint NOT NULL,
    total numeric(12, 2) NOT NULL,
    issued_at timestamptz,
    due_at timestamptz,
    paid_at timestamptz,
    pdf_path text,
    meta jsonb,
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (company_id, period_start)
);
CREATE TABLE invoice_items (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL,
    description text NOT NULL,
    quantity numeric(12, 3) NOT NULL,
    unit_cents integer NOT NULL,
    amount_cents bigint GENERATED ALWAYS AS (round(quantity * unit_cents)::bigint) STORED,
    sort_order smallint NOT NULL DEFAULT 0
);
CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL,
    company_id bigint NOT NULL,
    provider text NOT NULL,
    provider_ref text NOT NULL UNIQUE,
    amount_cents bigint NOT NULL,
    currency char(3) NOT NULL DEFAULT 'EUR',
    status text NOT NULL,
    paid_at timestamptz,
    raw jsonb,
    created_at timestamptz
);
CREATE TABLE credit_notes (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL,
    company_id bigint NOT NULL,
    amount_cents bigint NOT NULL,
    reason text,
    issued_at timestamptz NOT NULL
);
CREATE TABLE balance_transactions (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    invoice_id bigint,
    amount_cents bigint NOT NULL,
    type text NOT NULL,
    description text,
    created_at timestamptz NOT NULL
);
CREATE TABLE stripe_events (
    id text PRIMARY KEY,
    type text NOT NULL,
    payload jsonb NOT NULL,
    processed_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE usage_records (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    metric text NOT NULL,
    period date NOT NULL,
    quantity numeric(14, 3) NOT NULL,
    recorded_at timestamptz NOT NULL,
    UNIQUE (company_id, metric, period)
);
CREATE TABLE api_keys (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    prefix varchar(12) NOT NULL UNIQUE,
    key_hash bytea NOT NULL,
    scopes text[] NOT NULL,
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE TABLE api_request_logs (
    id bigserial PRIMARY KEY,
    api_key_id bigint,
    company_id bigint NOT NULL,
    method varchar(8) NOT NULL,
    path text NOT NULL,
    status smallint NOT NULL,
    duration_ms integer NOT NULL,
    ip inet,
    user_agent text,
    request_id uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE oauth_clients (
    id bigserial PRIMARY KEY,
    user_id bigint,
    name varchar(255) NOT NULL,
    secret varchar(100),
    provider varchar(255),
    redirect text NOT NULL,
    personal_access_client boolean NOT NULL,
    password_client boolean NOT NULL,
    revoked boolean NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE oauth_personal_access_clients (
    id bigserial PRIMARY KEY,
    client_id bigint NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);
CREATE TABLE oauth_access_tokens (
    id varchar(100) PRIMARY KEY,
    user_id bigint,
    client_id bigint NOT NULL,
    name varchar(255),
    scopes text,
    revoked boolean NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    expires_at timestamptz
);
CREATE TABLE oauth_refresh_tokens (
    id varchar(100) PRIMARY KEY,
    access_token_id varchar(100) NOT NULL,
    revoked boolean NOT NULL,
    expires_at timestamptz
);
CREATE TABLE ip_allowlist (
    id bigserial PRIMARY KEY,
    company_id bigint,
    network cidr NOT NULL,
    label text,
    created_at timestamptz
);
"""

FOREIGN_KEYS = (
    ("billing_addresses", "company_id", "companies", "CASCADE"),
    ("payment_methods", "company_id", "companies", "CASCADE"),
    ("subscriptions", "company_id", "companies", "CASCADE"),
    ("subscription_items", "subscription_id", "subscriptions", "CASCADE"),
    ("company_coupons", "company_id", "companies", "CASCADE"),
    ("company_coupons", "coupon_id", "coupons", "CASCADE"),
    ("invoices", "company_id", "companies", "RESTRICT"),
    ("invoice_items", "invoice_id", "invoices", "CASCADE"),
    ("payments", "invoice_id", "invoices", "RESTRICT"),
    ("payments", "company_id", "companies", "RESTRICT"),
    ("credit_notes", "invoice_id", "invoices", "RESTRICT"),
    ("credit_notes", "company_id", "companies", "RESTRICT"),
    ("balance_transactions", "company_id", "companies", "CASCADE"),
    ("balance_transactions", "invoice_id", "invoices", "SET NULL"),
    ("usage_records", "company_id", "companies", "CASCADE"),
    ("api_keys", "company_id", "companies", "CASCADE"),
    ("api_request_logs", "api_key_id", "api_keys", "SET NULL"),
    ("api_request_logs", "company_id", "companies", "CASCADE"),
    ("oauth_clients", "user_id", "users", "CASCADE"),
    ("oauth_personal_access_clients", "client_id", "oauth_clients", "CASCADE"),
    ("oauth_access_tokens", "user_id", "users", "CASCADE"),
    ("oauth_access_tokens", "client_id", "oauth_clients", "CASCADE"),
    ("ip_allowlist", "company_id", "companies", "CASCADE"),
)

INDEXES = r"""
CREATE INDEX invoices_status_index ON invoices (status) WHERE status IN ('open', 'uncollectible');
CREATE INDEX payments_company_id_index ON payments (company_id);
CREATE INDEX balance_transactions_company_id_created_at_index ON balance_transactions (company_id,
    created_at);
CREATE INDEX api_request_logs_company_id_created_at_index ON api_request_logs (company_id, created_at);
CREATE INDEX oauth_access_tokens_user_id_index ON oauth_access_tokens (user_id);
CREATE INDEX oauth_refresh_tokens_access_token_id_index ON oauth_refresh_tokens (access_token_id);
COMMENT ON TABLE invoices IS 'Old billing run; the month before the current one is not invoiced yet.';
COMMENT ON COLUMN api_keys.key_hash IS 'SHA-256 of the full key; the key itself is never stored.';
"""


def fill(ctx: Ctx) -> list[tuple[str, str]]:
    """(table, INSERT) pairs for billing and API access."""
    last_invoiced = add_months(ctx.anchor.replace(day=1), -2)
    users = "(SELECT max(id) FROM users)"
    at = ctx.ts_rand("i", 201)
    return [
        (
            "tax_rates",
            """
INSERT INTO tax_rates (id, country_code, name, rate, valid_from, valid_to) VALUES
    (1, 'DE', 'USt. 19 %', 19.00, '2007-01-01', NULL), (2, 'AT', 'USt. 20 %', 20.00, '1995-01-01', NULL),
    (3, 'CH', 'MWST 7,7 %', 7.70, '2018-01-01', '2024-01-01'), (4, 'CH', 'MWST 8,1 %', 8.10,
        '2024-01-01', NULL),
    (5, 'DE', 'USt. 16 % (Corona)', 16.00, '2020-07-01', '2021-01-01')""",
        ),
        (
            "billing_addresses",
            """
INSERT INTO billing_addresses (id, company_id, name, line1, line2, postal_code, city, country_code, vat_id,
    created_at, updated_at)
SELECT id, id, name, address_line, CASE WHEN id % 3 = 0 THEN 'z. Hd. Buchhaltung' END, postal_code, city,
    country_code, country_code || lpad((id * 7919)::text, 9, '0'), created_at, updated_at
FROM companies ORDER BY id""",
        ),
        (
            "payment_methods",
            f"""
INSERT INTO payment_methods (company_id, stripe_payment_method_id, type, card_brand, card_last_four,
    exp_month, exp_year, is_default, created_at)
SELECT c.id, 'pm_' || substr(md5('pm' || c.id || k), 1, 24),
    CASE WHEN k = 1 THEN 'sepa_debit' ELSE 'card' END,
    CASE WHEN k = 2 THEN {pick(("visa", "mastercard", "amex"), "c.id", 202)} END,
    lpad(((c.id * 3571 + k) % 10000)::text, 4, '0'), CASE WHEN k = 2 THEN 1 + c.id % 12 END,
    CASE WHEN k = 2 THEN 2027 + c.id % 4 END, k = 1, c.created_at
FROM companies c CROSS JOIN generate_series(1, 2) k WHERE k = 1 OR c.id % 2 = 0 ORDER BY c.id, k""",
        ),
        (
            "subscriptions",
            """
INSERT INTO subscriptions (id, company_id, stripe_id, stripe_status, stripe_price, quantity, ends_at,
    created_at, updated_at)
SELECT pp.id, pp.company_id, 'sub_' || substr(md5('sub' || pp.id), 1, 24),
    CASE WHEN pp.valid_to IS NULL THEN 'active' ELSE 'canceled' END, 'price_' || p.code, 1,
    pp.valid_to::timestamp AT TIME ZONE 'UTC', pp.created_at, pp.created_at
FROM company_plan_periods pp JOIN pricing_plans p ON p.id = pp.plan_id ORDER BY pp.id""",
        ),
        (
            "subscription_items",
            """
INSERT INTO subscription_items (subscription_id, stripe_id, stripe_product, stripe_price, quantity,
    created_at, updated_at)
SELECT s.id, 'si_' || substr(md5('si' || s.id || k), 1, 24),
    CASE k WHEN 1 THEN 'prod_base' ELSE 'prod_minutes'
    END, s.stripe_price || CASE k WHEN 1 THEN '_base' ELSE '_metered' END, CASE k WHEN 1 THEN 1 END,
    s.created_at, s.updated_at
FROM subscriptions s CROSS JOIN generate_series(1, 2) k ORDER BY s.id, k""",
        ),
        (
            "coupons",
            """
INSERT INTO coupons (id, code, percent_off, amount_off_cents, valid_until, max_redemptions) VALUES
    (1, 'WELCOME20', 20.00, NULL, NULL, NULL), (2, 'PRAXIS50', NULL, 5000, '2030-12-31', 100),
    (3, 'BLACKFRIDAY', 30.00, NULL, '2024-11-30', 500), (4, 'PARTNER-10', 10.00, NULL, NULL, 10)""",
        ),
        (
            "company_coupons",
            """
INSERT INTO company_coupons (company_id, coupon_id, redeemed_at)
SELECT id, 1 + id % 4, created_at + INTERVAL '1 day' FROM companies WHERE id % 3 <> 0 ORDER BY id""",
        ),
        (
            "invoices",
            f"""
WITH usage AS (
    SELECT company_id, date_trunc('month', started_at AT TIME ZONE 'UTC')::date AS month,
        sum(ceil(duration_ms / 60000.0))::bigint AS minutes, count(*) AS calls
    FROM calls WHERE call_status = 'ended' GROUP BY 1, 2
), months AS (
    SELECT c.id AS company_id, c.vat_rate_bp, m::date AS period_start,
        (m + INTERVAL '1 month' - INTERVAL '1 day')::date AS period_end
    FROM companies c
    CROSS JOIN generate_series(date_trunc('month', c.created_at AT TIME ZONE 'UTC'),
        DATE '{last_invoiced.isoformat()}', INTERVAL '1 month') m
), priced AS (
    SELECT m.*, p.code, coalesce(u.minutes, 0) AS minutes, coalesce(u.calls, 0) AS calls,
        p.monthly_base_cents + greatest(coalesce(u.minutes, 0) - p.included_minutes, 0) * p.per_minute_cents
            AS subtotal,
        greatest(coalesce(u.minutes, 0) - p.included_minutes, 0) AS billed_minutes, p.per_minute_cents,
        p.monthly_base_cents
    FROM months m
    JOIN company_plan_periods pp ON pp.company_id = m.company_id AND pp.valid_from <= m.period_start
        AND (pp.valid_to IS NULL OR pp.valid_to > m.period_start)
    JOIN pricing_plans p ON p.id = pp.plan_id
    LEFT JOIN usage u ON u.company_id = m.company_id AND u.month = m.period_start
), numbered AS (
    SELECT row_number() OVER (ORDER BY company_id, period_start) AS id, priced.*,
        round(subtotal * vat_rate_bp / 10000.0)::bigint AS tax
    FROM priced
)
INSERT INTO invoices (id, company_id, number, period_start, period_end, status, subtotal_cents, vat_rate_bp,
    tax_cents, total_cents, total, issued_at, due_at, paid_at, pdf_path, meta, created_at, updated_at)
SELECT id, company_id, 100000 + id, period_start, period_end, status, subtotal, vat_rate_bp, tax,
    subtotal + tax, (subtotal + tax) / 100.0, issued, issued + INTERVAL '14 days',
    CASE WHEN status = 'paid' THEN issued + (3 + {h("id", 203, 10)}) * INTERVAL '1 day' END,
    'invoices/' || company_id || '/' || to_char(period_start, 'YYYY-MM') || '.pdf',
    jsonb_build_object('plan', code, 'minutes', minutes, 'billed_minutes', billed_minutes, 'calls', calls,
        'per_minute_cents', per_minute_cents, 'base_cents', monthly_base_cents),
    issued, issued
FROM (
    SELECT n.*, (n.period_end + 2)::timestamp AT TIME ZONE 'UTC' + INTERVAL '6 hours' AS issued,
        CASE WHEN {h("n.id", 204, 40)} = 0 THEN 'void'
             WHEN n.period_start = DATE '{last_invoiced.isoformat()}' AND n.company_id % 2 = 0 THEN 'open'
             WHEN {h("n.id", 205, 60)} = 0 THEN 'uncollectible' ELSE 'paid' END AS status
    FROM numbered n
) x
ORDER BY id""",
        ),
        (
            "invoice_items",
            """
INSERT INTO invoice_items (invoice_id, description, quantity, unit_cents, sort_order)
SELECT i.id,
    CASE k WHEN 1 THEN 'Grundgebühr ' || (i.meta ->> 'plan') ELSE 'Gesprächsminuten über Inklusivvolumen (' ||
    (i.meta ->> 'minutes') || ' min gesamt)' END,
    CASE k WHEN 1 THEN 1 ELSE (i.meta ->> 'billed_minutes')::numeric END,
    CASE k WHEN 1 THEN (i.meta ->> 'base_cents')::int ELSE (i.meta ->> 'per_minute_cents')::int END, k
FROM invoices i CROSS JOIN generate_series(1, 2) k ORDER BY i.id, k""",
        ),
        (
            "payments",
            """
INSERT INTO payments (invoice_id, company_id, provider, provider_ref, amount_cents, status, paid_at, raw,
    created_at)
SELECT id, company_id, CASE WHEN company_id % 2 = 0 THEN 'stripe' ELSE 'sepa' END,
    'pi_' || substr(md5('pi' || id), 1, 24), total_cents, 'succeeded', paid_at,
    jsonb_build_object('object', 'payment_intent', 'amount', total_cents, 'currency', 'eur', 'livemode',
        false),
    paid_at
FROM invoices WHERE status = 'paid' ORDER BY id""",
        ),
        (
            "credit_notes",
            """
INSERT INTO credit_notes (invoice_id, company_id, amount_cents, reason, issued_at)
SELECT id, company_id, total_cents, 'Rechnung storniert: doppelte Abrechnung', issued_at + INTERVAL '5 days'
FROM invoices WHERE status = 'void' ORDER BY id""",
        ),
        (
            "balance_transactions",
            """
INSERT INTO balance_transactions (company_id, invoice_id, amount_cents, type, description, created_at)
SELECT company_id, id, amt, typ, descr, at FROM (
    SELECT company_id, id, -total_cents AS amt, 'charge' AS typ, 'Rechnung ' || number AS descr,
        issued_at AS at, 1 AS k FROM invoices
    UNION ALL
    SELECT company_id, invoice_id, amount_cents, 'payment', 'Zahlung ' || provider_ref, paid_at,
        2 FROM payments
) t ORDER BY at, id, k""",
        ),
        (
            "stripe_events",
            """
INSERT INTO stripe_events (id, type, payload, processed_at, created_at)
SELECT 'evt_' || substr(md5('evt' || id || k), 1, 24), CASE k WHEN 1 THEN 'invoice.finalized'
    ELSE 'invoice.paid' END,
    jsonb_build_object('id', 'evt_' || substr(md5('evt' || id || k), 1, 24), 'object', 'event',
        'data', jsonb_build_object('object', jsonb_build_object('id', 'in_' || substr(md5('in' || id), 1, 24),
        'amount_due', total_cents, 'customer', 'cus_' || substr(md5('cus' || company_id), 1, 14)))),
    CASE k WHEN 1 THEN issued_at ELSE paid_at END + INTERVAL '2 seconds',
    CASE k WHEN 1 THEN issued_at ELSE paid_at END
FROM invoices CROSS JOIN generate_series(1, 2) k WHERE k = 1 OR paid_at IS NOT NULL ORDER BY id, k""",
        ),
        (
            "usage_records",
            """
INSERT INTO usage_records (company_id, metric, period, quantity, recorded_at)
SELECT company_id, 'call_minutes', (started_at AT TIME ZONE 'UTC')::date,
    round(sum(duration_ms) / 60000.0, 3),
    max(ended_at) + INTERVAL '1 hour'
FROM calls WHERE call_status = 'ended' GROUP BY 1, 3 ORDER BY 1, 3""",
        ),
        (
            "api_keys",
            f"""
INSERT INTO api_keys (id, company_id, name, prefix, key_hash, scopes, last_used_at, expires_at, revoked_at,
    created_at)
SELECT c.id * 10 + k, c.id, CASE k WHEN 1 THEN 'Praxissoftware' ELSE 'Zapier (alt)' END,
    'dg_' || substr(md5('key' || c.id || k), 1, 6),
        sha256(convert_to('dg_live_' || md5('secret' || c.id || k),
    'UTF8')), CASE k WHEN 1 THEN ARRAY['bookings:read', 'bookings:write', 'calls:read']
    ELSE ARRAY['bookings:read'] END, {ctx.ts(str(ctx.days - 1))} - c.id * INTERVAL '1 hour', NULL,
    CASE k WHEN 2 THEN c.created_at + INTERVAL '200 days' END, c.created_at + INTERVAL '2 days'
FROM companies c CROSS JOIN generate_series(1, 2) k ORDER BY 1""",
        ),
        (
            "api_request_logs",
            f"""
INSERT INTO api_request_logs (id, api_key_id, company_id, method, path, status, duration_ms, ip, user_agent,
    request_id, created_at)
SELECT i, c.company_id * 10 + 1, c.company_id,
    {pick(("GET", "GET", "GET", "POST", "PATCH", "DELETE"), "i", 206)},
    '/api/v1/' || {pick(("appointments", "customers", "calls", "availability", "services"), "i", 207)}
        || CASE WHEN i % 3 = 0 THEN '/' || (1 + {h("i", 208, 5000)}) ELSE '?page=' || (1 + i % 9) END,
    {pick(("200", "200", "200", "200", "201", "204", "404", "422", "429", "500"), "i", 209)}::smallint,
    5 + {h("i", 210, 900)}, ('198.51.100.' || (1 + i % 254))::inet, 'PraxisSoft/4.2 (+https://praxis.example)',
    md5('req' || i)::uuid, {at}
FROM generate_series(1, {ctx.n(8000, 10)}) i JOIN _dg_slot c ON c.slot = {h("i", 211, 100)}
ORDER BY i""",
        ),
        (
            "oauth_clients",
            f"""
INSERT INTO oauth_clients (id, user_id, name, secret, provider, redirect, personal_access_client,
    password_client, revoked, created_at, updated_at) VALUES
    (1, NULL, 'Personal Access Client', md5('oc1') || 'ab', NULL, 'http://localhost', true, false,
     false, {ctx.ts("0")}, {ctx.ts("0")}),
    (2, NULL, 'Password Grant Client', md5('oc2'), 'users', 'http://localhost', false, true, false,
     {ctx.ts("0")}, {ctx.ts("0")}),
    (3, 1, 'Mobile App', md5('oc3'), NULL, 'askpro://oauth/callback', false, false, false, {ctx.ts("30")},
     {ctx.ts("30")})""",
        ),
        (
            "oauth_personal_access_clients",
            f"""
INSERT INTO oauth_personal_access_clients (id, client_id, created_at, updated_at)
VALUES (1, 1, {ctx.ts("0")}, {ctx.ts("0")})""",
        ),
        (
            "oauth_access_tokens",
            f"""
INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at,
    expires_at)
SELECT md5('oat' || i) || md5('oat2' || i) || substr(md5('oat3' || i), 1, 16), 1 + {h("i", 212, users)},
    1 + i % 3, CASE WHEN i % 3 = 0 THEN 'cli' END, '[]', i % 7 = 0, {at}, {at}, {at} + INTERVAL '1 year'
FROM generate_series(1, {ctx.n(200, 3)}) i""",
        ),
        (
            "oauth_refresh_tokens",
            """
INSERT INTO oauth_refresh_tokens (id, access_token_id, revoked, expires_at)
SELECT md5('ort' || id) || md5('ort2' || id) || substr(md5('ort3' || id), 1, 16), id, revoked,
    expires_at + INTERVAL '30 days'
FROM oauth_access_tokens WHERE client_id <> 1 ORDER BY id""",
        ),
        (
            "ip_allowlist",
            f"""
INSERT INTO ip_allowlist (company_id, network, label, created_at) VALUES
    (85, '203.0.113.0/24', 'Praxisnetz Sachsenhausen', {ctx.ts("40")}),
    (85, '2001:db8:85::/48', 'IPv6 Praxisnetz', {ctx.ts("41")}),
    (12, '198.51.100.16/28', 'Kanzlei VPN', {ctx.ts("300")}),
    (NULL, '192.0.2.0/24', 'Support-Büro (global)', {ctx.ts("1")}),
    (42, '100.64.0.0/10', 'Studio-LTE', {ctx.ts("90")})""",
        ),
    ]
