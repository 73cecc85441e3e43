"""backup-status says whether point-in-time restore can start from the newest full backup, and if not why."""

from __future__ import annotations

import uuid

import psycopg

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.slot import capture_enabled
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import list_manifests
from dataguard_pipelines.core.status import backup_status
from tests.fixtures.postgres import create_database, drop_database


def _full_row(store, slot):
    return next(s for s in backup_status(store, capture_slot=slot) if s.backup_type == "full")


def test_status_says_pitr_is_unavailable_for_a_role_that_may_not_replicate(
    pg15_server, local_store, keyring_path
):
    role, slot = f"dgtest_norepl_{uuid.uuid4().hex[:8]}", f"dataguard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOREPLICATION")
    url = create_database(pg15_server)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} OWNER TO {role}")
            conn.execute(f"SET ROLE {role}; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        as_role = PostgresDatabase(url.replace("postgres@", f"{role}@"))
        assert _full_row(local_store, slot).pitr_available is False  # no backup yet

        result = run_full_backup(
            as_role, local_store, Keyring.load(keyring_path), partition="p", capture_slot=slot
        )

        expected = f"point-in-time restore unavailable: role {role} may not replicate; run ALTER ROLE {role}"
        assert result.manifest.rows == 1 and not result.pitr_available
        assert result.pitr_reason.startswith(expected)
        [manifest] = list_manifests(local_store, "full")
        assert (
            manifest.consistency["kind"] == "exported"
            and manifest.consistency["pitr_unavailable"] == result.pitr_reason
        )
        full = _full_row(local_store, slot)
        assert full.pitr_available is False and full.pitr_reason == result.pitr_reason
        assert full.as_dict()["pitr_reason"] == result.pitr_reason
        assert not capture_enabled(as_role, slot)
    finally:
        drop_database(url)
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_a_role_that_may_replicate_but_not_install_the_ddl_trigger_still_gets_its_backup(
    pg15_server, local_store, keyring_path
):
    """Event triggers need a superuser: the backup is taken, without a point-in-time base, and says why."""
    role, slot = f"dgtest_repl_{uuid.uuid4().hex[:8]}", f"dataguard_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN REPLICATION")
    url = create_database(pg15_server)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} OWNER TO {role}")
            conn.execute(f"SET ROLE {role}; CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        as_role = PostgresDatabase(url.replace("postgres@", f"{role}@"))

        result = run_full_backup(
            as_role, local_store, Keyring.load(keyring_path), partition="p", capture_slot=slot
        )

        assert result.manifest.rows == 1 and not result.pitr_available
        assert result.pitr_reason.startswith(
            "point-in-time restore unavailable: setting change capture up failed"
        )
        assert not capture_enabled(as_role, slot)  # nothing half set up: no slot pins WAL
    finally:
        drop_database(url)
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_status_names_the_missing_capture_slot_setting(demo_pg15, local_store, keyring_path):
    run_full_backup(PostgresDatabase(demo_pg15), local_store, Keyring.load(keyring_path), partition="p")
    full = _full_row(local_store, None)
    assert full.pitr_available is False and "set DATAGUARD_CAPTURE_SLOT" in full.pitr_reason


def test_status_says_pitr_is_unavailable_on_a_server_with_wal_level_replica(
    tmp_path, local_store, keyring_path
):
    from dataguard_pipelines.core.engines.embedded import SCRATCH_SETTINGS, EmbeddedPostgres

    engine = EmbeddedPostgres(
        tmp_path / "pg", settings={**SCRATCH_SETTINGS, "wal_level": "replica", "max_wal_senders": "4"}
    )
    server = engine.acquire("protected")
    slot = f"dgtest_{uuid.uuid4().hex[:8]}"
    try:
        db = PostgresDatabase(server.url("protected"))
        with db.connect() as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        result = run_full_backup(
            db, local_store, Keyring.load(keyring_path), partition="p", capture_slot=slot
        )
    finally:
        engine.stop()
    reason = "point-in-time restore unavailable: wal_level is replica; set wal_level = logical and restart PostgreSQL"
    assert result.manifest.rows == 2 and result.pitr_reason == reason
    full = _full_row(local_store, slot)
    assert full.pitr_available is False and full.pitr_reason == reason
