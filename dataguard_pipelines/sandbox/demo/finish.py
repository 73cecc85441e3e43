"""What runs after the bulk load: foreign keys, indexes, triggers, views, sequences and the seed marker.

Constraints are added last because validating them in one pass is much faster than row by row, and it
still proves the generator wrote consistent data: a dangling id makes the seed fail.
"""

from __future__ import annotations

from collections.abc import Iterable

UPDATED_AT_TRIGGER_TABLES = (
    "companies",
    "branches",
    "users",
    "staff",
    "services",
    "customers",
    "appointments",
    "calls",
    "calcom_event_types",
)

VIEWS = r"""
CREATE VIEW upcoming_appointments AS
SELECT a.id, a.company_id, c.name AS company_name, a.branch_id, a.starts_at, a.ends_at, a.status,
       cu.first_name || ' ' || coalesce(cu.last_name, '') AS customer_name,
       s.name AS service_name, st.first_name || ' ' || st.last_name AS staff_name
FROM appointments a
JOIN companies c ON c.id = a.company_id
JOIN customers cu ON cu.id = a.customer_id
JOIN services s ON s.id = a.service_id
LEFT JOIN staff st ON st.id = a.staff_id
WHERE a.status IN ('accepted', 'pending') AND a.deleted_at IS NULL AND a.starts_at >= now();

CREATE MATERIALIZED VIEW monthly_call_usage AS
SELECT company_id, date_trunc('month', started_at AT TIME ZONE 'UTC')::date AS month,
       count(*) AS calls, sum(duration_ms)::bigint AS duration_ms, sum(cost_cents)::bigint AS cost_cents
FROM calls
WHERE call_status = 'ended'
GROUP BY company_id, date_trunc('month', started_at AT TIME ZONE 'UTC')::date
WITH DATA;
CREATE UNIQUE INDEX monthly_call_usage_company_id_month_unique ON monthly_call_usage (company_id, month);
COMMENT ON MATERIALIZED VIEW monthly_call_usage IS 'Provider cost per company and month.';
"""

RESET_SEQUENCES = r"""
DO $$
DECLARE r record;
BEGIN
    -- serial and identity columns: continue after the largest id so the app's next INSERT works
    FOR r IN
        SELECT s.oid::regclass::text AS seq, t.relname AS tbl, a.attname AS col
        FROM pg_class s
        JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace
        ORDER BY 1
    LOOP
        EXECUTE format('SELECT setval(%L, coalesce(max(%I), 1), max(%I) IS NOT NULL) FROM public.%I',
                       r.seq, r.col, r.col, r.tbl);
    END LOOP;
END
$$;
SELECT setval('invoice_number_seq', coalesce(max(number), 100001), max(number) IS NOT NULL) FROM invoices;
"""

META = """
CREATE TABLE demo_meta (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    scale double precision NOT NULL,
    anchor date NOT NULL,
    generator_version text NOT NULL
);
COMMENT ON TABLE demo_meta IS 'Written last by the demo generator: its presence means the seed completed.';
"""


def foreign_keys_sql(fks: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY, named the way Laravel names them."""
    out = []
    for table, column, ref, action in fks:
        name = f"{table}_{column}_foreign"
        if len(name) > 63:
            raise ValueError(f"constraint name {name} is longer than PostgreSQL's 63 bytes")
        out.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {ref} (id) ON DELETE {action}"
        )
    return out


def triggers_sql() -> list[str]:
    return [
        f"CREATE TRIGGER {t}_set_updated_at BEFORE UPDATE ON {t} "
        f"FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        for t in UPDATED_AT_TRIGGER_TABLES
    ]


def meta_sql(scale: float, anchor: str, version: str) -> list[str]:
    return [
        META,
        f"INSERT INTO demo_meta (scale, anchor, generator_version) "
        f"VALUES ({scale!r}::float8, DATE '{anchor}', '{version}')",
    ]
