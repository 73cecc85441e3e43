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
from dataguard_pipelines.core.protection.guards import GATE_SETTING, grant_gate, guard_status, install_guards
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
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
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


def _drop_outside_the_gate(url: str, table: str) -> str:
    """A DROP run by hand, without the gate, by a member of the gate role that owns the table: the guard's
    message."""
    with (
        psycopg.connect(url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as refused,
    ):
        conn.execute(f"DROP TABLE {table}")
    return str(refused.value)


@pytest.mark.slow
def test_gate_drops_a_protected_table_through_the_guards(
    pg15_server, new_database, local_store, keyring, tmp_path
):
    """The gate run by the configured (superuser) role: the drill of a backup that contains the guards passes,
    the scratch copy (restored with its event triggers) and the real database both let the DROP through
    inside the gate, and only there; outside it the same statement is refused with the guard's message."""
    url = new_database(pg15_server)
    script = tmp_path / "migrate.py"
    script.write_text(DROP_MIGRATION)
    with _migration_role(url) as migrator:
        _create_tables(_as_role(url, migrator))
        db = PostgresDatabase(url)
        status = install_guards(db, PROTECTED)
        assert sorted(status.protected_tables) == ["calls", "customers", "invoices"] and status.is_healthy
        grant_gate(db, migrator)
        assert migrator in guard_status(db, PROTECTED).gate_members
        message = _drop_outside_the_gate(_as_role(url, migrator), DOOMED)
        assert f"DROP TABLE blocked: {DOOMED} is a protected table" in message and "migrate-safe" in message
        before = _app_tables(url)

        report = _gate(url, local_store, keyring, tmp_path / "gate", script)

        assert report.outcome == outcomes.APPLIED, report.message
        assert not report.backup_reused  # a new backup, its drill passed with the guards in it
        assert report.scratch_run.ok and report.real_run.ok
        assert [(c.kind, c.table) for c in report.real_changes if c.destructive] == [
            ("table dropped", DOOMED)
        ]
        after = _app_tables(url)
        assert DOOMED not in after
        assert after == {name: value for name, value in before.items() if name != DOOMED}
        after_status = guard_status(db, PROTECTED)  # the others stay protected, the event triggers enabled
        assert after_status.is_healthy and after_status.missing_tables == [DOOMED]
        assert "public.calls is a protected table" in _drop_outside_the_gate(_as_role(url, migrator), "calls")
        [entry] = read_log(db, operation="migration")
        assert entry.outcome == outcomes.APPLIED


@pytest.mark.slow
def test_gate_as_a_migration_role_stops_a_non_member_before_the_real_database(
    pg15_server, new_database, local_store, keyring, tmp_path
):
    """The deployment the issue describes: DATAGUARD_DATABASE_URL is the migration runner's role. A member
    of the gate role drops the protected table; a role outside it is stopped before the real run."""
    url = new_database(pg15_server)
    script = tmp_path / "migrate.py"
    script.write_text(DROP_MIGRATION)
    with _migration_role(url) as migrator, _migration_role(url) as outsider:
        _create_tables(_as_role(url, migrator))
        with psycopg.connect(_as_role(url, migrator), autocommit=True) as conn:  # the outsider may back up
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {outsider}")
        install_guards(PostgresDatabase(url), PROTECTED)
        grant_gate(PostgresDatabase(url), migrator)
        before = _app_tables(url)

        refused = _gate(_as_role(url, outsider), local_store, keyring, tmp_path / "outsider", script)
        # the scratch copy holds no guards (only a superuser restores event triggers): the gate asks the real
        # database whether the role may pass its guards before anything runs there
        assert refused.outcome == outcomes.STOPPED, refused.message
        assert f"role {outsider} is not a member of dataguard_gate" in refused.message
        assert f"dataguard guards grant {outsider}" in refused.message
        assert refused.real_run is None and _app_tables(url) == before

        applied = _gate(_as_role(url, migrator), local_store, keyring, tmp_path / "migrator", script)
        assert applied.outcome == outcomes.APPLIED
        assert DOOMED not in _app_tables(url)
