"""full_backup and its checks, materialized through Dagster against real servers and a real store."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import list_manifests
from dataguard_pipelines.core.store import Store
from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.defs.database.checks import backup_is_fresh, backup_is_restorable, freshness_of
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


def _resources(database_url: str | None, tmp_path: Path, keyring_path: Path) -> dict:
    return {
        "database": DatabaseResource(url=database_url, home=str(tmp_path / "home")),
        "store": StoreResource(url=(tmp_path / "store").as_uri()),
        "keyring": KeyringResource(path=str(keyring_path)),
        # slot names are unique per server: a test of its own never meets another run's slot
        "backup_settings": BackupSettingsResource(capture_slot=f"dgtest_{uuid.uuid4().hex[:8]}"),
    }


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_full_backup_materializes_with_metadata_and_a_passing_drill(demo_pg15_copy, tmp_path, keyring_path):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [full_backup, backup_is_restorable, backup_is_fresh],
            partition_key="2026-11-27",
            instance=instance,
            resources=_resources(demo_pg15_copy, tmp_path, keyring_path),
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node("full_backup")
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    with psycopg.connect(demo_pg15_copy) as conn:
        tables = conn.execute(  # tables that hold rows: partitions count, their partitioned parent does not
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = 'public'"
        ).fetchone()[0]
    assert materialization.partition == "2026-11-27"
    assert meta["tables"] == tables
    assert meta["stored_bytes"] < meta["dump_bytes"] and meta["compression_ratio"] > 1
    assert meta["dagster/row_count"] > 0 and len(meta["manifest_sha256"]) == 64
    assert meta["pg_server_version"].startswith("15")
    assert meta["dagster/uri"].startswith("file://")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"backup_is_complete", "backup_is_restorable", "backup_is_fresh"}
    assert all(c.passed for c in checks.values())
    drill = {k: getattr(v, "value", v) for k, v in checks["backup_is_restorable"].metadata.items()}
    assert drill["rto_s"] > 0 and drill["tables_checked"] == tables and drill["mismatched_tables"] == []


def test_full_backup_on_the_embedded_default_starts_and_stops_the_server(tmp_path, keyring_path):
    from dataguard_pipelines.core.engines.embedded import EmbeddedPostgres

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [full_backup],
            partition_key="2026-11-27",
            instance=instance,
            resources=_resources(None, tmp_path, keyring_path),
        )
    assert result.success
    assert EmbeddedPostgres(tmp_path / "home" / "postgres")._running_server() is None


def test_freshness_check_fails_when_no_backup_exists(tmp_path, keyring_path):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [full_backup, backup_is_fresh],
            selection=dg.AssetSelection.checks(backup_is_fresh),
            instance=instance,
            resources=_resources(None, tmp_path, keyring_path),
            raise_on_error=False,
        )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["newest_backup"].value == "none"


def test_bad_partition_key_is_refused(tmp_path, keyring_path):
    import pytest

    with dg.instance_for_test() as instance, pytest.raises(dg.DagsterUnknownPartitionError):
        dg.materialize(
            [full_backup],
            partition_key="not-a-day",
            instance=instance,
            resources=_resources(None, tmp_path, keyring_path),
        )


def _small_database(server: str, new_database) -> str:
    url = new_database(server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g")
    return url


def _drill_job(resources: dict) -> dg.JobDefinition:
    """What the UI launches for "run backup_is_restorable on partition P": the check alone."""
    return (
        dg.Definitions(
            assets=[full_backup],
            asset_checks=[backup_is_restorable],
            jobs=[dg.define_asset_job("drill", dg.AssetSelection.assets(full_backup))],
            resources=resources,
        )
        .resolve_job_def("drill")
        .get_subset(asset_selection=set(), asset_check_selection={backup_is_restorable.check_key})
    )


def test_restore_drill_of_an_older_partition_drills_that_partitions_backup(
    pg15_server, new_database, tmp_path, keyring_path
):
    resources = _resources(_small_database(pg15_server, new_database), tmp_path, keyring_path)
    made = {}
    with dg.instance_for_test() as instance:
        for partition in ("2026-11-26", "2026-11-27"):  # the older one first: the newer is the newest
            result = dg.materialize(
                [full_backup], partition_key=partition, instance=instance, resources=resources
            )
            [materialization] = result.asset_materializations_for_node("full_backup")
            made[partition] = materialization.metadata["backup_id"].value
        job = _drill_job(resources)
        result = job.execute_in_process(partition_key="2026-11-26", instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    meta = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    assert evaluation.passed and meta["tables_checked"] == 1
    assert (meta["backup_id"], meta["partition"]) == (made["2026-11-26"], "2026-11-26")
    assert made["2026-11-26"] != made["2026-11-27"]


def test_restore_drill_of_a_partition_without_a_backup_fails_without_drilling_another(
    pg15_server, new_database, tmp_path, keyring_path
):
    resources = _resources(_small_database(pg15_server, new_database), tmp_path, keyring_path)
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [full_backup], partition_key="2026-11-27", instance=instance, resources=resources
        ).success
        job = _drill_job(resources)
        result = job.execute_in_process(partition_key="2026-11-20", instance=instance, raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and "partition 2026-11-20" in evaluation.description
    assert "backup_id" not in evaluation.metadata


def test_freshness_reports_an_age_of_zero_hours_as_zero(pg15_server, new_database, tmp_path, keyring_path):
    store = Store((tmp_path / "store").as_uri())
    run_full_backup(
        PostgresDatabase(_small_database(pg15_server, new_database)),
        store,
        Keyring.load(keyring_path),
        partition="2026-11-27",
    )
    [manifest] = list_manifests(store, "full")
    just_made = freshness_of(store, manifest.finished)
    assert just_made.passed and just_made.metadata["age_hours"].value == 0.0
    stale = freshness_of(store, manifest.finished + timedelta(hours=27))
    assert not stale.passed and stale.metadata["age_hours"].value == 27.0
