"""On the 1st of each month at 03:00 Europe/Berlin: last month's drafts for every company."""

import dagster as dg

from dataguard_pipelines.defs.billing.assets import billing_snapshot
from dataguard_pipelines.defs.conventions import SCHEDULE_STATUS, asset_job, checks_schedule
from dataguard_pipelines.job_names import CHECK_BILLING_JOB, SNAPSHOT_BILLING_JOB

snapshot_billing_job = asset_job(
    SNAPSHOT_BILLING_JOB,
    dg.AssetSelection.assets(billing_snapshot).without_checks(),
    description="Draft billing snapshot of one company and month.",
)

snapshot_billing_monthly = dg.build_schedule_from_partitioned_job(
    snapshot_billing_job,
    name="snapshot_billing_monthly",
    day_of_month=1,
    hour_of_day=3,
    minute_of_hour=0,
    default_status=SCHEDULE_STATUS,
)

check_billing_job, check_billing_daily = checks_schedule(
    "check_billing_daily",
    dg.AssetSelection.checks_for_assets(billing_snapshot),
    "30 5 * * *",
    "Europe/Berlin",
    job_name=CHECK_BILLING_JOB,
    description="Verify every billing snapshot (billing_snapshot_intact).",
)
