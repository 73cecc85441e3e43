"""incremental_backup: the hourly seal over change capture, and the checks that keep capture honest.

The capture daemon (`dataguard capture`) ships every N seconds; this asset drains what is left, re-reads
the hour's segments against their checksums and proves the chain has no gap. Without a daemon it is the
hourly incremental backup by itself.
"""

from datetime import UTC, timedelta

import dagster as dg

from dataguard_pipelines.core.capture.drill import run_pitr_drill
from dataguard_pipelines.core.capture.health import MAX_SHIPPING_AGE_S, capture_freshness, slot_hygiene
from dataguard_pipelines.core.capture.hourly import seal_hour
from dataguard_pipelines.core.capture.segments import list_chains
from dataguard_pipelines.defs.database.assets import DATABASE_POOL
from dataguard_pipelines.defs.database.partitions import incremental_backup_partitions
from dataguard_pipelines.resources import (
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
            keyring.keyring(create=True),
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


seal_changes_job = dg.define_asset_job(
    "seal_changes_job",
    selection=dg.AssetSelection.assets(incremental_backup) - dg.AssetSelection.checks(pitr_is_restorable),
    executor_def=dg.in_process_executor,
    tags={"dataguard/kind": "db_changes"},
    description="Drain the capture slot and seal the hour's change segments.",
)


@dg.schedule(
    name="seal_changes_hourly",
    job=seal_changes_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Five past every hour (UTC): seal the hour that just ended.",
)
def seal_changes_hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    ended = context.scheduled_execution_time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    partition = (ended - timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
    return dg.RunRequest(run_key=partition, partition_key=partition)


check_capture_job = dg.define_asset_job(
    "check_capture_job",
    selection=dg.AssetSelection.checks(capture_is_fresh, slot_wal_is_bounded),
    executor_def=dg.in_process_executor,
    description="Is capture shipping, and does its slot pin little WAL? (cheap)",
)

check_capture_every_5_minutes = dg.ScheduleDefinition(
    name="check_capture_every_5_minutes",
    job=check_capture_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

drill_pitr_job = dg.define_asset_job(
    "drill_pitr_job",
    selection=dg.AssetSelection.checks(pitr_is_restorable),
    executor_def=dg.in_process_executor,
    description="Point-in-time drill: full backup + change stream must reproduce the live database exactly.",
)

drill_pitr_daily = dg.ScheduleDefinition(
    name="drill_pitr_daily",
    job=drill_pitr_job,
    cron_schedule="0 14 * * *",
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="14:00 Berlin, half a day of changes after the nightly full backup.",
)
