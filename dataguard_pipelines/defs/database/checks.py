"""Checks on full_backup: a drill that really restores it, and the age of the newest backup."""

from datetime import UTC, datetime

import dagster as dg

from dataguard_pipelines.core.drill import run_drill
from dataguard_pipelines.core.status import backup_status
from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.resources import BackupSettingsResource, KeyringResource, StoreResource

MAX_FULL_BACKUP_AGE_H = 26


@dg.asset_check(
    asset=full_backup,
    blocking=True,
    description="Restores the newest full backup into a throwaway PostgreSQL and compares every "
    "table's row count and content hash with the manifest; records the RTO.",
)
def backup_is_restorable(
    context: dg.AssetCheckExecutionContext,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.AssetCheckResult:
    manifest, record = run_drill(
        store.store(),
        keyring.keyring(),
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
    status = next(s for s in backup_status(store.store(), datetime.now(UTC)) if s.backup_type == "full")
    age_h = None if status.age_s is None else round(status.age_s / 3600, 2)
    return dg.AssetCheckResult(
        passed=age_h is not None and age_h <= MAX_FULL_BACKUP_AGE_H,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "newest_backup": status.backup_id or "none",
            "age_hours": dg.MetadataValue.float(age_h or -1.0),
            "verified_by_drill": dg.MetadataValue.bool(status.verified),
        },
    )
