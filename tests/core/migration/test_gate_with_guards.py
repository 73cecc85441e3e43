"""The safe-migration gate and the table guards together, on PostgreSQL 15: a migration that drops a
protected table passes the guards only as a member of the gate role, running inside the gate; the same
migration as any other role is stopped by the guard on the scratch copy, and the real database never sees it."""

from __future__ import annotations

import contextlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.audit import read_log
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.migration import report as outcomes
from dataguard_pipelines.core.migration.gate import GateContext, MigrationRequest, run_safe_migration
from dataguard_pipelines.core.protection.guards import GATE_SETTING, grant_gate, install_guards
from dataguard_pipelines.core.store import Store
from tests.fixtures.postgres import table_fingerprints

PROTECTED = ["public.customers", "public.invoices", "public.calls"]
DOOMED = "public.invoices"
# A migration as an application runs it: the connection from DB_* only, one DROP of a protected table.
DROP_MIGRATION = textwrap.dedent(
    f"""
    import os, psycopg
    conn = psycopg.connect(host=os.environ["DB_HOST"], port=os.environ["DB_PORT"],
        dbname=os.environ["DB_DATABASE"], user=os.environ["DB_USERNAME"],
        password=os.environ["DB_PASSWORD"], autocommit=True)
    print("Migrating as", conn.execute("SELECT session_user").fetchone()[0], "on", os.environ["DB_DATABASE"])
    conn.execute("DROP TABLE {DOOMED}")
    print("Migrated: dropped {DOOMED}")
    """
)


def _as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


@contextlib.contextmanager
def _migration_role(url: str) -> Iterator[str]:
    """A LOGIN role that owns the application's tables (as the app's migrations created them) and may
    create the scratch database; dropped afterwards with everything it owns, through the gate."""
    name = f"dgtest_migrator_{uuid.uuid4().hex[:8]}"
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN CREATEDB")
        conn.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO {name}')
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {name}")
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True, options=f"-c {GATE_SETTING}=on") as conn:
            conn.execute(f"DROP OWNED BY {name} CASCADE")
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
            )
            conn.execute(f"DROP ROLE IF EXISTS {name}")


def _create_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text);"
            "CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);"
            "CREATE TABLE calls (id int PRIMARY KEY, customer_id int, seconds int);"
            "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20) g;"
            "INSERT INTO invoices SELECT g, 1 + g % 20, g * 9.5 FROM generate_series(1, 60) g;"
            "INSERT INTO calls SELECT g, 1 + g % 20, g FROM generate_series(1, 40) g;"
        )


def _app_tables(url: str) -> dict[str, tuple[int, str]]:
    return {name: value for name, value in table_fingerprints(url).items() if name.startswith("public.")}


@pytest.fixture
def keyring(keyring_path: Path) -> Keyring:
    return Keyring.load(keyring_path)


def _gate(url: str, store: Store, keyring: Keyring, work_dir: Path, script: Path):
    request = MigrationRequest(command=[sys.executable, str(script)], allow_drop=(DOOMED,))
    return run_safe_migration(PostgresDatabase(url), store, keyring, request, GateContext(work_dir=work_dir))


@pytest.mark.slow
def test_gate_runs_a_guarded_drop_only_for_a_member_of_the_gate_role(
    pg15_server, new_database, local_store, keyring, tmp_path
):
    url = new_database(pg15_server)
    script = tmp_path / "migrate.py"
    script.write_text(DROP_MIGRATION)
    with _migration_role(url) as migrator, _migration_role(url) as outsider:
        _create_tables(_as_role(url, migrator))
        with psycopg.connect(_as_role(url, migrator), autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {outsider}")
        status = install_guards(PostgresDatabase(url), PROTECTED)
        assert sorted(status.protected_tables) == ["calls", "customers", "invoices"] and status.is_healthy
        grant_gate(PostgresDatabase(url), migrator)
        before = _app_tables(url)

        refused = _gate(_as_role(url, outsider), local_store, keyring, tmp_path / "outsider", script)
        print(refused.as_dict())
        assert refused.outcome == outcomes.FAILED_ON_SCRATCH
        assert _app_tables(url) == before

        applied = _gate(_as_role(url, migrator), local_store, keyring, tmp_path / "migrator", script)
        print(applied.as_dict())
        assert applied.outcome == outcomes.APPLIED
        assert DOOMED not in _app_tables(url)
        print([(e.operation, e.outcome) for e in read_log(PostgresDatabase(url))])
