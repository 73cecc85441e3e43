"""Mirror jobs and schedules: every 30 min incremental, daily sweep, weekly reconciliation; daily verify."""

import dagster as dg

from dataguard_pipelines.defs.external.partitions import companies_partitions

MIRRORS = dg.AssetSelection.groups("external")

mirror_external_job = dg.define_asset_job(
    "mirror_external_job",
    selection=MIRRORS.without_checks(),
    executor_def=dg.in_process_executor,
    description="Sync Cal.com event types and bookings and Retell calls for one company.",
)

# Sync first, then compare: a checks-only job cannot carry the company partition in Dagster 1.13.
verify_mirrors_job = dg.define_asset_job(
    "verify_mirrors_job",
    selection=MIRRORS,
    executor_def=dg.in_process_executor,
    description="Sync each mirror, then compare it with the source (id sets, content hashes) and probe the APIs.",
)


def _per_company(context: dg.ScheduleEvaluationContext, job_name: str, mode: str | None):
    companies = context.instance.get_dynamic_partitions(companies_partitions.name)
    if not companies:
        return dg.SkipReason("no company partitions yet (company_partitions_sensor adds them)")
    stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
    config = None
    if mode:
        config = {
            "ops": {
                name: {"config": {"mode": mode}}
                for name in ("calcom_event_types", "calcom_bookings", "retell_calls")
            }
        }
    return [
        dg.RunRequest(
            run_key=f"{job_name}:{mode}:{company}:{stamp}",
            partition_key=company,
            run_config=config,
            tags={"company": company},
        )
        for company in companies
    ]


@dg.schedule(
    cron_schedule="*/30 * * * *",
    job=mirror_external_job,
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def mirror_external_every_30_min(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "mirror", "incremental")


@dg.schedule(
    cron_schedule="20 3 * * *",
    job=mirror_external_job,
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def mirror_external_daily_sweep(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "mirror", "sweep")


@dg.schedule(
    cron_schedule="40 3 * * 0",
    job=mirror_external_job,
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def mirror_external_weekly_reconcile(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "mirror", "reconcile")


@dg.schedule(
    cron_schedule="50 4 * * *",
    job=verify_mirrors_job,
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def verify_mirrors_daily(context: dg.ScheduleEvaluationContext):
    return _per_company(context, "verify", None)
