"""Checks on full_backup: a drill that really restores the backup a run made, and the age of the newest."""

from datetime import UTC, datetime

import dagster as dg

from dataguard_pipelines.core.drill import run_drill
from dataguard_pipelines.core.manifest import MANIFEST_NAME, load_manifest
from dataguard_pipelines.core.status import backup_status
from dataguard_pipelines.core.store import Store
from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.resource_types import BackupSettingsResource, KeyringResource, StoreResource

MAX_FULL_BACKUP_AGE_H = 26


@dg.asset_check(
    asset=full_backup,
    blocking=True,
    description="Restores the backup of the run's partition (else of the latest materialization) into a "
    "throwaway PostgreSQL and compares every table's row count and content hash with the manifest; "
    "records the RTO.",
)
def backup_is_restorable(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.AssetCheckResult:
    target, partition = store.store(), partition_to_drill(context)
    backup_id = partition_backup_id(target, partition) if partition else None
    if partition and backup_id is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"no full backup of partition {partition} in the store; back the partition up first",
            metadata={"partition": partition},
        )
    manifest, record = run_drill(
        target,
        keyring.keyring(),
        backup_id=backup_id,
        jobs=backup_settings.restore_jobs,
        progress=lambda p: context.log.debug(f"drill {p.phase} {p.done_bytes}"),
    )
    context.log.info(
        f"drill of {record.backup_id}: {'passed' if record.passed else 'FAILED'}, RTO {record.rto_s} s"
    )
    return dg.AssetCheckResult(
        passed=record.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "backup_id": record.backup_id,
            "partition": manifest.partition,
            "rto_s": dg.MetadataValue.float(record.rto_s),
            "verify_s": dg.MetadataValue.float(record.verify_s),
            "tables_checked": dg.MetadataValue.int(record.tables_checked),
            "rows_checked": dg.MetadataValue.int(record.rows_checked),
            "mismatched_tables": dg.MetadataValue.json(record.mismatched_tables),
            "restore_throughput_mb_s": dg.MetadataValue.float(
                round(manifest.content_bytes / 1e6 / max(record.rto_s, 1e-6), 1)
            ),
            "target": record.target_server,
            "error": record.error or "none",
            "restore_command": f"dataguard restore --backup {record.backup_id} --target-url postgresql://…/<new db>",
        },
    )


@dg.asset_check(
    asset=full_backup,
    description=f"The newest full backup in the store finished less than {MAX_FULL_BACKUP_AGE_H} h ago.",
)
def backup_is_fresh(store: StoreResource) -> dg.AssetCheckResult:
    return freshness_of(store.store(), datetime.now(UTC))


def freshness_of(store: Store, now: datetime) -> dg.AssetCheckResult:
    """The freshness verdict at `now` (-1 h in the metadata: no backup yet)."""
    status = next(s for s in backup_status(store, now) if s.backup_type == "full")
    age_h = None if status.age_s is None else round(status.age_s / 3600, 2)
    return dg.AssetCheckResult(
        passed=age_h is not None and age_h <= MAX_FULL_BACKUP_AGE_H,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "newest_backup": status.backup_id or "none",
            "age_hours": dg.MetadataValue.float(-1.0 if age_h is None else age_h),
            "verified_by_drill": dg.MetadataValue.bool(status.verified),
        },
    )


def partition_to_drill(context: dg.AssetCheckExecutionContext) -> str | None:
    """The run's partition (the check runs in the backup's run), else the latest materialization's."""
    run = context.op_execution_context
    if run.has_partition_key:
        return run.partition_key
    latest = context.instance.get_latest_materialization_event(full_backup.key)
    return latest.asset_materialization.partition if latest and latest.asset_materialization else None


def partition_backup_id(store: Store, partition: str) -> str | None:
    """The backup a run of `partition` published (a re-run replaces the earlier one; the newest wins)."""
    keys = store.glob(f"backups/full/{partition}/*/{MANIFEST_NAME}")
    manifests = [load_manifest(store, key) for key in keys]
    return max(manifests, key=lambda m: m.finished_at).backup_id if manifests else None
