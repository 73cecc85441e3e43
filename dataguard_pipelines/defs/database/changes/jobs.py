"""Sealing the change stream every hour, checking capture every 5 minutes, a point-in-time drill daily."""

from datetime import UTC, timedelta

import dagster as dg

from dataguard_pipelines.defs.conventions import SCHEDULE_STATUS, asset_job, checks_schedule
from dataguard_pipelines.defs.database.changes.assets import incremental_backup
from dataguard_pipelines.defs.database.changes.checks import (
    capture_is_fresh,
    pitr_is_restorable,
    slot_wal_is_bounded,
)
from dataguard_pipelines.job_names import DRILL_PITR_JOB, SEAL_CHANGES_JOB

seal_changes_job = asset_job(
    SEAL_CHANGES_JOB,
    dg.AssetSelection.assets(incremental_backup) - dg.AssetSelection.checks(pitr_is_restorable),
    tags={"dataguard/kind": "db_changes"},
    description="Drain the capture slot and seal the hour's change segments.",
)


@dg.schedule(
    name="seal_changes_hourly",
    job=seal_changes_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=SCHEDULE_STATUS,
    description="Five past every hour (UTC): seal the hour that just ended.",
)
def seal_changes_hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    ended = context.scheduled_execution_time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    partition = (ended - timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
    return dg.RunRequest(run_key=partition, partition_key=partition)


check_capture_job, check_capture_every_5_minutes = checks_schedule(
    "check_capture_every_5_minutes",
    dg.AssetSelection.checks(capture_is_fresh, slot_wal_is_bounded),
    "*/5 * * * *",
    "UTC",
    job_name="check_capture_job",
    description="Is capture shipping, and does its slot pin little WAL? (cheap)",
)

drill_pitr_job, drill_pitr_daily = checks_schedule(
    "drill_pitr_daily",
    dg.AssetSelection.checks(pitr_is_restorable),
    "0 14 * * *",
    "Europe/Berlin",
    job_name=DRILL_PITR_JOB,
    description="Point-in-time drill: full backup + change stream must reproduce the live database exactly.",
    schedule_description="14:00 Berlin, half a day of changes after the nightly full backup.",
)
