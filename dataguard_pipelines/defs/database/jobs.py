"""Jobs and schedules for the database backups (a job and its schedule share a name stem)."""

import dagster as dg

from dataguard_pipelines.defs.conventions import SCHEDULE_STATUS, asset_job, checks_schedule
from dataguard_pipelines.defs.database.assets import full_backup
from dataguard_pipelines.defs.database.checks import backup_is_fresh
from dataguard_pipelines.job_names import BACK_UP_POSTGRES_JOB

# The backup, its completeness check and the restore drill, in one run.
back_up_postgres_job = asset_job(
    BACK_UP_POSTGRES_JOB,
    dg.AssetSelection.assets(full_backup),
    tags={"dataguard/kind": "db_backup"},
    description="Full backup of the protected database, then a restore drill of it.",
)

back_up_postgres_nightly = dg.build_schedule_from_partitioned_job(
    back_up_postgres_job,
    name="back_up_postgres_nightly",
    hour_of_day=2,
    minute_of_hour=0,
    default_status=SCHEDULE_STATUS,
    description="02:00 Europe/Berlin: today's full backup and its restore drill.",
)

check_backups_job, check_backups_hourly = checks_schedule(
    "check_backups_hourly",
    dg.AssetSelection.checks(backup_is_fresh),
    "15 * * * *",
    "Europe/Berlin",
    job_name="check_backups_job",
    description="Is the newest full backup fresh? (cheap, reads the store)",
)
