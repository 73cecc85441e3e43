"""Guards and change capture together: replay repeats what the gate let through; blocked attempts reach the
audit trail through the capture stream, although their own transaction rolled back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from dataguard_pipelines.core.audit import read_log
from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.hourly import seal_hour
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover
from dataguard_pipelines.core.protection.guards import GATE_SETTING, install_guards
from tests.fixtures.postgres import table_fingerprints


def test_replay_repeats_a_gated_truncate_into_a_database_restored_with_its_guards(
    pg15_server, new_database, local_store, keyring_path
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE calls (id int PRIMARY KEY, minutes int)")
        conn.execute("INSERT INTO calls SELECT g, g % 7 FROM generate_series(1, 100) g")
    db, keyring, slot = PostgresDatabase(source), Keyring.load(keyring_path), f"dgtest_{uuid.uuid4().hex[:8]}"
    install_guards(db, ["calls"])
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)  # the guards are in it
    with psycopg.connect(source, autocommit=True) as conn:  # a migration through the gate empties the table
        conn.execute(f"BEGIN; SET LOCAL {GATE_SETTING} = 'on'; TRUNCATE calls; COMMIT")
        conn.execute("INSERT INTO calls VALUES (1, 42)")
        reference = table_fingerprints(source)
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO calls VALUES (2, 43)")  # after the target: shipped, not replayed
    seal_hour(db, local_store, keyring, slot, datetime(2026, 1, 1, tzinfo=UTC))

    target = new_database(pg15_server)
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at))
    recovered = recover(plan, local_store, keyring, target)
    assert recovered.transactions >= 2
    assert table_fingerprints(target)["public.calls"] == reference["public.calls"]
    with psycopg.connect(target) as conn:  # the restored database is guarded again
        assert conn.execute(
            "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'dataguard_guard%'"
        ).fetchone()[0]


def test_a_blocked_drop_reaches_the_audit_trail_once_through_the_capture_stream(
    pg15_server, new_database, local_store, keyring_path
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY)")
    db, keyring, slot = PostgresDatabase(source), Keyring.load(keyring_path), f"dgtest_{uuid.uuid4().hex[:8]}"
    install_guards(db, ["customers"])
    ship_changes(db, local_store, keyring, slot)  # capture set up
    with (
        psycopg.connect(source, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SET application_name = 'artisan'; DROP TABLE customers")

    ship_changes(db, local_store, keyring, slot)
    ship_changes(db, local_store, keyring, slot)  # the message is not recorded twice

    [entry] = read_log(db, operation="guard.blocked")
    assert entry.outcome == "blocked"
    assert (entry.parameters["command"], entry.parameters["table"]) == ("DROP TABLE", "public.customers")
    assert (
        entry.parameters["session_user"] == "postgres" and entry.parameters["application_name"] == "artisan"
    )


def test_a_role_that_is_not_a_superuser_restores_a_guarded_backup_without_its_event_triggers(
    pg15_server, new_database, local_store, keyring_path
):
    """Only a superuser may create event triggers: the restore leaves them out and says so, instead of failing."""
    from dataguard_pipelines.core.restore import restore_backup

    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id int PRIMARY KEY); INSERT INTO calls SELECT generate_series(1, 10)"
        )
    install_guards(PostgresDatabase(source), ["calls"])
    keyring = Keyring.load(keyring_path)
    manifest = run_full_backup(PostgresDatabase(source), local_store, keyring, partition="p").manifest
    role, target = f"dgtest_restorer_{uuid.uuid4().hex[:8]}", new_database(pg15_server)
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"ALTER DATABASE {target.rsplit('/', 1)[1]} OWNER TO {role}")
    try:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        result = restore_backup(manifest, local_store, keyring, target.replace("postgres@", f"{role}@"))
        assert result.skipped_event_triggers == 2  # the guards' sql_drop and ddl_command_end triggers
        assert table_fingerprints(target)["public.calls"] == table_fingerprints(source)["public.calls"]
    finally:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f"REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}")
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_guards_installed_after_the_base_backup_come_back_with_a_point_in_time_restore(
    pg15_server, new_database, local_store, keyring_path
):
    """Installing the guards is DDL inside a function (with its own search_path) plus regclass rows in the
    registry: replay must run it by name, not OID, and read the rows under the default search_path."""
    from dataguard_pipelines.core.protection.guards import guard_status

    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE companies (id int PRIMARY KEY); CREATE TABLE calls (id int PRIMARY KEY)")
    db, keyring, slot = PostgresDatabase(source), Keyring.load(keyring_path), f"dgtest_{uuid.uuid4().hex[:8]}"
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    install_guards(db, ["companies", "calls"])
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("INSERT INTO calls VALUES (1)")
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO calls VALUES (2)")
    seal_hour(db, local_store, keyring, slot, datetime(2026, 1, 1, tzinfo=UTC))

    target = new_database(pg15_server)
    recover(plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at)), local_store, keyring, target)
    restored = guard_status(PostgresDatabase(target), ["companies", "calls"])
    assert sorted(restored.protected_tables) == ["calls", "companies"]
