"""How every job and schedule of the code location is built, declared once.

- One process per run: step subprocesses would each re-import Dagster (seconds) for work that is I/O bound
  anyway, and a backup with its in-step checks must not be split across processes.
- Schedules and sensors start RUNNING: a deployment protects the data without anyone switching them on.
- A cheap check runs on its own schedule through a checks-only job that shares the schedule's name stem.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

EXECUTOR = dg.in_process_executor
SCHEDULE_STATUS = dg.DefaultScheduleStatus.RUNNING
SENSOR_STATUS = dg.DefaultSensorStatus.RUNNING


def asset_job(
    name: str,
    selection: dg.AssetSelection,
    *,
    description: str,
    tags: Mapping[str, str] | None = None,
) -> dg.UnresolvedAssetJobDefinition:
    """An asset job that runs in one process."""
    return dg.define_asset_job(
        name, selection=selection, executor_def=EXECUTOR, tags=tags, description=description
    )


def checks_schedule(
    name: str,
    checks: dg.AssetSelection,
    cron: str,
    tz: str,
    *,
    job_name: str,
    description: str,
    schedule_description: str | None = None,
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """A job that runs only `checks`, and the RUNNING schedule `name` that launches it on `cron` in `tz`."""
    job = asset_job(job_name, checks, description=description)
    schedule = dg.ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=tz,
        default_status=SCHEDULE_STATUS,
        description=schedule_description,
    )
    return job, schedule
