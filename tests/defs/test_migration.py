"""safe_migration: the gate as a Dagster job, refused unless UI-launched migrations are switched on."""

from __future__ import annotations

import uuid

import dagster as dg
import psycopg
import pytest

from dataguard_pipelines.defs.protection.migration import safe_migration
from dataguard_pipelines.resource_types import (
    BackupSettingsResource,
    DatabaseResource,
    KeyringResource,
    StoreResource,
)


def _execute(database_url: str, tmp_path, keyring_path, **config) -> dg.ExecuteInProcessResult:
    resources = {
        "database": DatabaseResource(url=database_url, home=str(tmp_path / "home")),
        "store": StoreResource(url=(tmp_path / "store").as_uri()),
        "keyring": KeyringResource(path=str(keyring_path)),
        "backup_settings": BackupSettingsResource(capture_slot=f"dgtest_{uuid.uuid4().hex[:8]}"),
    }
    with dg.instance_for_test() as instance:
        return safe_migration.execute_in_process(
            run_config={"ops": {"run_safe_migration_op": {"config": config}}},
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = event.event_specific_data.error
    return error.message + (error.cause.message if error.cause else "")


def test_safe_migration_job_is_refused_unless_ui_migrations_are_on(tmp_path, keyring_path, monkeypatch):
    monkeypatch.setenv("DATAGUARD_HOME", str(tmp_path / "home"))
    result = _execute("postgresql://nobody@127.0.0.1:1/none", tmp_path, keyring_path, command_line="true")
    assert not result.success and "DATAGUARD_MIGRATIONS_FROM_UI=1" in _failure(result)
    monkeypatch.setenv("DATAGUARD_MIGRATIONS_FROM_UI", "maybe")  # a variable that is set works or is refused
    result = _execute("postgresql://nobody@127.0.0.1:1/none", tmp_path, keyring_path, command_line="true")
    assert "neither on nor off" in _failure(result)


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_safe_migration_job_runs_the_gate_and_reports_markdown(
    pg15_server, new_database, tmp_path, keyring_path, monkeypatch
):
    monkeypatch.setenv("DATAGUARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAGUARD_MIGRATIONS_FROM_UI", "1")
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id int, note text); INSERT INTO calls SELECT generate_series(1, 40), 'x'"
        )
    sql = "ALTER TABLE calls ADD COLUMN duration_s int; DROP TABLE calls"
    stopped = _execute(
        url, tmp_path, keyring_path, command=["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql]
    )
    assert not stopped.success and "destructive on the scratch copy" in _failure(stopped)
    applied = _execute(
        url,
        tmp_path,
        keyring_path,
        command_line='psql -X -v ON_ERROR_STOP=1 -c "ALTER TABLE calls ADD COLUMN duration_s int"',
    )
    assert applied.success
    [output] = [e for e in applied.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = {k: getattr(v, "value", v) for k, v in output.event_specific_data.metadata.items()}
    assert meta["outcome"] == "applied" and meta["blocking_changes"] == 0
    assert "| column added | `public.calls` | duration_s | integer |" in meta["report"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(duration_s), count(*) FROM calls").fetchone() == (0, 40)
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()"
        )
