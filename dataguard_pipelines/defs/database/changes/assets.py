"""incremental_backup: the hourly seal over change capture.

The capture daemon (`dataguard capture`) ships every N seconds; this asset drains what is left, re-reads
the hour's segments against their checksums and proves the chain has no gap. Without a daemon it is the
hourly incremental backup by itself.
"""

from datetime import UTC

import dagster as dg

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
    with database.open() as db:
        seal = seal_hour(
            db,
            store.store(),
            keyring.keyring(),
            backup_settings.capture_slot,
            window.start.astimezone(UTC),
            level=backup_settings.zstd_level,
        )
    drained = seal.drained
    if drained is not None and drained.created_slot:
        context.log.info("capture started now: point-in-time restore works from the next full backup on")
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
            "drained_now_changes": dg.MetadataValue.int(drained.changes if drained else 0),
            "pitr_command": 'dataguard restore --target-url postgresql://…/<new db> --to-time "YYYY-MM-DD HH:MM:SS+00"',
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
