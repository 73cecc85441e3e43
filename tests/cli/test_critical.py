"""backup --type critical and restore --tables … --into-schema …, as an operator runs them."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.cli.helpers import SECRET, assert_one_clear_sentence, run, unique_slot


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_critical_backup_then_tables_restore_into_a_new_schema_of_the_live_database(
    pg15_server, new_database, tmp_path, keyring_path
):
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE calls (id int PRIMARY KEY, note text);"
            " INSERT INTO calls SELECT g, 'n' || g FROM generate_series(1, 300) g"
        )
        conn.execute(
            "CREATE TABLE appointments (id int PRIMARY KEY); INSERT INTO appointments SELECT generate_series(1, 40)"
        )
    with_password = url.replace("postgres@", f"postgres:{SECRET}@")
    env = {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_STORE_URL": (tmp_path / "store").as_uri(),
        "DATAGUARD_KEYRING": str(keyring_path),
        "DATAGUARD_DATABASE_URL": with_password,
        "DATAGUARD_CAPTURE_SLOT": unique_slot(),
        "DATAGUARD_CRITICAL_TABLES": "calls,appointments,branches",
    }
    backup = json.loads(run(["backup", "--type", "critical", "--json"], env).stdout)
    assert backup["tables"] == ["public.calls", "public.appointments"] and backup["missing_tables"] == [
        "branches"
    ]
    assert backup["checks"] == {"critical_tables_backup / critical_tables_intact": True}
    status = json.loads(run(["backup-status", "--json"], env).stdout)
    assert any(s["backup_type"] == "critical" and s["rows"] == 340 for s in status)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM calls WHERE id > 10")
    args = [
        "restore",
        "--tables",
        "calls,appointments",
        "--into-schema",
        "recovered_0617",
        "--target-url",
        with_password,
    ]
    result = run(args, env)
    assert "recovered_0617.calls" in result.stdout and SECRET not in result.stdout + result.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM recovered_0617.calls").fetchone()[0] == 300
        assert conn.execute("SELECT count(*) FROM public.calls").fetchone()[0] == 10

    again = run(args, env, check=1)
    assert_one_clear_sentence(again, "already has", "never overwritten")
    full_only = run(["restore", "--backup", backup["backup_id"], "--target-url", url + "_x"], env, check=2)
    assert_one_clear_sentence(full_only, "--into-schema")
