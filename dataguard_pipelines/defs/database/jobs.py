"""Jobs and schedules for the database backups (a job and its schedule share a name stem)."""

import dagster as dg

from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.defs.database.checks import backup_is_fresh

# The backup, its completeness check and the restore drill, in one process: step subprocesses would each
# re-import Dagster (seconds) for work that is I/O bound anyway.
back_up_postgres_job = dg.define_asset_job(
    "back_up_postgres_job",
    selection=dg.AssetSelection.assets(full_backup),
    executor_def=dg.in_process_executor,
    tags={"dataguard/kind": "db_backup"},
    description="Full backup of the protected database, then a restore drill of it.",
)

back_up_postgres_nightly = dg.build_schedule_from_partitioned_job(
    back_up_postgres_job,
    name="back_up_postgres_nightly",
    hour_of_day=2,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 Europe/Berlin: today's full backup and its restore drill.",
)

check_backups_job = dg.define_asset_job(
    "check_backups_job",
    selection=dg.AssetSelection.checks(backup_is_fresh),
    executor_def=dg.in_process_executor,
    description="Is the newest full backup fresh? (cheap, reads the store)",
)

check_backups_hourly = dg.ScheduleDefinition(
    name="check_backups_hourly",
    job=check_backups_job,
    cron_schedule="15 * * * *",
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
