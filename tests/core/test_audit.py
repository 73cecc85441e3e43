"""The audit trail on a real PostgreSQL 15: a gap-free hash chain, every kind of tampering found."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest

from dataguard_pipelines.core.audit import (
    Actor,
    anchor_key,
    read_log,
    record,
    redact_parameters,
    verify_chain,
)
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.store import Store

SECRET = "Sup3r-Secret-Pw"


@pytest.fixture
def trail(pg15_server, new_database, local_store):
    """A protected database with three audit entries, anchored in a local store."""
    db = PostgresDatabase(new_database(pg15_server))
    actor = Actor.current(dagster_run_id="run-1", launched_by="schedule:nightly")
    for operation, params in (("backup.full", {"partition": "2026-11-27"}), ("restore", {"into": "x"}),
                              ("billing.finalize", {"company": "7"})):  # fmt: skip
        record(db, operation=operation, parameters=params, outcome="ok", store=local_store, actor=actor)
    return db, local_store


def superuser_sql(db: PostgresDatabase, sql: str) -> None:
    """Tamper as a superuser: replica mode skips the append-only trigger."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql)


def problems_of(db: PostgresDatabase, store: Store) -> list[str]:
    report = verify_chain(db, store)
    assert not report.ok
    return [str(p) for p in report.problems]


def test_record_appends_a_gap_free_chain_that_verifies(trail):
    db, store = trail
    entries = read_log(db)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_sha256 == "0" * 64
    assert [e.prev_sha256 for e in entries[1:]] == [e.sha256 for e in entries[:-1]]
    assert all(e.computed_sha256() == e.sha256 for e in entries)
    actor = entries[0].actor
    assert (
        actor.db_role == "postgres" and actor.db_session_user == "postgres" and actor.client_ip == "127.0.0.1"
    )
    assert actor.dagster_run_id == "run-1" and actor.launched_by == "schedule:nightly" and actor.os_user
    assert all(store.exists(anchor_key(seq)) for seq in (1, 2, 3))
    report = verify_chain(db, store)
    assert report.ok and report.entries == 3 and report.head_sha256 == entries[-1].sha256
    assert [e.operation for e in read_log(db, operation="billing")] == ["billing.finalize"]
    assert read_log(db, since=entries[-1].at + timedelta(microseconds=1)) == []


def test_the_table_refuses_update_delete_and_truncate(trail):
    db, _ = trail
    with psycopg.connect(db.url, autocommit=True) as conn:
        for statement in (
            "UPDATE dataguard.audit_log SET outcome = 'x'",
            "DELETE FROM dataguard.audit_log",
            "TRUNCATE dataguard.audit_log",
        ):
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute(statement)
    assert len(read_log(db)) == 3


def test_an_edited_row_is_found(trail):
    db, store = trail
    superuser_sql(db, 'UPDATE dataguard.audit_log SET parameters = \'{"into": "prod"}\' WHERE seq = 2')
    found = problems_of(db, store)
    assert any(p.startswith("entry 2: its fields do not hash") and '"prod"' in p for p in found), found


def test_a_rehashed_edit_is_found_by_its_anchor(trail):
    db, store = trail
    [entry] = [e for e in read_log(db) if e.seq == 3]
    from dataclasses import replace

    forged = replace(entry, outcome="failed: nothing happened").sealed()
    superuser_sql(
        db,
        f"UPDATE dataguard.audit_log SET outcome = '{forged.outcome}', sha256 = '{forged.sha256}' WHERE seq = 3",
    )
    found = problems_of(db, store)
    assert any("entry 3: differs from its store anchor" in p and "outcome" in p for p in found), found


def test_a_deleted_row_is_found(trail):
    db, store = trail
    superuser_sql(db, "DELETE FROM dataguard.audit_log WHERE seq = 2")
    found = problems_of(db, store)
    assert any(p.startswith("entry 2: deleted from the table") and "'restore'" in p for p in found), found


def test_swapped_rows_are_found(trail):
    db, store = trail
    for sql in ("seq = 100 WHERE seq = 1", "seq = 1 WHERE seq = 2", "seq = 2 WHERE seq = 100"):
        superuser_sql(db, f"UPDATE dataguard.audit_log SET {sql}")
    found = problems_of(db, store)
    assert any(p.startswith("entry 1:") for p in found) and any("entry 2: prev_sha256" in p for p in found), (
        found
    )


def test_an_inserted_row_with_a_valid_hash_is_found(trail):
    db, store = trail
    superuser_sql(db, "DELETE FROM dataguard.audit_log WHERE seq = 3")  # make room, then forge a new 3
    head = read_log(db)[-1]
    from dataguard_pipelines.core.audit import AuditEntry

    forged = AuditEntry(3, head.at, "restore", {}, "ok", head.actor, head.sha256).sealed()
    superuser_sql(
        db,
        "INSERT INTO dataguard.audit_log SELECT 3, at, 'restore', '{}', 'ok', os_user, host, db_role,"
        f" db_session_user, client_ip, dagster_run_id, launched_by, '{head.sha256}', '{forged.sha256}'"
        " FROM dataguard.audit_log WHERE seq = 2",
    )
    found = problems_of(db, store)
    assert any(p.startswith("entry 3: differs from its store anchor") and "operation" in p for p in found), (
        found
    )


