"""backup, backup-status, verify through the CLI, on real servers."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.keys import Keyring
from tests.cli.helpers import SECRET, assert_one_clear_sentence, run
from tests.fixtures.postgres import drop_database


@pytest.mark.slow
def test_backup_verify_restore_cycle_through_the_cli(env, tmp_path, pg15_server):
    backup = run(["backup", "--type", "full", "--json"], env)
    meta = json.loads(backup.stdout)
    assert meta["checks"] == {"full_backup / backup_is_complete": True} and meta["tables"] >= 120

    status = json.loads(run(["backup-status", "--json"], env).stdout)[0]
    assert status["backup_id"] == meta["backup_id"] and status["verified"] is False

    verified = json.loads(run(["verify", "--deep", "--json"], env).stdout)
    assert verified["problems"] == [] and verified["drill"]["passed"] is True
    status = json.loads(run(["backup-status", "--json"], env).stdout)[0]
    assert status["verified"] is True and status["last_drill_rto_s"] > 0

    target = pg15_server.rsplit("/", 1)[0] + f"/cli_restore_target_{uuid.uuid4().hex[:8]}"
    try:
        restored = json.loads(run(["restore", "--target-url", target, "--json"], env).stdout)
        assert restored["rows"] == meta["dagster/row_count"]
    finally:
        drop_database(target)

    refused = run(["restore", "--target-url", env["DATAGUARD_DATABASE_URL"]], env, check=1)
    assert_one_clear_sentence(
        refused, "is the database this backup was taken from", "--force-overwrite-source"
    )

    outputs = backup.stdout + backup.stderr + refused.stdout + refused.stderr
    assert SECRET not in outputs
    for path in tmp_path.rglob("*"):  # store, manifests, drill records, the Dagster instance's SQLite files
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_damaged_or_unreadable_backups_fail_with_clear_errors(env, tmp_path):
    run(["backup", "--type", "full"], env)
    objects = sorted((tmp_path / "store").rglob("*.copy.dgar"), key=lambda p: p.stat().st_size)
    biggest = objects[-1]
    other_keyring = tmp_path / "other-keyring.json"
    data = json.loads(Path(env["DATAGUARD_KEYRING"]).read_text())
    fresh = json.loads(Keyring.create(tmp_path / "fresh.json") and (tmp_path / "fresh.json").read_text())
    data["keys"] = {data["active"]: next(iter(fresh["keys"].values()))}  # same key id, other key
    other_keyring.write_text(json.dumps(data))
    os.chmod(other_keyring, 0o600)
    wrong_key = run(["verify", "--deep"], {**env, "DATAGUARD_KEYRING": str(other_keyring)}, check=1)
    assert "wrong key" in wrong_key.stdout + wrong_key.stderr and "Traceback" not in wrong_key.stderr

    missing = run(["verify", "--deep"], {**env, "DATAGUARD_KEYRING": str(tmp_path / "nope.json")}, check=2)
    assert_one_clear_sentence(missing, "nope.json")

    with open(biggest, "r+b") as handle:
        handle.truncate(biggest.stat().st_size - 100)
    truncated = run(["verify"], env, check=1)
    assert "do not match their manifest" in truncated.stderr and "Traceback" not in truncated.stderr

    unknown = run(
        ["restore", "--target-url", "postgresql://postgres@127.0.0.1:5432/x", "--backup", "nope"],
        env,
        check=1,
    )
    assert_one_clear_sentence(unknown, "no backup 'nope'")


def test_backup_of_an_unreachable_server_exits_1_without_leaking_the_password(tmp_path, keyring_path):
    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": f"postgresql://postgres:{SECRET}@127.0.0.1:1/app",
    }
    result = run(["backup", "--type", "full"], env, check=1)
    assert_one_clear_sentence(result, "cannot connect to postgresql://postgres:***@127.0.0.1:1/app")
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_instance_stored_in_postgres_records_the_run(env, tmp_path, pg15_server):
    """The production dagster.yaml (storage on PostgreSQL via dagster-postgres) with a real materialization."""
    db_name = f"dgtest_dagster_instance_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name}")
        conn.execute(f"CREATE DATABASE {db_name}")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        (Path(__file__).parents[2] / "deploy" / "dagster.yaml").read_text()
    )
    instance_env = {
        **env,
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_DB": db_name,
        "DAGSTER_PG_PORT": "5432",
    }
    try:
        meta = json.loads(run(["backup", "--type", "full", "--json"], instance_env).stdout)
        with psycopg.connect(pg15_server.rsplit("/", 1)[0] + f"/{db_name}") as conn:
            status = conn.execute("SELECT status FROM runs WHERE run_id = %s", (meta["run_id"],)).fetchone()
            events = conn.execute(
                "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                "'ASSET_MATERIALIZATION'",
                (meta["run_id"],),
            ).fetchone()[0]
        assert status == ("SUCCESS",) and events == 1
        assert not (dagster_home / "history").exists()  # nothing went to SQLite
    finally:
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


@pytest.mark.slow
def test_demo_runs_the_protection_cycle_on_the_embedded_default(tmp_path):
    from dataguard_pipelines.core.engines.embedded import EmbeddedPostgres

    home = tmp_path / "home"
    result = run(["demo", "--no-ui", "--scale", "0.02"], {"DATAGUARD_HOME": str(home)})
    assert "seeded 136 tables" in result.stderr
    for check in ("backup_is_complete", "backup_is_fresh", "backup_is_restorable"):
        assert f"pass  full_backup / {check}" in result.stdout
    status = json.loads(run(["backup-status", "--json"], {"DATAGUARD_HOME": str(home)}).stdout)[0]
    assert status["verified"] is True and status["tables"] == 145
    assert (home / "dagster" / "dagster.yaml").exists()  # the demo's own SQLite instance
    assert EmbeddedPostgres(home / "postgres")._running_server() is None  # stopped cleanly


@pytest.mark.slow
def test_nightly_full_then_hourly_incremental_restores_to_a_time_without_capture_started(
    tmp_path, keyring_path, pg15_server, new_database
):
    """The original system's own sequence, as a new user runs it: no `dataguard capture` by hand."""
    from tests.cli.helpers import unique_slot
    from tests.fixtures.postgres import table_fingerprints

    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE bookings (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO bookings SELECT g, 'before' FROM generate_series(1, 50) g")
    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": source,
        "DATAGUARD_CAPTURE_SLOT": unique_slot(),
    }
    assert json.loads(run(["backup", "--type", "full", "--json"], env).stdout)["point_in_time"] == "available"
    assert "point-in-time: available" in run(["backup-status"], env).stdout
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE bookings SET note = 'after' WHERE id <= 10")
        conn.execute("INSERT INTO bookings VALUES (51, 'new')")
        reference = table_fingerprints(source)
        after_writes = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("DELETE FROM bookings")  # the accident, a moment later
    run(["backup", "--type", "incremental"], env)

    target = new_database(pg15_server)
    restored = run(["restore", "--target-url", target, "--to-time", after_writes.isoformat(), "--json"], env)
    # the two business transactions, and the audit trail's record of the backup (written after its cut)
    assert json.loads(restored.stdout)["transactions_replayed"] >= 3
    assert table_fingerprints(target) == reference
