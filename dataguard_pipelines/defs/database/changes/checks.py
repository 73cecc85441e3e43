"""The checks that keep change capture honest: capture is shipping, its slot pins little WAL, and a
point-in-time drill reproduces the live database."""

import dagster as dg

from dataguard_pipelines.core.capture.drill import run_pitr_drill
from dataguard_pipelines.core.capture.health import MAX_SHIPPING_AGE_S, capture_freshness, slot_hygiene
from dataguard_pipelines.core.capture.segments import list_chains
from dataguard_pipelines.defs.database.changes.assets import incremental_backup
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


@dg.asset_check(
    asset=incremental_backup,
    description=f"When capture is set up, something was shipped in the last {MAX_SHIPPING_AGE_S} s: "
    "a dead `dataguard capture` shows here within minutes.",
)
def capture_is_fresh(store: StoreResource, backup_settings: BackupSettingsResource) -> dg.AssetCheckResult:
    report = capture_freshness(store.store(), backup_settings.capture_slot)
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.message,
        metadata={
            "capture_configured": dg.MetadataValue.bool(report.configured),
            "age_s": dg.MetadataValue.float(round(report.age_s, 1) if report.age_s is not None else -1.0),
            "shipped_through": report.shipped_through.isoformat() if report.shipped_through else "never",
        },
    )


@dg.asset_check(
    asset=incremental_backup,
    description="The capture slot pins less WAL than DATAGUARD_SLOT_MAX_WAL_MB: an abandoned slot would "
    "fill the protected server's disk.",
)
def slot_wal_is_bounded(
    database: DatabaseResource, store: StoreResource, backup_settings: BackupSettingsResource
) -> dg.AssetCheckResult:
    slot = backup_settings.capture_slot
    configured = bool(list_chains(store.store(), slot))
    with database.open() as db:
        report = slot_hygiene(
            db, slot, max_wal_bytes=backup_settings.slot_max_wal_mb * 1024 * 1024, configured=configured
        )
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.message,
        metadata={
            "retained_mib": dg.MetadataValue.float(round(report.retained_bytes / 2**20, 1)),
            "limit_mib": dg.MetadataValue.float(round(report.limit_bytes / 2**20, 1)),
            "slot_active": dg.MetadataValue.bool(report.active),
            "wal_status": report.wal_status or "none",
            "drop_command": "dataguard capture --drop-slot",
        },
    )


@dg.asset_check(
    asset=incremental_backup,
    blocking=False,
    description="Point-in-time drill: cut the live database at an exact slot snapshot, restore the newest "
    "full backup into a throwaway PostgreSQL, replay the changes up to the cut, compare every table.",
)
def pitr_is_restorable(
    context: dg.AssetCheckExecutionContext,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.AssetCheckResult:
    with database.open() as db:
        record = run_pitr_drill(
            db,
            store.store(),
            keyring.keyring(),
            backup_settings.capture_slot,
            jobs=backup_settings.restore_jobs,
            level=backup_settings.zstd_level,
        )
    context.log.info(f"PITR drill {'passed' if record.passed else 'FAILED'} in {record.rto_s} s")
    return dg.AssetCheckResult(
        passed=record.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=record.error or None,
        metadata={
            "backup_id": record.backup_id or "none",
            "cut_lsn": record.cut_lsn or "none",
            "rto_s": dg.MetadataValue.float(record.rto_s),
            "tables_checked": dg.MetadataValue.int(record.tables_checked),
            "transactions_replayed": dg.MetadataValue.int(record.transactions_replayed),
            "changes_replayed": dg.MetadataValue.int(record.changes_replayed),
            "mismatched_tables": dg.MetadataValue.json(record.mismatched_tables),
        },
    )