def test_a_truncated_tail_is_found(trail):
    db, store = trail
    superuser_sql(db, "DELETE FROM dataguard.audit_log WHERE seq >= 2")
    found = problems_of(db, store)
    assert any("entries 2..3" in p and "truncated" in p for p in found), found


def test_a_missing_anchor_and_a_disabled_trigger_are_found(trail):
    db, store = trail
    import os

    os.unlink(f"{store.root}/{anchor_key(2)}")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE dataguard.audit_log DISABLE TRIGGER audit_log_append_only")
    found = problems_of(db, store)
    assert any(p.startswith("entry 2: no store anchor") for p in found), found
    assert any("is disabled" in p for p in found), found


def test_concurrent_writers_keep_the_chain_gap_free(pg15_server, new_database, local_store):
    db = PostgresDatabase(new_database(pg15_server))

    def write(name: str) -> None:
        for i in range(8):
            record(
                db,
                operation="backup.full",
                parameters={"writer": name, "i": i},
                outcome="ok",
                store=local_store,
            )

    threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.seq for e in read_log(db)] == list(range(1, 17))
    assert verify_chain(db, local_store).ok


def test_secrets_never_reach_the_table_or_the_store(pg15_server, new_database, local_store):
    db = PostgresDatabase(new_database(pg15_server))
    parameters = {
        "target_url": f"postgresql://app:{SECRET}@db.internal:5432/prod",
        "password": SECRET,
        "nested": {"api_key": SECRET, "key_id": "k20261127-abc"},
        "command": f"PGPASSWORD={SECRET} psql 'host=x password={SECRET}'",
    }
    assert redact_parameters(parameters)["nested"]["key_id"] == "k20261127-abc"
    record(
        db,
        operation="migration",
        parameters=parameters,
        outcome=f"failed: postgresql://a:{SECRET}@h",
        store=local_store,
    )
    with psycopg.connect(db.url) as conn:
        dumped = conn.execute("SELECT string_agg(t::text, '') FROM dataguard.audit_log t").fetchone()[0]
    assert SECRET not in dumped and "app:***@db.internal" in dumped
    assert SECRET.encode() not in local_store.get_bytes(anchor_key(1))
    assert verify_chain(db, local_store).ok


def test_a_refused_anchor_is_logged_not_raised(pg15_server, new_database, local_store, caplog):
    db = PostgresDatabase(new_database(pg15_server))
    local_store.put_bytes(anchor_key(1), b"{}")  # something already sits where the anchor goes
    from datetime import UTC, datetime

    os_path = f"{local_store.root}/{anchor_key(1)}"
    import os

    os.chmod(os_path, 0o444)
    entry = record(db, operation="keys.init", parameters={}, outcome="ok", store=local_store)
    assert entry.seq == 1 and datetime.now(UTC) - entry.at < timedelta(minutes=5)
    assert "store anchor" in caplog.text
    assert any("differs from its store anchor" in str(p) for p in verify_chain(db, local_store).problems)


def test_a_blocked_attempt_survives_its_rollback_and_is_recorded_once(pg15_server, new_database, local_store):
    import json
    import uuid

    from dataguard_pipelines.core.audit import blocked_attempt, record_blocked_attempts

    db = PostgresDatabase(new_database(pg15_server))
    slot = f"dgtest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
        try:
            with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
                content = json.dumps({"table": "public.calls", "command": "DROP TABLE", "role": "app"})
                conn.execute(
                    "SELECT pg_logical_emit_message(false, 'dataguard.guard_blocked', %s)", (content,)
                )
                conn.execute("DO $$ BEGIN RAISE EXCEPTION 'blocked'; END $$")
            conn.execute(
                "CREATE TEMP TABLE flush_wal (a int)"
            )  # a commit that writes WAL flushes the message
            rows = conn.execute(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, NULL, NULL)", (slot,)
            ).fetchall()
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    attempts = [a for a in (blocked_attempt(lsn, data) for lsn, data in rows) if a]
    assert len(attempts) == 1
    assert len(record_blocked_attempts(db, local_store, attempts)) == 1
    assert record_blocked_attempts(db, local_store, attempts) == []  # the same message again: nothing new
    [entry] = read_log(db, operation="guard.blocked")
    assert entry.parameters["table"] == "public.calls" and entry.outcome == "blocked"
    assert verify_chain(db, local_store).ok


def test_a_role_that_is_not_a_superuser_writes_and_verifies_its_trail(pg15_server, new_database, local_store):
    """The deployment's role owns nothing special: appending must not need the rights the table withholds."""
    import uuid

    role = f"dgtest_auditor_{uuid.uuid4().hex[:8]}"
    url = new_database(pg15_server)
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} OWNER TO {role}")
            conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        as_role = PostgresDatabase(url.replace("postgres@", f"{role}@"))
        for n in range(3):
            record(as_role, operation="backup.full", parameters={"n": n}, outcome="ok", store=local_store)
        assert [e.seq for e in read_log(as_role)] == [1, 2, 3]
        assert verify_chain(as_role, local_store).ok
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}")
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
