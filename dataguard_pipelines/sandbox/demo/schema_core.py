"""DDL of the core booking domain: plans, companies, shops, customers, appointments and calls.

Foreign keys and secondary indexes are added after the bulk load (see `finish.py`): that is several
times faster than checking them row by row, and adding them validates every row anyway.
"""

from __future__ import annotations

TYPES_AND_FUNCTIONS = r"""
CREATE TYPE appointment_source AS ENUM ('phone_agent', 'calcom_web', 'staff', 'import');
CREATE TYPE sms_status AS ENUM ('queued', 'sent', 'delivered', 'failed', 'undelivered');
CREATE DOMAIN email_address AS text CHECK (VALUE ~ '^[^@\s]+@[^@\s]+$');
CREATE SEQUENCE invoice_number_seq START WITH 100001;

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Laravel sets updated_at itself; this catches writes that bypass Eloquent.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
"""

TABLES = r"""
CREATE TABLE pricing_plans (
    id bigserial PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    per_minute_cents integer NOT NULL CHECK (per_minute_cents >= 0),
    rounding text NOT NULL CHECK (rounding IN ('per_second', 'up_minute', 'nearest_minute')),
    included_minutes integer NOT NULL DEFAULT 0,
    appointment_fee_cents integer NOT NULL DEFAULT 0,
    monthly_base_cents integer NOT NULL DEFAULT 0,
    currency char(3) NOT NULL DEFAULT 'EUR',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz,
    updated_at timestamptz
);

CREATE TABLE companies (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    plan_id bigint NOT NULL,
    vat_rate_bp integer NOT NULL DEFAULT 1900 CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    calcom_team_id integer UNIQUE,
    retell_agent_id text UNIQUE,
    industry text,
    phone_number text,
    email text,
    billing_email text,
    website text,
    address_line text,
    postal_code text,
    city text,
    country_code char(2) NOT NULL DEFAULT 'DE',
    timezone text NOT NULL DEFAULT 'Europe/Berlin',
    locale text NOT NULL DEFAULT 'de',
    settings jsonb NOT NULL DEFAULT '{}',
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE company_plan_periods (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    plan_id bigint NOT NULL,
    valid_from date NOT NULL,
    valid_to date,
    note text,
    created_at timestamptz NOT NULL,
    UNIQUE (company_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

CREATE TABLE branches (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    phone_number text,
    email text,
    address_line text,
    postal_code text,
    city text,
    opening_hours jsonb,
    is_main boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    UNIQUE (company_id, slug)
);

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    company_id bigint,
    branch_id bigint,
    name text NOT NULL,
    email email_address NOT NULL UNIQUE,
    email_verified_at timestamptz,
    password varchar(255) NOT NULL,
    remember_token varchar(100),
    two_factor_secret text,
    two_factor_confirmed_at timestamptz,
    locale text NOT NULL DEFAULT 'de',
    is_super_admin boolean NOT NULL DEFAULT false,
    last_login_at timestamptz,
    last_login_ip inet,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE staff (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    branch_id bigint NOT NULL,
    user_id bigint,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    phone_number text,
    calcom_user_id integer,
    color char(7),
    languages text[] NOT NULL DEFAULT '{de}',
    is_bookable boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE service_categories (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name text NOT NULL,
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE calcom_event_types (
    id bigint PRIMARY KEY,
    company_id bigint NOT NULL,
    team_id integer,
    title text NOT NULL,
    slug text NOT NULL,
    description text,
    length_minutes integer NOT NULL CHECK (length_minutes > 0),
    hidden boolean NOT NULL DEFAULT false,
    price_cents integer NOT NULL DEFAULT 0,
    currency char(3) NOT NULL DEFAULT 'EUR',
    requires_confirmation boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (company_id, slug)
);

CREATE TABLE services (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    category_id bigint,
    name text NOT NULL,
    description text,
    duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
    buffer_minutes integer NOT NULL DEFAULT 0,
    price_cents integer NOT NULL DEFAULT 0,
    price numeric(10, 2) GENERATED ALWAYS AS (price_cents / 100.0) STORED,
    calcom_event_type_id bigint,
    is_active boolean NOT NULL DEFAULT true,
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE staff_services (
    staff_id bigint NOT NULL,
    service_id bigint NOT NULL,
    created_at timestamptz,
    PRIMARY KEY (staff_id, service_id)
);

CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    company_id bigint NOT NULL,
    first_name text NOT NULL,
    last_name text,
    email text,
    phone_number text,
    birthday date,
    preferred_language text NOT NULL DEFAULT 'de',
    notes text,
    tags text[],
    marketing_consent boolean NOT NULL DEFAULT false,
    source text,
    no_show_count smallint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE appointments (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    branch_id bigint NOT NULL,
    staff_id bigint,
    service_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    calcom_event_type_id bigint,
    calcom_booking_id integer NOT NULL UNIQUE,
    calcom_booking_uid text NOT NULL UNIQUE,
    status text NOT NULL CHECK (status IN ('accepted', 'cancelled', 'rejected', 'pending')),
    source appointment_source NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    rescheduled_from_uid text,
    cancelled_at timestamptz,
    cancellation_reason text,
    price_cents integer NOT NULL DEFAULT 0,
    notes text,
    metadata jsonb,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz,
    CHECK (ends_at > starts_at)
);

CREATE TABLE calls (
    id bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    customer_id bigint,
    retell_call_id text NOT NULL UNIQUE,
    agent_id text NOT NULL,
    direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number text,
    to_number text,
    call_status text NOT NULL CHECK (call_status IN ('ended', 'error', 'registered', 'ongoing')),
    started_at timestamptz,
    ended_at timestamptz,
    duration_ms integer CHECK (duration_ms >= 0),
    cost_cents integer,
    transcript text,
    disconnection_reason text,
    call_analysis jsonb,
    recording_url text,
    appointment_id bigint,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE call_events_raw (
    retell_call_id text NOT NULL,
    event text NOT NULL,
    payload text NOT NULL,
    signature text,
    received_at timestamptz NOT NULL
);
"""

FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    # (table, column, referenced table, ON DELETE action)
    ("companies", "plan_id", "pricing_plans", "RESTRICT"),
    ("company_plan_periods", "company_id", "companies", "CASCADE"),
    ("company_plan_periods", "plan_id", "pricing_plans", "RESTRICT"),
    ("branches", "company_id", "companies", "CASCADE"),
    ("users", "company_id", "companies", "CASCADE"),
    ("users", "branch_id", "branches", "SET NULL"),
    ("staff", "company_id", "companies", "CASCADE"),
    ("staff", "branch_id", "branches", "CASCADE"),
    ("staff", "user_id", "users", "SET NULL"),
    ("service_categories", "company_id", "companies", "CASCADE"),
    ("calcom_event_types", "company_id", "companies", "CASCADE"),
    ("services", "company_id", "companies", "CASCADE"),
    ("services", "category_id", "service_categories", "SET NULL"),
    ("services", "calcom_event_type_id", "calcom_event_types", "SET NULL"),
    ("staff_services", "staff_id", "staff", "CASCADE"),
    ("staff_services", "service_id", "services", "CASCADE"),
    ("customers", "company_id", "companies", "CASCADE"),
    ("appointments", "company_id", "companies", "CASCADE"),
    ("appointments", "branch_id", "branches", "RESTRICT"),
    ("appointments", "staff_id", "staff", "SET NULL"),
    ("appointments", "service_id", "services", "RESTRICT"),
    ("appointments", "customer_id", "customers", "CASCADE"),
    ("appointments", "calcom_event_type_id", "calcom_event_types", "SET NULL"),
    ("calls", "company_id", "companies", "CASCADE"),
    ("calls", "customer_id", "customers", "SET NULL"),
    ("calls", "appointment_id", "appointments", "SET NULL"),
)

INDEXES = r"""
CREATE INDEX company_plan_periods_plan_id_index ON company_plan_periods (plan_id);
CREATE INDEX users_company_id_index ON users (company_id);
CREATE INDEX staff_company_id_branch_id_index ON staff (company_id, branch_id);
CREATE INDEX services_company_id_index ON services (company_id);
CREATE INDEX customers_company_id_last_name_index ON customers (company_id, last_name);
CREATE INDEX customers_phone_number_index ON customers (phone_number);
CREATE INDEX customers_active_email_index ON customers (company_id, lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX appointments_company_id_starts_at_index ON appointments (company_id, starts_at);
CREATE INDEX appointments_customer_id_index ON appointments (customer_id);
CREATE INDEX appointments_staff_id_starts_at_index ON appointments (staff_id, starts_at);
CREATE INDEX appointments_updated_at_index ON appointments (updated_at);
CREATE INDEX appointments_upcoming_index ON appointments (company_id, starts_at)
    WHERE status IN ('accepted', 'pending') AND deleted_at IS NULL;
CREATE INDEX calls_company_id_started_at_index ON calls (company_id, started_at);
CREATE INDEX calls_appointment_id_index ON calls (appointment_id);
CREATE INDEX calls_customer_id_index ON calls (customer_id);
CREATE INDEX calls_open_index ON calls (started_at) WHERE call_status IN ('registered', 'ongoing');
CREATE INDEX call_events_raw_retell_call_id_index ON call_events_raw (retell_call_id);
"""

COMMENTS = r"""
COMMENT ON TABLE calls IS 'One row per Retell.ai call of the voice agent, as Retell reported it.';
COMMENT ON TABLE appointments IS 'Bookings mirrored from Cal.com; calcom_booking_id/uid are Cal.com''s keys.';
COMMENT ON TABLE call_events_raw IS 'Retell webhook bodies as received (60 days); no primary key.';
COMMENT ON TABLE company_plan_periods IS 'Plan in force over [valid_from, valid_to); NULL valid_to = open.';
COMMENT ON COLUMN company_plan_periods.valid_to IS 'Exclusive: the first day the plan no longer applies.';
COMMENT ON COLUMN companies.vat_rate_bp IS 'VAT rate in basis points: 1900 = 19 %.';
COMMENT ON COLUMN calls.cost_cents IS 'Provider cost Retell charged us, not what the company pays.';
"""
