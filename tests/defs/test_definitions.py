"""The code location loads, every job, schedule and sensor resolves (the CLI's job names included), and the
nightly schedule asks for the right partition."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dataguard_pipelines import job_names
from dataguard_pipelines.definitions import defs

JOBS = {
    "back_up_postgres_job",
    "check_backups_job",
    "seal_changes_job",
    "check_capture_job",
    "drill_pitr_job",
    "restore_to_timestamp",
    "mirror_external_job",
    "verify_mirrors_job",
    "snapshot_billing_job",
    "check_billing_job",
    "back_up_critical_tables_job",
    "install_table_guards_job",
    "check_table_guards_job",
    "safe_migration",
    "check_audit_trail_job",
    "record_audit_trail_job",
}
SCHEDULES = {
    "back_up_postgres_nightly",
    "check_backups_hourly",
    "seal_changes_hourly",
    "check_capture_every_5_minutes",
    "drill_pitr_daily",
    "mirror_external_every_30_min",
    "mirror_external_daily_sweep",
    "mirror_external_weekly_reconcile",
    "verify_mirrors_daily",
    "snapshot_billing_monthly",
    "check_billing_daily",
    "back_up_critical_tables_every_6_hours",
    "check_table_guards_every_15_minutes",
    "check_audit_trail_hourly",
}


def test_definitions_load_and_every_job_resolves_in_one_process(definitions):
    dg.Definitions.validate_loadable(definitions)
    assert {job.name for job in definitions.jobs} == JOBS
    for name in JOBS:
        assert definitions.resolve_job_def(name).executor_def is dg.in_process_executor, name


def test_every_job_name_the_cli_and_demo_launch_resolves(definitions):
    constants = {value for key, value in vars(job_names).items() if key.endswith("_JOB")}
    assert constants == set(job_names.LAUNCHED_BY_NAME)
    for name in job_names.LAUNCHED_BY_NAME:
        assert definitions.resolve_job_def(name).name == name


def test_every_schedule_and_sensor_resolves_and_starts_running(definitions):
    schedules = [definitions.resolve_schedule_def(s.name) for s in definitions.schedules]
    assert {s.name for s in schedules} == SCHEDULES
    for schedule in schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING, schedule.name
        assert definitions.resolve_job_def(schedule.job_name) is not None
    sensors = [definitions.resolve_sensor_def(s.name) for s in definitions.sensors]
    assert [s.name for s in sensors] == ["company_partitions_sensor"]
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors)


def test_nightly_schedule_backs_up_the_day_it_runs_at_two_in_berlin(definitions):
    schedule = definitions.resolve_schedule_def("back_up_postgres_nightly")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = datetime(2026, 3, 29, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # a DST switch day
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-29"


def test_resources_take_set_variables_as_env_vars(monkeypatch):
    monkeypatch.setenv("DATAGUARD_DATABASE_URL", "postgresql://app:s3cret@db/app")
    with dg.instance_for_test():
        resources = defs().resources
    database = resources["database"]
    assert isinstance(database.url, dg.EnvVar) and database.url.env_var_name == "DATAGUARD_DATABASE_URL"
    assert "s3cret" not in repr(resources)
