"""Which companies exist: the live rows of the protected database's `companies` table."""

from __future__ import annotations

from dataguard_pipelines.core.engines.postgres import PostgresDatabase


def live_company_ids(db: PostgresDatabase) -> list[str]:
    """Ids as strings (they are partition keys); rows with a `deleted_at` are left out."""
    with db.connect() as conn:
        has_deleted_at = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'companies'"
            " AND column_name = 'deleted_at'"
        ).fetchone()
        exists = conn.execute("SELECT to_regclass('public.companies')").fetchone()[0]
        if not exists:
            return []
        where = " WHERE deleted_at IS NULL" if has_deleted_at else ""
        return [str(r[0]) for r in conn.execute(f"SELECT id FROM public.companies{where} ORDER BY id")]
