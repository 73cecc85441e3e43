"""On the 1st of each month at 03:00 Europe/Berlin: last month's drafts for every company."""

import dagster as dg

from dataguard_pipelines.defs.billing.assets import billing_snapshot

snapshot_billing_job = dg.define_asset_job(
    "snapshot_billing_job",
    selection=dg.AssetSelection.assets(billing_snapshot).without_checks(),
    executor_def=dg.in_process_executor,
    description="Draft billing snapshot of one company and month.",
)

snapshot_billing_monthly = dg.build_schedule_from_partitioned_job(
    snapshot_billing_job,
    name="snapshot_billing_monthly",
    day_of_month=1,
    hour_of_day=3,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

check_billing_job = dg.define_asset_job(
    "check_billing_job",
    selection=dg.AssetSelection.checks_for_assets(billing_snapshot),
    executor_def=dg.in_process_executor,
    description="Verify every billing snapshot (billing_snapshot_intact).",
)

check_billing_daily = dg.ScheduleDefinition(
    name="check_billing_daily",
    job=check_billing_job,
    cron_schedule="30 5 * * *",
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
