"""full_backup: a daily full backup of the protected database, sealed and stored, with an in-step
completeness check (every object the manifest lists is in the store with its recorded size)."""

from datetime import timedelta

import dagster as dg

from dataguard_pipelines.core.audit import audited
from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.progress import Progress, Throttle
from dataguard_pipelines.core.verify import check_complete
from dataguard_pipelines.defs.database.metadata import backup_metadata
from dataguard_pipelines.defs.database.partitions import full_backup_partitions
from dataguard_pipelines.defs.protection.audit import dagster_actor
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)

PROGRESS_LOG_INTERVAL_S = 10.0
# limited to 1 in the instance (docs/architecture.md, "Concurrency limits"): database steps never overlap
DATABASE_POOL = "dataguard_database"


@dg.asset(
    partitions_def=full_backup_partitions,
    group_name="database",
    kinds={"postgres", "zstd"},
    pool=DATABASE_POOL,
    tags={"dataguard/kind": "db_backup"},
    check_specs=[
        dg.AssetCheckSpec(
            "backup_is_complete",
            asset="full_backup",
            blocking=True,
            description="Every object the manifest lists is stored with its size.",
        )
    ],
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
    ),
    description="Daily full backup: pg_dump on one snapshot, zstd, AES-256-GCM, SHA-256, manifest last.",
)
def full_backup(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.MaterializeResult:
    target = store.store()

    def log_line(update: Progress) -> None:
        total = f" of ~{update.total_bytes / 1e6:.0f} MB" if update.total_bytes else ""
        context.log.info(f"{update.phase}: {update.done_bytes / 1e6:.0f} MB{total} {update.detail}")

    log_progress = Throttle(log_line, interval_s=PROGRESS_LOG_INTERVAL_S)

    with (
        database.open() as db,
        audited(
            db,
            operation="backup.full",
            parameters={"partition": context.partition_key, "database": db.display, "store": target.url},
            store=target,
            actor=dagster_actor(context),
        ) as audit,
    ):
        result = run_full_backup(
            db,
            target,
            keyring.keyring(),
            partition=context.partition_key,
            level=backup_settings.zstd_level,
            progress=log_progress,
            capture_slot=backup_settings.capture_slot,
        )
        audit.parameters["backup_id"] = result.manifest.backup_id
    missing = check_complete(target, result.manifest)
    return dg.MaterializeResult(
        metadata=backup_metadata(result),
        check_results=[
            dg.AssetCheckResult(
                check_name="backup_is_complete",
                passed=not missing,
                metadata={"problems": dg.MetadataValue.json(missing)},
            )
        ],
    )
