"""audit verify|log through the CLI, and the entries the CLI's own operations leave."""

from __future__ import annotations

import getpass
import json

import psycopg
import pytest

from tests.cli.helpers import SECRET, assert_one_clear_sentence, run, unique_slot


@pytest.fixture
def small_env(tmp_path, keyring_path, pg15_server, new_database) -> dict[str, str]:
    """A deployment protecting a small database of its own (the shared demo database stays untouched)."""
    source = new_database(pg15_server)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE bookings (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO bookings SELECT g, 'x' FROM generate_series(1, 20) g")
    return {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": source.replace("postgres@", f"postgres:{SECRET}@"),
        "DATAGUARD_CAPTURE_SLOT": unique_slot(),
    }


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_a_cli_backup_and_a_refused_restore_are_in_the_verified_trail(small_env, tmp_path):
    run(["backup", "--type", "full"], small_env)
    refused = run(["restore", "--target-url", small_env["DATAGUARD_DATABASE_URL"]], small_env, check=1)
    assert_one_clear_sentence(refused, "--force-overwrite-source")

    entries = json.loads(run(["audit", "log", "--json"], small_env).stdout)
    assert [e["operation"] for e in entries] == ["backup.full", "restore"]
    backup, restore = entries
    assert backup["outcome"] == "ok" and backup["os_user"] == getpass.getuser()
    assert backup["dagster_run_id"] and backup["launched_by"] == "user" and backup["db_role"] == "postgres"
    assert backup["parameters"]["backup_id"] and restore["outcome"].startswith("failed: RestoreError")
    assert (
        json.loads(run(["audit", "log", "--operation", "backup", "--json"], small_env).stdout)[0]["seq"] == 1
    )
    table = run(["audit", "log"], small_env).stdout
    assert "backup.full" in table and "restore" in table
    everything = json.loads(run(["audit", "log", "--since", "2000-01-01", "--json"], small_env).stdout)
    assert [e["seq"] for e in everything] == [1, 2]
    in_berlin = {**small_env, "DATAGUARD_TIMEZONE": "Europe/Berlin"}
    assert (
        json.loads(run(["audit", "log", "--since", "2999-01-01 00:00:00", "--json"], in_berlin).stdout) == []
    )

    verified = json.loads(run(["audit", "verify", "--json"], small_env).stdout)
    assert verified["ok"] and verified["entries"] == 2 and verified["anchors"] == 2

    with psycopg.connect(small_env["DATAGUARD_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE dataguard.audit_log SET outcome = 'ok' WHERE seq = 2")
    broken = run(["audit", "verify"], small_env, check=1)
    assert "entry 2: its fields do not hash" in broken.stderr.replace("\n", " ")
    assert_one_clear_sentence(broken, "the audit trail is not intact")
    for path in tmp_path.rglob("*"):
        if path.is_file() and "audit" in str(path):
            assert SECRET.encode() not in path.read_bytes(), path


def test_keys_init_without_a_database_says_it_was_not_recorded(tmp_path):
    env = {"DATAGUARD_HOME": str(tmp_path / "home"), "DATAGUARD_KEYRING": str(tmp_path / "k.json")}
    result = run(["keys", "init"], env)
    assert "not recorded in the audit trail" in result.stderr
