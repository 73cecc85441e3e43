"""Mirror jobs and schedules: every 30 min incremental, daily sweep, weekly reconciliation; daily verify."""

import dagster as dg

from dataguard_pipelines.defs.companies import companies_partitions
from dataguard_pipelines.defs.conventions import SCHEDULE_STATUS, asset_job
from dataguard_pipelines.job_names import MIRROR_EXTERNAL_JOB, VERIFY_MIRRORS_JOB

MIRRORS = dg.AssetSelection.groups("external")
MIRROR_ASSETS = ("calcom_event_types", "calcom_bookings", "retell_calls")
# deploy/dagster.yaml limits runs with this tag (several companies at once: each has its own key and rate limit)
MIRROR_TAGS = {"dataguard/kind": "mirror"}

mirror_external_job = asset_job(
    MIRROR_EXTERNAL_JOB,
    MIRRORS.without_checks(),
    tags=MIRROR_TAGS,
    description="Sync Cal.com event types and bookings and Retell calls for one company.",
)

# Sync first, then compare: a checks-only job cannot carry the company partition in Dagster 1.13.
verify_mirrors_job = asset_job(
    VERIFY_MIRRORS_JOB,
    MIRRORS,
    tags=MIRROR_TAGS,
    description="Sync each mirror, then compare it with the source (id sets, content hashes) and probe the APIs.",
)


def company_schedule(name: str, cron: str, job, mode: str | None) -> dg.ScheduleDefinition:
    """A schedule that launches one run per company partition (`mode` goes into each mirror's config)."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=job,
        execution_timezone="Europe/Berlin",
        default_status=SCHEDULE_STATUS,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        companies = context.instance.get_dynamic_partitions(companies_partitions.name)
        if not companies:
            return dg.SkipReason("no company partitions yet (company_partitions_sensor adds them)")
        stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        config = {"ops": {r: {"config": {"mode": mode}} for r in MIRROR_ASSETS}} if mode else None
        return [
            dg.RunRequest(
                run_key=f"{name}:{company}:{stamp}",
                partition_key=company,
                run_config=config,
                tags={"company": company},
            )
            for company in companies
        ]

    return _schedule


mirror_external_every_30_min = company_schedule(
    "mirror_external_every_30_min", "*/30 * * * *", mirror_external_job, "incremental"
)
mirror_external_daily_sweep = company_schedule(
    "mirror_external_daily_sweep", "20 3 * * *", mirror_external_job, "sweep"
)
mirror_external_weekly_reconcile = company_schedule(
    "mirror_external_weekly_reconcile", "40 3 * * 0", mirror_external_job, "reconcile"
)
verify_mirrors_daily = company_schedule("verify_mirrors_daily", "50 4 * * *", verify_mirrors_job, None)
