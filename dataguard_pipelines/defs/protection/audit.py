"""The audit trail in Dagster: `audit_trail` (its length and head hash), the `audit_chain_intact` check on an
hourly schedule, and the actor of a run (its id and what launched it) for every audited operation.

The check sits on a small asset of its own: the trail is written by many assets and the CLI, so no other
asset owns it, and an asset of its own shows the chain's length and head over time in the UI."""

import dagster as dg

from dataguard_pipelines.core.audit import Actor, verify_chain
from dataguard_pipelines.defs.conventions import asset_job, checks_schedule
from dataguard_pipelines.job_names import CHECK_AUDIT_TRAIL_JOB
from dataguard_pipelines.resource_types import DatabaseResource, StoreResource

SHOWN = 20


def dagster_actor(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Actor:
    """This process's OS user and host, the run id, and who launched it: schedule, sensor, or a user."""
    tags = context.run.tags
    if tags.get("dagster/schedule_name"):
        launched_by = f"schedule:{tags['dagster/schedule_name']}"
    elif tags.get("dagster/sensor_name"):
        launched_by = f"sensor:{tags['dagster/sensor_name']}"
    elif tags.get("dagster/user"):
        launched_by = f"user:{tags['dagster/user']}"
    else:
        launched_by = "user"
    return Actor.current(dagster_run_id=context.run.run_id, launched_by=launched_by)


@dg.asset(
    group_name="protection",
    kinds={"postgres"},
    description="The audit trail (dataguard.audit_log, anchored write-once in the store): a materialization "
    "appends nothing, it records the chain's length and head hash.",
)
def audit_trail(database: DatabaseResource, store: StoreResource) -> dg.MaterializeResult:
    with database.open() as db:
        report = verify_chain(db, store.store())
    return dg.MaterializeResult(
        metadata={
            "entries": dg.MetadataValue.int(report.entries),
            "head_seq": report.head_seq or 0,
            "head_sha256": report.head_sha256 or "",
            "problems": dg.MetadataValue.int(len(report.problems)),
        }
    )


@dg.asset_check(
    asset=audit_trail,
    description="Every audit entry hashes to its sha256, names its predecessor's hash, has no seq gap and "
    "matches its write-once store anchor; no anchor lies beyond the table's end. ERROR on any difference.",
)
def audit_chain_intact(database: DatabaseResource, store: StoreResource) -> dg.AssetCheckResult:
    with database.open() as db:
        report = verify_chain(db, store.store())
    return dg.AssetCheckResult(
        passed=report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if report.ok else str(report.problems[0]),
        metadata={
            "entries": dg.MetadataValue.int(report.entries),
            "anchors": dg.MetadataValue.int(report.anchors),
            "head_seq": report.head_seq or 0,
            "head_sha256": report.head_sha256 or "",
            "problems": dg.MetadataValue.json([str(p) for p in report.problems[:SHOWN]]),
        },
    )


record_audit_trail_job = asset_job(
    "record_audit_trail_job",
    dg.AssetSelection.assets(audit_trail),
    description="Record the audit trail's length and head hash, and check the chain.",
)

check_audit_trail_job, check_audit_trail_hourly = checks_schedule(
    "check_audit_trail_hourly",
    dg.AssetSelection.checks(audit_chain_intact),
    "40 * * * *",
    "Europe/Berlin",
    job_name=CHECK_AUDIT_TRAIL_JOB,
    description="Is the audit trail intact? (reads dataguard.audit_log and the store's anchors)",
)
