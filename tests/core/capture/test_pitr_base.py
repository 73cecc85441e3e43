"""Every full backup is a point-in-time base by itself: the nightly full, hourly seals, then restore --to-time,
with nobody starting `dataguard capture` by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.hourly import has_pitr_base, seal_hour
from dataguard_pipelines.core.capture.segments import list_chains
from dataguard_pipelines.core.capture.slot import capture_enabled, ddl_trigger_installed
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover
from dataguard_pipelines.core.status import backup_status
from tests.fixtures.postgres import table_fingerprints

HOUR = datetime(2026, 1, 1, tzinfo=UTC)  # the hour a seal counts; draining does not depend on it


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


@pytest.fixture
def slot() -> str:
    return f"dataguard_{uuid.uuid4().hex[:8]}"


def _write_then_mark(url: str, label: str):
    """Commit writes, read the server clock (the target), commit one more change after it.

    The later commit lies in the shipped stream past the target, so the target is reached without waiting
    for the heartbeat's one-second margin; the state at the target must not contain it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO t SELECT g, %s FROM generate_series(1, 50) g ON CONFLICT DO NOTHING", (label,)
        )
        conn.execute("UPDATE t SET v = v || '+' WHERE id % 3 = 0")
        conn.execute("DELETE FROM t WHERE id % 7 = 0")
        reference = table_fingerprints(url)
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO t VALUES (1000, 'after the target')")
    return at, reference


def test_nightly_full_then_hourly_seal_restores_to_a_time_without_capture_started(
    slot, pg15_server, new_database, local_store, keyring
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE nokey (a int)")
        conn.execute("INSERT INTO t SELECT g, 'before' FROM generate_series(100, 120) g")
    db = PostgresDatabase(source)
    assert not capture_enabled(db, slot)

    result = run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)

    assert result.pitr_available and result.pitr_reason is None
    assert result.manifest.consistency["kind"] == "replication_slot"
    assert result.manifest.consistency["pitr_unavailable"] is None
    assert capture_enabled(db, slot) and ddl_trigger_installed(db) and list_chains(local_store, slot)
    [full, *_] = backup_status(local_store, capture_slot=slot)
    assert full.pitr_available and full.pitr_reason is None

    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO nokey VALUES (1), (1); DELETE FROM nokey WHERE ctid = (SELECT min(ctid) FROM nokey)"
        )
    at, reference = _write_then_mark(source, "night")
    seal = seal_hour(db, local_store, keyring, slot, HOUR)
    assert not seal.took_base_backup and seal.drained.transactions >= 4

    target = new_database(pg15_server)
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at))
    assert plan.backup.backup_id == result.manifest.backup_id
    recovered = recover(plan, local_store, keyring, target)
    assert recovered.transactions >= 4
    assert table_fingerprints(target) == reference


def test_seal_without_any_full_backup_takes_a_base_and_restores_to_a_time(
    slot, pg15_server, new_database, local_store, keyring
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT g, 'before' FROM generate_series(100, 120) g")
    db = PostgresDatabase(source)
    bases = []

    def take_base():
        bases.append(run_full_backup(db, local_store, keyring, partition="base", capture_slot=slot))
        return bases[-1]

    first = seal_hour(db, local_store, keyring, slot, HOUR, take_base_backup=take_base)

    assert first.drained.created_slot and first.took_base_backup and first.pitr_reason is None
    assert first.base_backup is bases[0] and bases[0].pitr_available
    assert has_pitr_base(local_store, slot)
    at, reference = _write_then_mark(source, "hourly")
    second = seal_hour(db, local_store, keyring, slot, HOUR, take_base_backup=take_base)
    assert not second.took_base_backup and len(bases) == 1

    target = new_database(pg15_server)
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=at))
    assert plan.backup.backup_id == bases[0].manifest.backup_id
    recover(plan, local_store, keyring, target)
    assert table_fingerprints(target) == reference


def test_seal_takes_a_new_base_when_the_slot_was_recreated(
    slot, pg15_server, new_database, local_store, keyring
):
    """A re-created slot starts a new chain: the old base lies before the gap, so it is no base any more."""
    from dataguard_pipelines.core.capture.slot import drop_slot

    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db = PostgresDatabase(source)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    assert has_pitr_base(local_store, slot)
    drop_slot(db, slot)
    seal = seal_hour(
        db,
        local_store,
        keyring,
        slot,
        HOUR,
        take_base_backup=lambda: run_full_backup(db, local_store, keyring, partition="q", capture_slot=slot),
    )
    assert seal.drained.created_slot and seal.took_base_backup and len(list_chains(local_store, slot)) == 2
    assert has_pitr_base(local_store, slot)
