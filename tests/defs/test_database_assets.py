"""full_backup and its checks, materialized through Dagster against real servers and a real store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg

from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.defs.database.checks import backup_is_fresh, backup_is_restorable
from dataguard_pipelines.resources import (
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
        "backup_settings": BackupSettingsResource(),
    }


def test_full_backup_materializes_with_metadata_and_a_passing_drill(demo_pg15, tmp_path, keyring_path):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [full_backup, backup_is_restorable, backup_is_fresh],
            partition_key="2026-11-27",
            instance=instance,
            resources=_resources(demo_pg15, tmp_path, keyring_path),
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node("full_backup")
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    with psycopg.connect(demo_pg15) as conn:
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
