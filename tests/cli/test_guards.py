"""dataguard guards install|status|grant|uninstall as an operator runs them, on a real PostgreSQL 15."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.cli.helpers import SECRET, assert_one_clear_sentence, run


@pytest.fixture
def guard_env(tmp_path: Path, pg15_server: str, new_database) -> dict[str, str]:
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE calls (id int PRIMARY KEY)")
    return {
        "DATAGUARD_HOME": str(tmp_path / "home"),
        "DATAGUARD_DATABASE_URL": url.replace("postgres@", f"postgres:{SECRET}@"),
        "DATAGUARD_CRITICAL_TABLES": "users,calls,staff",
    }


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_guards_install_status_grant_uninstall(guard_env: dict[str, str]) -> None:
    url = guard_env["DATAGUARD_DATABASE_URL"]
    missing = run(["guards", "status", "--json"], guard_env, check=1)
    assert json.loads(missing.stdout)["installed"] is False

    installed = run(["guards", "install"], guard_env)
    assert "2 tables protected" in installed.stdout and "staff does not exist" in installed.stderr
    assert SECRET not in installed.stdout + installed.stderr

    status = json.loads(run(["guards", "status", "--json"], guard_env).stdout)
    assert [(t["listed_as"], t["state"]) for t in status["tables"]] == [
        ("users", "protected"),
        ("calls", "protected"),
        ("staff", "missing"),
    ]
    assert status["healthy"] and status["warnings"]
    table = run(["guards", "status"], guard_env).stdout
    assert "users" in table and "protected" in table and "dataguard_guard_sql_drop" in table

    role = f"dgtest_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        granted = json.loads(run(["guards", "grant", role, "--json"], guard_env).stdout)
        assert role in granted["gate_members"]
        assert role in json.loads(run(["guards", "status", "--json"], guard_env).stdout)["gate_members"]
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER EVENT TRIGGER dataguard_guard_ddl_end DISABLE")
    broken = run(["guards", "status"], guard_env, check=1)
    assert "dataguard_guard_ddl_end is disabled" in broken.stderr

    run(["guards", "uninstall"], guard_env)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE users")  # no guard left
    assert json.loads(run(["guards", "status", "--json"], guard_env, check=1).stdout)["installed"] is False


def test_guards_grant_refuses_an_unknown_role_in_one_sentence(guard_env: dict[str, str]) -> None:
    run(["guards", "install", "--json"], guard_env)
    result = run(["guards", "grant", "nobody_here"], guard_env, check=2)
    assert_one_clear_sentence(result, "role 'nobody_here' does not exist", "CREATE ROLE")
