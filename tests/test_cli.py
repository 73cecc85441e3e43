"""The `dataguard` command as an operator runs it: real subprocesses, real servers, exit codes of the contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.keys import Keyring
from tests.fixtures.environment import subprocess_env
from tests.fixtures.postgres import drop_database

SECRET = "Sup3r-Secret-Pw"
DATAGUARD = str(Path(sys.executable).parent / "dataguard")


def run(args: list[str], env: dict[str, str], check: int | None = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [DATAGUARD, *args], env=subprocess_env(env), capture_output=True, text=True, timeout=600
    )
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def assert_one_clear_sentence(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error:")
    for fragment in fragments:
        assert fragment in result.stderr.replace("\n", " ")


@pytest.fixture
def env(tmp_path: Path, keyring_path: Path, demo_pg15: str) -> dict[str, str]:
    """A deployment protecting a copy of the demo database, addressed with a password in its URL."""
    source = demo_pg15.replace("postgres@", f"postgres:{SECRET}@")
    return {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": source,
    }


def test_cli_import_stays_light():
    code = "import sys, dataguard_pipelines.cli; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_help_explains_every_command():
    result = run(["--help"], {})
    for command in ("backup", "backup-status", "verify", "restore", "capture", "demo"):
        assert command in result.stdout


def test_backup_status_on_an_empty_store(tmp_path):
    result = run(["backup-status", "--json"], {"DATAGUARD_HOME": str(tmp_path)})
    [full] = json.loads(result.stdout)
    assert full["backup_type"] == "full" and full["backup_id"] is None and full["verified"] is False


def test_bad_configuration_exits_2_with_one_sentence(tmp_path):
    result = run(
        ["backup-status"], {"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_ZSTD_LEVEL": "fast"}, check=2
    )
    assert_one_clear_sentence(result, "DATAGUARD_ZSTD_LEVEL='fast' is not a whole number")
    result = run(
        ["backup-status"], {"DATAGUARD_HOME": str(tmp_path), "DATAGUARD_STORE_URL": "ftp://x"}, check=2
    )
    assert_one_clear_sentence(result, "unsupported scheme")
    result = run(["backup", "--type", "critical"], {"DATAGUARD_HOME": str(tmp_path)}, check=2)
    assert_one_clear_sentence(result, "not available in this version")


@pytest.mark.slow
def test_backup_verify_restore_cycle_through_the_cli(env, tmp_path, pg15_server, demo_pg15):
    backup = run(["backup", "--type", "full", "--json"], env)
    meta = json.loads(backup.stdout)
    assert meta["checks"] == {"full_backup / backup_is_complete": True} and meta["tables"] >= 120

    status = json.loads(run(["backup-status", "--json"], env).stdout)[0]
    assert status["backup_id"] == meta["backup_id"] and status["verified"] is False

    verified = json.loads(run(["verify", "--deep", "--json"], env).stdout)
    assert verified["problems"] == [] and verified["drill"]["passed"] is True
    status = json.loads(run(["backup-status", "--json"], env).stdout)[0]
    assert status["verified"] is True and status["last_drill_rto_s"] > 0

    target = pg15_server.rsplit("/", 1)[0] + "/cli_restore_target"
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


def test_restore_to_a_non_postgres_url_is_a_usage_error(tmp_path):
    result = run(["restore", "--target-url", "mysql://x/y"], {"DATAGUARD_HOME": str(tmp_path)}, check=2)
    assert_one_clear_sentence(result, "is not a postgresql:// URL")


def test_instance_stored_in_postgres_records_the_run(env, tmp_path, pg15_server):
    """The production dagster.yaml (storage on PostgreSQL via dagster-postgres) with a real materialization."""
    db_name = "dgtest_dagster_instance"
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name}")
        conn.execute(f"CREATE DATABASE {db_name}")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
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
def test_credentials_and_sync_external_with_verify(
    tmp_path, keyring_path, demo_pg15, pg15_server, new_database
):
    from dataguard_pipelines.sandbox.emulators import EmulatorState, demo_api_keys, running_emulators

    calcom_key, retell_key = demo_api_keys(85)
    state = EmulatorState.from_database(demo_pg15)
    with running_emulators(state, calcom_rate_limit=0) as (calcom, retell):
        env = {
            "DATAGUARD_HOME": str(tmp_path / "home"),
            "DATAGUARD_KEYRING": str(keyring_path),
            "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
            "DATAGUARD_DATABASE_URL": new_database(pg15_server),
            "DATAGUARD_CALCOM_BASE_URL": calcom.base_url,
            "DATAGUARD_RETELL_BASE_URL": retell.base_url,
            "DATAGUARD_API_REQUESTS_PER_MINUTE": "0",
        }
        stored = subprocess.run(
            [
                DATAGUARD,
                "credentials",
                "set",
                "--company",
                "85",
                "--calcom-key",
                calcom_key,
                "--retell-key",
                "-",
            ],
            input=retell_key + "\n",
            env=subprocess_env(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stored.returncode == 0, stored.stderr
        assert calcom_key[-4:] in stored.stdout and calcom_key not in stored.stdout

        synced = run(["sync-external", "--company", "85", "--verify", "--json"], env)
        document = json.loads(synced.stdout)
        assert [r["success"] for r in document["runs"]] == [True]
        assert {r["resource"]: r["ok"] for r in document["verification"]} == {
            "calcom_event_types": True,
            "calcom_bookings": True,
            "retell_calls": True,
        }

        state.hard_delete_booking(state.bookings(85)[0]["id"])
        drifted = run(["sync-external", "--company", "85", "--source", "calcom", "--verify"], env, check=1)
        assert "calcom_bookings: 0 missing, 1 extra" in drifted.stderr.replace("\n", " ")
        unknown = run(["sync-external", "--company", "999"], env, check=2)
        assert_one_clear_sentence(unknown, "no API keys stored for company 999")

    outputs = stored.stdout + stored.stderr + synced.stdout + synced.stderr + drifted.stdout + drifted.stderr
    for key in (calcom_key, retell_key):
        assert key not in outputs
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_billing_snapshot_finalize_verify_through_the_cli(env, tmp_path):
    snap = json.loads(
        run(["billing", "snapshot", "--company", "85", "--month", "2026-10", "--json"], env).stdout
    )
    assert [r["success"] for r in snap] == [True] and snap[0]["state"] == "draft"
    run(["billing", "finalize", "--company", "85", "--month", "2026-10"], env)
    [row] = json.loads(run(["billing", "verify", "--month", "2026-10", "--json"], env).stdout)
    assert (row["state"], row["ok"]) == ("finalized", True) and row["gross_cents"] > 0

    again = run(["billing", "snapshot", "--company", "85", "--month", "2026-10"], env, check=1)
    assert_one_clear_sentence(again, "is finalized", "amendments")
    bad_month = run(["billing", "snapshot", "--company", "85", "--month", "10/2026"], env, check=2)
    assert_one_clear_sentence(bad_month, "is not YYYY-MM")
    unknown = run(["billing", "snapshot", "--company", "999", "--month", "2026-10"], env, check=2)
    assert_one_clear_sentence(unknown, "unknown company 999")

    [line_items] = list((tmp_path / "store").rglob("final/line_items.parquet.dgar"))
    line_items.chmod(0o644)
    line_items.write_bytes(line_items.read_bytes()[:-10] + b"0123456789")
    tampered = run(["billing", "verify"], env, check=1)
    assert "does not hash as recorded" in tampered.stderr and "Traceback" not in tampered.stderr


def _server_clock(url: str):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


@pytest.fixture
def demo_copy(demo_pg15: str) -> Iterator[str]:
    """A writable copy of the demo database (CREATE DATABASE … TEMPLATE)."""
    name = f"dgtest_drill_{os.getpid()}"
    maintenance = demo_pg15.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{demo_pg15.rsplit("/", 1)[1]}"')
    url = demo_pg15.rsplit("/", 1)[0] + f"/{name}"
    yield url
    drop_database(url)


def test_disaster_drill_restores_the_second_before_a_destructive_migration(demo_copy, tmp_path, keyring_path):
    """The mission's accident: a migration drops most tables and truncates the rest; --to-time undoes it."""
    import time

    from tests.fixtures.postgres import table_fingerprints

    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": demo_copy,
    }
    assert "new slot" in run(["capture", "--once"], env).stdout
    run(["backup", "--type", "full"], env)
    with psycopg.connect(demo_copy) as conn:  # the business goes on after the nightly backup
        conn.execute("UPDATE customers SET email = 'moved+' || id || '@example.com' WHERE id % 7 = 0")
        conn.execute("DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions LIMIT 5)")
        conn.execute(
            'INSERT INTO settings ("group", name, payload) VALUES (%s, %s, %s)', ("ops", "after_backup", "1")
        )
        conn.execute("ALTER TABLE customers ADD COLUMN loyalty_tier text DEFAULT 'bronze'")
        conn.execute(
            "UPDATE call_events_raw SET payload = payload WHERE ctid IN (SELECT ctid FROM call_events_raw LIMIT 3)"
        )
    reference = table_fingerprints(demo_copy)
    last_good = _server_clock(demo_copy).replace(microsecond=0)
    time.sleep(1.2)  # the migration starts in a later second than the last good commit
    with psycopg.connect(demo_copy) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]
        for table in tables[: len(tables) * 3 // 4]:
            conn.execute(f'DROP TABLE IF EXISTS public."{table}" CASCADE')
        remaining = [
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        conn.execute("TRUNCATE " + ", ".join(f'public."{t}"' for t in remaining) + " CASCADE")
    assert len(table_fingerprints(demo_copy)) < len(reference) / 2
    run(["backup", "--type", "incremental"], env)

    target = demo_copy.rsplit("/", 1)[0] + f"/dgtest_drill_target_{os.getpid()}"
    try:
        result = run(
            ["restore", "--target-url", target, "--to-time", f"{last_good:%Y-%m-%d %H:%M:%S%z}", "--json"],
            env,
        )
        report = json.loads(result.stdout)
        assert (
            report["transactions_replayed"] == 1
            and report["ddl_replayed"] == 1
            and report["changes_replayed"] > 5
        )
        assert table_fingerprints(target) == reference
        future = run(
            ["restore", "--target-url", target + "x", "--to-time", "2999-01-01 00:00:00"], env, check=2
        )
        assert_one_clear_sentence(future, "in the future")
        status = run(["capture", "--status", "--json"], env)
        assert json.loads(status.stdout)["gaps"] == []
        assert "change segments" in run(["verify"], env).stdout
        [segment] = sorted((tmp_path / "store" / "changes" / "dataguard" / "segments").glob("*.jsonl.dgar"))[
            -1:
        ]
        data = bytearray(segment.read_bytes())
        data[len(data) // 2] ^= 0x01
        segment.write_bytes(bytes(data))
        tampered = run(["verify"], env, check=1)
        assert "differs from the segment index" in tampered.stderr
    finally:
        drop_database(target)
