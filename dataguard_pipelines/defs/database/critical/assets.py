"""critical_tables_backup: the critical tables every 6 hours as sealed Parquet, and in the same step the
critical_tables_intact check against the snapshot before it (exact: both are consistent cuts)."""

from datetime import timedelta

import dagster as dg

from dataguard_pipelines.core.audit import audited
from dataguard_pipelines.core.critical.intact import check_intact, previous_snapshot
from dataguard_pipelines.defs.database.assets import DATABASE_POOL
from dataguard_pipelines.defs.database.critical.metadata import intact_metadata, snapshot_metadata
from dataguard_pipelines.defs.database.critical.partitions import critical_tables_partitions
from dataguard_pipelines.defs.protection.audit import dagster_actor
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


@dg.asset(
    partitions_def=critical_tables_partitions,
    group_name="database",
    kinds={"postgres", "parquet"},
    pool=DATABASE_POOL,
    tags={"dataguard/kind": "db_backup"},
    check_specs=[
        dg.AssetCheckSpec(
            "critical_tables_intact",
            asset="critical_tables_backup",
            description="Every critical table still exists, kept its columns, and lost at most "
            "DATAGUARD_CRITICAL_MAX_SHRINK of its rows since the previous snapshot.",
        )
    ],
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=7), warn_window=timedelta(hours=6, minutes=30)
    ),
    description="Critical tables every 6 h: one REPEATABLE READ snapshot, sealed Parquet per table, DDL, manifest.",
)
def critical_tables_backup(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.MaterializeResult:
    from dataguard_pipelines.core.critical.snapshot import back_up_critical_tables  # pyarrow: when run

    target = store.store()
    with (
        database.open() as db,
        audited(
            db,
            operation="backup.critical",
            parameters={"partition": context.partition_key, "database": db.display, "store": target.url},
            store=target,
            actor=dagster_actor(context),
        ) as audit,
    ):
        result = back_up_critical_tables(
            db,
            target,
            keyring.keyring(),
            backup_settings.critical_tables,
            partition=context.partition_key,
            level=backup_settings.zstd_level,
        )
        audit.parameters["backup_id"] = result.manifest.backup_id
    for name in result.missing:
        context.log.warning(
            f"critical table {name} does not exist; it is listed in DATAGUARD_CRITICAL_TABLES"
        )
    report = check_intact(
        result.manifest, previous_snapshot(target, result.manifest), backup_settings.critical_max_shrink
    )
    return dg.MaterializeResult(
        metadata=snapshot_metadata(result),
        check_results=[
            dg.AssetCheckResult(
                check_name="critical_tables_intact",
                passed=report.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=report.describe(),
                metadata=intact_metadata(report),
            )
        ],
    )
