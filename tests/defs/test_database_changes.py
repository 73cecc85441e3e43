"""incremental_backup, the capture checks and restore_to_timestamp, run through Dagster on real servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.segments import list_segments
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.store import Store
from dataguard_pipelines.defs.database.changes.assets import incremental_backup
from dataguard_pipelines.defs.database.changes.checks import capture_is_fresh, slot_wal_is_bounded
from dataguard_pipelines.defs.database.changes.jobs import seal_changes_hourly
from dataguard_pipelines.defs.database.pitr import restore_to_timestamp
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)
from tests.fixtures.postgres import table_fingerprints


def _resources(database_url: str, tmp_path: Path, keyring_path: Path, **settings) -> dict:
    return {
        "database": DatabaseResource(url=database_url, home=str(tmp_path / "home")),
        "store": StoreResource(url=(tmp_path / "store").as_uri()),
        "keyring": KeyringResource(path=str(keyring_path)),
        # slot names are unique per server: a test of its own never meets another run's slot
        "backup_settings": BackupSettingsResource(
            **{"capture_slot": f"dgtest_{uuid.uuid4().hex[:8]}", **settings}
        ),
    }


def _current_hour() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d-%H:00")


def _materialize(
    resources: dict, *, raise_on_error: bool = True, partition_key: str | None = None
) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [incremental_backup, capture_is_fresh, slot_wal_is_bounded],
            partition_key=partition_key or _current_hour(),
            instance=instance,
            resources=resources,
            raise_on_error=raise_on_error,
        )


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_incremental_backup_seals_the_hour_and_the_checks_pass(
    pg15_server, new_database, tmp_path, keyring_path
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    resources = _resources(source, tmp_path, keyring_path)
    first = _materialize(resources)  # creates the slot and, finding no full backup, takes the base
    assert first.success
    [base] = first.asset_materializations_for_node("incremental_backup")
    assert (
        base.metadata["base_backup"].value.startswith("full-")
        and base.metadata["point_in_time"].value == "available"
    )
    with psycopg.connect(source) as conn:  # one transaction: one commit time, so one hour holds it all
        conn.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 40) g")
        conn.execute("UPDATE t SET v = 'changed' WHERE id <= 10")
        conn.execute("DELETE FROM t WHERE id > 35")
        conn.commit()
    slot = resources["backup_settings"].capture_slot
    shipped = _materialize(resources)  # drains the slot (sealing the current hour, whichever it is)
    assert shipped.success
    committed_at = list_segments(Store((tmp_path / "store").as_uri()), slot)[-1].last_commit
    hour = committed_at.astimezone(UTC).strftime("%Y-%m-%d-%H:00")
    result = _materialize(resources, partition_key=hour)
    [materialization] = result.asset_materializations_for_node("incremental_backup")
    meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    assert (meta["transactions"], meta["changes"]) == (1, 40 + 10 + 5)
    assert meta["segments"] == 1 and meta["base_backup"] == "none needed"
    hour_end = datetime.strptime(hour, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC) + timedelta(hours=1)
    assert meta["hour_complete"] == (datetime.fromisoformat(meta["shipped_through"]) >= hour_end)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"change_chain_is_unbroken", "capture_is_fresh", "slot_wal_is_bounded"}
    assert all(c.passed for c in checks.values()), {k: c.description for k, c in checks.items()}


def test_slot_check_fails_when_the_slot_pins_too_much_wal(pg15_server, new_database, tmp_path, keyring_path):
    source = new_database(pg15_server)
    slot = f"dgtest_{uuid.uuid4().hex[:8]}"
    assert _materialize(_resources(source, tmp_path, keyring_path, capture_slot=slot)).success
    with psycopg.connect(source, autocommit=True) as conn:  # ~3 MB of WAL that nobody ships
        conn.execute(
            "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 12000) g"
        )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [incremental_backup, slot_wal_is_bounded],
            selection=dg.AssetSelection.checks(slot_wal_is_bounded),
            instance=instance,
            resources=_resources(source, tmp_path, keyring_path, capture_slot=slot, slot_max_wal_mb=1),
            raise_on_error=False,
        )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "retains" in evaluation.description and "drop it" in evaluation.description


def test_seal_schedule_targets_the_hour_that_just_ended():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 27, 10, 5, tzinfo=UTC))
    request = seal_changes_hourly(context)
    assert request.partition_key == "2026-11-27-09:00"


def _restore(resources: dict, **config) -> dg.ExecuteInProcessResult:
    return restore_to_timestamp.execute_in_process(
        run_config={"ops": {"restore_to_point_in_time": {"config": config}}},
        resources=resources,
        raise_on_error=False,
    )


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_restore_to_timestamp_job_restores_a_point_in_time(
    pg15_server, new_database, tmp_path, keyring_path, monkeypatch
):
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    resources = _resources(source, tmp_path, keyring_path)
    assert _materialize(resources).success
    run_full_backup(
        PostgresDatabase(source),
        Store((tmp_path / "store").as_uri()),
        Keyring.load(keyring_path),
        partition="p",
        capture_slot=resources["backup_settings"].capture_slot,
    )
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("INSERT INTO t VALUES (1, 'kept'), (2, 'kept')")
        reference = table_fingerprints(source)
        at = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("DELETE FROM t")
    assert _materialize(resources).success
    target = new_database(pg15_server)
    config = {"target_time": at.isoformat(), "target_url": target}
    result = restore_to_timestamp.execute_in_process(
        run_config={"ops": {"restore_to_point_in_time": {"config": config}}}, resources=resources
    )
    assert result.success
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = {k: getattr(v, "value", v) for k, v in output.event_specific_data.metadata.items()}
    assert meta["transactions_replayed"] == 1 and meta["rto_s"] > 0
    assert table_fingerprints(target) == reference

    # a URL with a password comes from the code location's environment through Dagster's {"env": ...}
    second = new_database(pg15_server)
    variable = f"DGTEST_TARGET_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(variable, second.replace("postgres@", "postgres:s3cret-pw@"))
    from_env = _restore(resources, target_time=at.isoformat(), target_url={"env": variable})
    assert from_env.success
    assert table_fingerprints(second) == reference
    logged = " ".join(str(e) for e in from_env.all_events)
    assert "s3cret-pw" not in logged and "postgres:***@" in logged

    with_password = new_database(pg15_server).replace("postgres@", "postgres:s3cret-pw@")
    failed = _restore(resources, target_time=at.isoformat(), target_url=with_password)
    assert not failed.success
    error = failed.failure_data_for_node("restore_to_point_in_time").error.to_string()
    assert '{"env": "THAT_VARIABLE"}' in error and "s3cret-pw" not in error

    monkeypatch.setenv(variable, "not-a-url-but-a-s3cret")  # a launchpad user naming some other variable
    refused = _restore(resources, target_time=at.isoformat(), target_url={"env": variable})
    assert not refused.success
    error = refused.failure_data_for_node("restore_to_point_in_time").error.to_string()
    assert "not a postgresql:// URL" in error and "s3cret" not in error

    monkeypatch.setenv("DATAGUARD_DATABASE_URL", second)  # the protected database's own credentials
    sneaky = _restore(resources, target_time=at.isoformat(), target_url={"env": "DATAGUARD_DATABASE_URL"})
    assert not sneaky.success
    error = sneaky.failure_data_for_node("restore_to_point_in_time").error.to_string()
    assert "may not name DATAGUARD_DATABASE_URL" in error


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_pitr_drill_passes_and_fails_on_a_missing_segment(pg15_server, new_database, tmp_path, keyring_path):
    from dataguard_pipelines.core.capture.segments import list_segments
    from dataguard_pipelines.defs.database.changes.checks import pitr_is_restorable

    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE nokey (a int, b jsonb)")
    resources = _resources(source, tmp_path, keyring_path)
    assert _materialize(resources).success
    store = Store((tmp_path / "store").as_uri())
    run_full_backup(
        PostgresDatabase(source),
        store,
        Keyring.load(keyring_path),
        partition="p",
        capture_slot=resources["backup_settings"].capture_slot,
    )
    for round_ in range(2):
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO t SELECT g, 'r' || %s FROM generate_series(%s::int, %s::int) g",
                (round_, round_ * 10, round_ * 10 + 9),
            )
            conn.execute("INSERT INTO nokey VALUES (1, '{\"a\": 1}'), (1, '{\"a\": 1}')")
            conn.execute("UPDATE t SET v = v || '!' WHERE id % 2 = 0")
        assert _materialize(resources).success

    def drill() -> dg.AssetCheckEvaluation:
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [incremental_backup, pitr_is_restorable],
                selection=dg.AssetSelection.checks(pitr_is_restorable),
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    passed = drill()
    meta = {k: getattr(v, "value", v) for k, v in passed.metadata.items()}
    assert passed.passed, passed.description
    assert (
        meta["tables_checked"] >= 2 and meta["transactions_replayed"] >= 6 and meta["mismatched_tables"] == []
    )
    store.delete_prefix(list_segments(store, resources["backup_settings"].capture_slot)[0].data_key)
    store.delete_prefix(list_segments(store, resources["backup_settings"].capture_slot)[0].key + ".json")
    failed = drill()
    assert not failed.passed and "gap" in failed.description
