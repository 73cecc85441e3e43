"""critical_tables_backup and critical_tables_intact, materialized through Dagster against a real server."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg

from dataguard_pipelines.defs.database.critical.assets import critical_tables_backup
from dataguard_pipelines.defs.database.critical.partitions import critical_tables_partitions
from dataguard_pipelines.job_names import BACK_UP_CRITICAL_TABLES_JOB
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


def _materialize(instance, url: str, tmp_path: Path, keyring_path: Path, partition: str):
    result = dg.materialize(
        [critical_tables_backup],
        partition_key=partition,
        instance=instance,
        resources={
            "database": DatabaseResource(url=url, home=str(tmp_path / "home")),
            "store": StoreResource(url=(tmp_path / "store").as_uri()),
            "keyring": KeyringResource(path=str(keyring_path)),
            "backup_settings": BackupSettingsResource(
                critical_tables=["calls", "staff"], critical_max_shrink=0.1
            ),
        },
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("critical_tables_backup")
    [check] = result.get_asset_check_evaluations()
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}, check


def test_critical_backup_materializes_and_its_check_fails_when_a_table_lost_half_its_rows(
    pg15_server, new_database, tmp_path, keyring_path
):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id int PRIMARY KEY); INSERT INTO calls SELECT generate_series(1, 1000)"
        )
    with dg.instance_for_test() as instance:
        meta, check = _materialize(instance, url, tmp_path, keyring_path, "2026-11-27-06:00")
        assert meta["tables"] == ["public.calls"] and meta["dagster/row_count"] == 1000
        assert meta["missing_tables"] == ["staff"] and meta["stored_bytes"] > 0 and meta["duration_s"] >= 0
        assert (
            meta["dagster/uri"].startswith("file://")
            and "/backups/critical/2026-11-27-06:00/" in meta["dagster/uri"]
        )
        assert check.check_name == "critical_tables_intact" and check.passed
        assert check.severity == dg.AssetCheckSeverity.ERROR

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM calls WHERE id > 500")
        _, check = _materialize(instance, url, tmp_path, keyring_path, "2026-11-27-12:00")
    assert not check.passed and "public.calls" in (check.description or "")
    [failed] = check.metadata["failed_tables"].value
    assert (failed["table"], failed["previous_rows"], failed["rows"], failed["shrink"]) == (
        "public.calls",
        1000,
        500,
        0.5,
    )


def test_critical_partitions_are_four_berlin_windows_a_day_with_a_running_schedule(definitions):
    keys = critical_tables_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange("2026-11-27-00:00", "2026-11-27-18:00")
    )
    assert keys == ["2026-11-27-00:00", "2026-11-27-06:00", "2026-11-27-12:00", "2026-11-27-18:00"]
    assert definitions.resolve_job_def(BACK_UP_CRITICAL_TABLES_JOB) is not None
    schedule = definitions.resolve_schedule_def("back_up_critical_tables_every_6_hours")
    assert schedule.cron_schedule == "0 0,6,12,18 * * *" and schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
