"""audit_trail and audit_chain_intact through Dagster, and the actor a run records."""

from __future__ import annotations

import dagster as dg
import psycopg

from dataguard_pipelines.core.audit import read_log, record
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.defs.protection.audit import audit_chain_intact, audit_trail
from dataguard_pipelines.resource_types import DatabaseResource, StoreResource


def test_audit_chain_intact_passes_then_fails_after_tampering(
    pg15_server, new_database, local_store, tmp_path
):
    db = PostgresDatabase(new_database(pg15_server))
    for i in range(2):
        record(db, operation="backup.full", parameters={"i": i}, outcome="ok", store=local_store)
    resources = {
        "database": DatabaseResource(url=db.url, home=str(tmp_path / "home")),
        "store": StoreResource(url=local_store.url),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([audit_trail, audit_chain_intact], instance=instance, resources=resources)
        assert result.success
        [materialization] = result.asset_materializations_for_node("audit_trail")
        assert materialization.metadata["entries"].value == 2
        [check] = result.get_asset_check_evaluations()
        assert check.passed and check.severity == dg.AssetCheckSeverity.ERROR

        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("DELETE FROM dataguard.audit_log WHERE seq = 1")
        result = dg.materialize(
            [audit_trail, audit_chain_intact],
            instance=instance,
            resources=resources,
            selection=dg.AssetSelection.checks(audit_chain_intact),
        )
        [check] = result.get_asset_check_evaluations()
        assert not check.passed
        assert any("entry 1: deleted from the table" in p for p in check.metadata["problems"].value)
    assert [e.operation for e in read_log(db)] == ["backup.full"]  # the check appends nothing


def test_the_hourly_checks_schedule_is_defined(definitions):
    schedule = definitions.resolve_schedule_def("check_audit_trail_hourly")
    assert schedule.job_name == "check_audit_trail_job" and schedule.cron_schedule == "40 * * * *"
