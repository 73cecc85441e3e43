"""table_guards and guards_installed through Dagster, on a real PostgreSQL 15: the check passes after the
asset installed the guards and fails, naming what is missing, once a superuser drops an event trigger."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg

from dataguard_pipelines.core.audit import read_log, verify_chain
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.store import Store
from dataguard_pipelines.defs.protection.guards import guards_installed, table_guards
from dataguard_pipelines.resource_types import BackupSettingsResource, DatabaseResource, StoreResource


def _resources(url: str, tmp_path: Path) -> dict:
    return {
        "database": DatabaseResource(url=url, home=str(tmp_path / "home")),
        "backup_settings": BackupSettingsResource(critical_tables=["users", "calls"]),
        "store": StoreResource(url=(tmp_path / "store").as_uri()),
    }


def test_table_guards_install_then_the_check_fails_when_an_event_trigger_is_dropped(
    pg15_server, new_database, tmp_path
) -> None:
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
    resources = _resources(url, tmp_path)
    with dg.instance_for_test() as instance:
        result = dg.materialize([table_guards, guards_installed], instance=instance, resources=resources)
        assert result.success
        [materialization] = result.asset_materializations_for_node("table_guards")
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        assert meta["protected_tables"] == ["users"] and meta["missing_tables"] == ["calls"]
        assert meta["version"] == 1 and meta["gate_role"] == "dataguard_gate"
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP EVENT TRIGGER dataguard_guard_sql_drop")
        checked = dg.materialize(
            [table_guards, guards_installed],
            selection=dg.AssetSelection.checks(guards_installed),
            instance=instance,
            resources=resources,
        )
    [failed] = checked.get_asset_check_evaluations()
    assert not failed.passed
    assert "event trigger dataguard_guard_sql_drop is missing" in failed.description


def test_guards_installed_records_a_tampering_once_per_distinct_set_of_problems(
    pg15_server, new_database, tmp_path
) -> None:
    """A superuser drops an event trigger: two evaluations, one guards.tampered entry naming it; after a
    reinstall (audited as guards.install) the same tampering again is a new entry."""
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
    resources = _resources(url, tmp_path)
    db = PostgresDatabase(url)

    def evaluate(instance) -> dg.AssetCheckEvaluation:
        checked = dg.materialize(
            [table_guards, guards_installed],
            selection=dg.AssetSelection.checks(guards_installed),
            instance=instance,
            resources=resources,
        )
        [evaluation] = checked.get_asset_check_evaluations()
        return evaluation

    def tamper() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP EVENT TRIGGER dataguard_guard_sql_drop")

    with dg.instance_for_test() as instance:
        assert dg.materialize([table_guards], instance=instance, resources=resources).success
        assert evaluate(instance).passed and read_log(db, operation="guards.tampered") == []
        tamper()
        first, second = evaluate(instance), evaluate(instance)
        assert not first.passed and not second.passed
        [entry] = read_log(db, operation="guards.tampered")
        assert any(
            "event trigger dataguard_guard_sql_drop is missing" in p for p in entry.parameters["problems"]
        )
        assert entry.outcome == "detected" and entry.actor.dagster_run_id
        assert first.metadata["audit_seq"].value == entry.seq and second.metadata["audit_seq"].value == 0

        assert dg.materialize([table_guards], instance=instance, resources=resources).success
        tamper()
        assert not evaluate(instance).passed
    operations = [e.operation for e in read_log(db, operation="guards")]
    assert operations == ["guards.install", "guards.tampered", "guards.install", "guards.tampered"]
    assert verify_chain(db, Store((tmp_path / "store").as_uri())).ok  # every entry anchored in the store
