"""The critical-tables job and its 6-hourly schedule (on by default; they share a name stem)."""

import dagster as dg

from dataguard_pipelines.defs.conventions import SCHEDULE_STATUS, asset_job
from dataguard_pipelines.defs.database.critical.assets import critical_tables_backup
from dataguard_pipelines.job_names import BACK_UP_CRITICAL_TABLES_JOB

back_up_critical_tables_job = asset_job(
    BACK_UP_CRITICAL_TABLES_JOB,
    dg.AssetSelection.assets(critical_tables_backup),
    tags={"dataguard/kind": "db_backup"},
    description="Snapshot of the critical tables, and the check that none vanished or shrank.",
)

back_up_critical_tables_every_6_hours = dg.build_schedule_from_partitioned_job(
    back_up_critical_tables_job,
    name="back_up_critical_tables_every_6_hours",
    default_status=SCHEDULE_STATUS,
    description="00, 06, 12, 18 Europe/Berlin: the current window's critical-tables snapshot.",
)
