"""The restore drill: passes on a good backup, fails loudly on a damaged one, records RTO and history."""

from __future__ import annotations

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.drill import drill_history, run_drill
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.status import backup_status


def test_drill_restores_and_verifies_every_table_and_records_rto(demo_pg15, local_store, keyring_path):
    keyring = Keyring.load(keyring_path)
    manifest = run_full_backup(PostgresDatabase(demo_pg15), local_store, keyring, partition="p").manifest
    [before] = backup_status(local_store)
    assert before.verified is False and before.last_drill_passed is None
    drilled, record = run_drill(local_store, keyring)
    assert drilled.backup_id == manifest.backup_id
    assert record.passed, record
    assert record.tables_checked == len(manifest.tables) and record.rows_checked == manifest.rows
    assert record.rto_s > 0 and "PostgreSQL 18" in record.target_server
    assert drill_history(local_store, manifest) == [record]
    [after] = backup_status(local_store)
    assert after.verified and after.last_drill_rto_s == record.rto_s


def test_drill_fails_with_a_clear_error_when_an_object_was_tampered_with(
    demo_pg15, local_store, keyring_path
):
    keyring = Keyring.load(keyring_path)
    manifest = run_full_backup(PostgresDatabase(demo_pg15), local_store, keyring, partition="p").manifest
    biggest = max(manifest.tables, key=lambda t: t.object.sealed_bytes)
    path = f"{local_store.root}/{manifest.prefix}/{biggest.object.key}"
    with open(path, "r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0x01]))
    _, record = run_drill(local_store, keyring)
    assert not record.passed
    assert "failed authentication" in record.error and biggest.object.key in record.error
    [status] = backup_status(local_store)
    assert status.verified is False and status.last_drill_passed is False
