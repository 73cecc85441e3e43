"""The queryable mirror copy: tables in the `dataguard` schema of the mirror database.

One shape for every resource, so the application can read bookings and calls while a vendor is down,
and so sync, export and verification share one code path.
"""

from __future__ import annotations

SOURCES = {"calcom": ("calcom_event_types", "calcom_bookings"), "retell": ("retell_calls",)}
RESOURCE_SOURCE = {resource: source for source, resources in SOURCES.items() for resource in resources}
RESOURCES = tuple(RESOURCE_SOURCE)

_TABLE = """
CREATE TABLE IF NOT EXISTS dataguard.{name} (
    company_id text NOT NULL,
    id text NOT NULL,
    status text,
    starts_at timestamptz,
    ends_at timestamptz,
    source_updated_at timestamptz,
    link_from text,                 -- bookings: rescheduledFromUid
    link_to text,                   -- bookings: rescheduledToUid
    uid text,
    content_hash text NOT NULL,     -- SHA-256 of the canonical JSON
    raw jsonb NOT NULL,             -- the vendor's object, unknown fields included
    first_seen_at timestamptz NOT NULL,
    fetched_at timestamptz NOT NULL,
    deleted_at timestamptz,         -- soft delete: the source no longer has it
    missing_count int NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, id)
)"""

DDL = [
    "CREATE SCHEMA IF NOT EXISTS dataguard",
    *(_TABLE.format(name=name) for name in RESOURCES),
    """CREATE TABLE IF NOT EXISTS dataguard.mirror_changes (
        seq bigserial PRIMARY KEY,
        company_id text NOT NULL,
        resource text NOT NULL,
        id text NOT NULL,
        change text NOT NULL CHECK (change IN ('new', 'changed', 'deleted')),
        content_hash text NOT NULL,
        raw jsonb NOT NULL,
        changed_at timestamptz NOT NULL,
        run_id text NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mirror_changes_lookup ON dataguard.mirror_changes (company_id, resource, seq)",
    """CREATE TABLE IF NOT EXISTS dataguard.mirror_cursors (
        company_id text NOT NULL,
        resource text NOT NULL,
        cursor text NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (company_id, resource)
    )""",
]


def ensure_schema(conn) -> None:
    """Create the mirror tables if absent (idempotent; serialized by an advisory lock)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('dataguard.mirror_schema'))")
        for statement in DDL:
            conn.execute(statement)
