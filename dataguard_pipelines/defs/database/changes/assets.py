"""incremental_backup: the hourly seal over change capture.

The capture daemon (`dataguard capture`) ships every N seconds; this asset drains what is left, re-reads
the hour's segments against their checksums and proves the chain has no gap. Without a daemon it is the
hourly incremental backup by itself.
"""

from datetime import UTC

import dagster as dg

from dataguard_pipelines.core.backup import BackupResult, run_full_backup
from dataguard_pipelines.core.capture.hourly import seal_hour
from dataguard_pipelines.defs.database.assets import DATABASE_POOL
from dataguard_pipelines.defs.database.partitions import incremental_backup_partitions
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


@dg.asset(
    partitions_def=incremental_backup_partitions,
    group_name="database",
    kinds={"postgres", "zstd"},
    pool=DATABASE_POOL,
    tags={"dataguard/kind": "db_changes"},
    check_specs=[
        dg.AssetCheckSpec(
            "change_chain_is_unbroken",
            asset="incremental_backup",
            blocking=True,
            description="Every segment of the hour (and the hour before) starts where the previous one ended.",
        )
    ],
    description="Hourly seal of the change stream: drain the slot, verify the hour's segments, no gaps.",
)
def incremental_backup(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    store: StoreResource,
    keyring: KeyringResource,
    backup_settings: BackupSettingsResource,
) -> dg.MaterializeResult:
    window = context.partition_time_window
    target, sealing_keyring, slot = store.store(), keyring.keyring(), backup_settings.capture_slot
    with database.open() as db:

        def take_base_backup() -> BackupResult:
            # its own partition: the nightly full backup must not replace the base this chain starts from
            context.log.info("no full backup to continue from: taking one now (the point-in-time base)")
            return run_full_backup(
                db,
                target,
                sealing_keyring,
                partition=f"base-{context.partition_key}",
                level=backup_settings.zstd_level,
                capture_slot=slot,
            )

        seal = seal_hour(
            db,
            target,
            sealing_keyring,
            slot,
            window.start.astimezone(UTC),
            level=backup_settings.zstd_level,
            take_base_backup=take_base_backup,
        )
    if seal.pitr_reason:
        context.log.warning(seal.pitr_reason)
    context.log.info(
        f"hour {seal.hour}: {seal.transactions} transactions, {seal.changes} changes in {seal.segments} "
        f"segments; {'complete' if seal.complete else 'still open'}; {len(seal.gaps)} gaps"
    )
    return dg.MaterializeResult(
        metadata={
            "changes": dg.MetadataValue.int(seal.changes),
            "transactions": dg.MetadataValue.int(seal.transactions),
            "segments": dg.MetadataValue.int(seal.segments),
            "lsn_range": f"{seal.first_lsn or '-'} .. {seal.last_lsn or '-'}",
            "sealed_bytes": dg.MetadataValue.int(seal.sealed_bytes),
            "lag_s": dg.MetadataValue.float(round(seal.lag_s, 1) if seal.lag_s is not None else -1.0),
            "hour_complete": dg.MetadataValue.bool(seal.complete),
            "shipped_through": seal.shipped_through.isoformat() if seal.shipped_through else "never",
            "drained_now_changes": dg.MetadataValue.int(seal.drained.changes if seal.drained else 0),
            "base_backup": seal.base_backup.manifest.backup_id if seal.base_backup else "none needed",
            "point_in_time": seal.pitr_reason or "available",
            "pitr_command": 'dataguard restore --target-url postgresql://…/<new db> --to-time "YYYY-MM-DD HH:MM:SS"',
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="change_chain_is_unbroken",
                passed=not seal.gaps,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"gaps": dg.MetadataValue.json([g.describe() for g in seal.gaps])},
            )
        ],
    )
