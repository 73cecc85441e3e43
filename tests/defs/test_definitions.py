"""The code location loads, every job resolves, and the nightly schedule asks for the right partition."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from dataguard_pipelines.definitions import defs


def test_definitions_load_and_every_job_resolves(definitions):
    dg.Definitions.validate_loadable(definitions)
    for name in ("back_up_postgres_job", "check_backups_job"):
        assert definitions.resolve_job_def(name) is not None
    assert {s.name for s in definitions.schedules} >= {"back_up_postgres_nightly", "check_backups_hourly"}


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
