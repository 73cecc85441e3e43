"""migrate-safe: the mission's accident (119 tables dropped) stopped on a scratch copy; safe ones applied.

One copy of the demo database and one drilled backup serve the module: the first gate run takes and drills
the backup, the later ones reuse it (--max-backup-age), as an operator running several migrations would."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dataguard_pipelines.core.keys import Keyring
from tests.cli.helpers import SECRET, assert_one_clear_sentence, run, unique_slot
from tests.fixtures.postgres import drop_database, table_fingerprints

# A Laravel-style migration: connects the way a PHP app does, from DB_* only (psycopg, not libpq's PG*).
LARAVEL_STYLE = textwrap.dedent(
    """
    import os, sys, psycopg
    conn = psycopg.connect(host=os.environ["DB_HOST"], port=os.environ["DB_PORT"],
        dbname=os.environ["DB_DATABASE"], user=os.environ["DB_USERNAME"],
        password=os.environ["DB_PASSWORD"], autocommit=True)
    assert os.environ["DB_CONNECTION"] == "pgsql"
    print("Migrating:", sys.argv[1], "on", os.environ["DB_DATABASE"], flush=True)
    conn.execute(open(sys.argv[1]).read())
    if len(sys.argv) > 2 and not os.environ["DB_DATABASE"].startswith("dataguard_migrate_"):
        conn.execute(open(sys.argv[2]).read())
        sys.exit("SQLSTATE[42P01]: the second half failed on the real database")
    print("Migrated:", sys.argv[1])
    """
)
# sh + psql, the way a deploy script often does it: only DB_* variables
SH_PSQL = (
    'PGPASSWORD="$DB_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 '
    '-h "$DB_HOST" -p "$DB_PORT" -U "$DB_USERNAME" -d "$DB_DATABASE" -f {sql}'
)


@pytest.fixture(scope="module")
def deployment(demo_pg15: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A copy of the demo database (with a password in its URL) and an isolated deployment protecting it."""
    home = tmp_path_factory.mktemp("migrate")
    name = f"dgtest_migrate_{uuid.uuid4().hex[:8]}"
    server = demo_pg15.rsplit("/", 1)[0]
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{demo_pg15.rsplit("/", 1)[1]}"')
    url = f"{server}/{name}"
    Keyring.create(home / "keyring.json")
    env = {
        "DATAGUARD_HOME": str(home / "home"),
        "DATAGUARD_STORE_URL": (home / "store").as_uri(),
        "DATAGUARD_KEYRING": str(home / "keyring.json"),
        "DATAGUARD_DATABASE_URL": url.replace("postgres@", f"postgres:{SECRET}@"),
        "DATAGUARD_CAPTURE_SLOT": unique_slot(),
    }
    yield {"env": env, "url": url, "dir": home}
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (env["DATAGUARD_CAPTURE_SLOT"],))
    drop_database(url)


def _sql_file(directory: Path, sql: str) -> str:
    path = directory / f"migration_{uuid.uuid4().hex[:6]}.sql"
    path.write_text(sql)
    return str(path)


def _public_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]


def _databases_like(url: str, prefix: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        ]


def _app_tables(url: str) -> dict[str, tuple[int, str]]:
    """Every table's fingerprint but dataguard's own (the gate writes its audit entry there)."""
    return {
        name: print_ for name, print_ in table_fingerprints(url).items() if not name.startswith("dataguard.")
    }


def _last_audit_entry(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT operation, outcome, parameters->>'command' FROM dataguard.audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()


def _gate(deployment, *args: str, check: int) -> dict:
    result = run(["migrate-safe", "--json", *args], deployment["env"], check=check)
    assert SECRET not in result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_migrate_safe_stops_a_migration_that_drops_119_tables(deployment):
    """The mission's accident: on the scratch copy it drops 119 tables; the real database never sees it."""
    url = deployment["url"]
    doomed = _public_tables(url)[:119]
    assert len(doomed) == 119
    sql = _sql_file(
        deployment["dir"], "".join(f'DROP TABLE IF EXISTS public."{t}" CASCADE;\n' for t in doomed)
    )
    reference = _app_tables(url)
    report = _gate(deployment, "--command", SH_PSQL.format(sql=sql), check=1)
    assert report["outcome"] == "stopped" and report["exit_code"] == 1
    dropped = {c["table"] for c in report["blocking"] if c["kind"] == "table dropped"}
    assert dropped == {f"public.{t}" for t in doomed}
    customers = next(c for c in report["blocking"] if c["table"] == "public.customers")
    assert customers["rows"] == reference["public.customers"][0] and customers["rows_exact"]
    assert report["backup_reused"] is False and report["scratch_run"]["exit_code"] == 0
    assert report["real_run"] is None and report["undo_command"] is None
    assert _app_tables(url) == reference  # nothing changed on the real database
    assert _databases_like(url, report["scratch_database"]) == []  # the scratch copy is gone
    operation, outcome, command = _last_audit_entry(url)
    assert (operation, outcome) == ("migration", "stopped") and command.endswith(sql)


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_migrate_safe_applies_a_harmless_laravel_style_migration_and_verifies_it(deployment):
    """ADD COLUMN, CREATE INDEX, an UPDATE and Laravel's own bookkeeping row, given after `--`."""
    url = deployment["url"]
    sql = _sql_file(
        deployment["dir"],
        "ALTER TABLE customers ADD COLUMN loyalty_tier varchar(20);"
        "CREATE INDEX customers_loyalty_idx ON customers (loyalty_tier);"
        "UPDATE customers SET loyalty_tier = 'bronze';"
        "INSERT INTO migrations (id, migration, batch)"
        " SELECT max(id) + 1, '2026_06_17_add_loyalty', 99 FROM migrations;",
    )
    script = deployment["dir"] / "artisan_migrate.py"
    script.write_text(LARAVEL_STYLE)
    result = run(["migrate-safe", "--", sys.executable, str(script), sql], deployment["env"])
    assert "applied" in result.stdout and "column added" in result.stdout and "loyalty_tier" in result.stdout
    assert "Migrated:" in result.stderr  # the command's output streams to the operator
    with psycopg.connect(url) as conn:
        tiers = conn.execute("SELECT DISTINCT loyalty_tier FROM customers").fetchall()
        index = conn.execute("SELECT to_regclass('customers_loyalty_idx')").fetchone()[0]
    assert tiers == [("bronze",)] and index is not None


@pytest.mark.slow  # seconds each: make test runs it, make test-fast does not
def test_migrate_safe_dry_run_changes_nothing(deployment):
    url = deployment["url"]
    sql = _sql_file(
        deployment["dir"],
        "ALTER TABLE customers ADD COLUMN dry_run_only int;"
        " DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions LIMIT 5);",
    )
    reference = _app_tables(url)
    report = _gate(deployment, "--dry-run", "--command", SH_PSQL.format(sql=sql), check=0)
    assert report["outcome"] == "dry-run clean"
    kinds = {(c["kind"], c["table"]) for c in report["changes"]}
    assert ("column added", "public.customers") in kinds and ("row count changed", "public.sessions") in kinds
    assert report["real_run"] is None
    assert _app_tables(url) == reference


@pytest.mark.slow  # over 5 s: make test runs it, make test-fast does not
def test_migrate_safe_allow_drop_lets_exactly_the_named_table_go(deployment):
    url = deployment["url"]
    first, second = "password_reset_tokens", "failed_jobs"
    both = _sql_file(deployment["dir"], f'DROP TABLE "{first}" CASCADE; DROP TABLE "{second}" CASCADE;')
    stopped = _gate(deployment, "--allow-drop", first, "--command", SH_PSQL.format(sql=both), check=1)
    assert [c["table"] for c in stopped["blocking"]] == [f"public.{second}"]
    assert {c["table"]: c["allowed"] for c in stopped["changes"] if c["destructive"]} == {
        f"public.{first}": True,
        f"public.{second}": False,
    }
    assert {first, second} <= set(_public_tables(url))
    one = _sql_file(deployment["dir"], f'DROP TABLE "{first}" CASCADE;')
    applied = _gate(deployment, "--allow-drop", first, "--command", SH_PSQL.format(sql=one), check=0)
    assert applied["outcome"] == "applied" and applied["mismatches"] == []
    assert applied["backup_reused"] is True  # the backup the first run drilled, within --max-backup-age
    assert [c["kind"] for c in applied["real_changes"] if c["destructive"]] == ["table dropped"]
    tables = set(_public_tables(url))
    assert first not in tables and second in tables


@pytest.mark.slow
def test_migrate_safe_prints_the_restore_that_undoes_a_failed_real_run(deployment):
    """It passes on the scratch copy, fails halfway on the real database; the printed restore undoes it."""
    url = deployment["url"]
    first = _sql_file(deployment["dir"], "CREATE TABLE half_done (id int); INSERT INTO half_done VALUES (1);")
    second = _sql_file(
        deployment["dir"], "UPDATE customers SET email = 'broken'; SELECT * FROM no_such_table;"
    )
    script = deployment["dir"] / "artisan_migrate.py"
    script.write_text(LARAVEL_STYLE)
    before = _app_tables(url)
    result = run(
        ["migrate-safe", "--", sys.executable, str(script), first, second], deployment["env"], check=1
    )
    assert "failed on the real database" in result.stdout
    undo = next(line for line in result.stdout.splitlines() if "dataguard restore" in line)
    assert "--to-time" in undo and "***" in undo and SECRET not in result.stdout + result.stderr
    with psycopg.connect(url) as conn:  # left as the command left it
        assert conn.execute("SELECT count(*) FROM half_done").fetchone()[0] == 1
    to_time = undo.split('--to-time "', 1)[1].split('"', 1)[0]
    target = url.rsplit("/", 1)[0] + f"/dgtest_migrate_undo_{uuid.uuid4().hex[:8]}"
    try:
        run(["restore", "--target-url", target, "--to-time", to_time], deployment["env"])
        assert _app_tables(target) == before
    finally:
        drop_database(target)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--command", "true", "--", "true"], "exactly once"),
        ([], "exactly once"),
        (["--dry-rn", "--", "true"], "unknown option '--dry-rn'"),
        (["--max-backup-age", "soon", "--command", "true"], "'soon' is not a duration"),
    ],
)
def test_migrate_safe_refuses_bad_usage_with_exit_2(args, fragment, tmp_path):
    result = run(["migrate-safe", *args], {"DATAGUARD_HOME": str(tmp_path)}, check=2)
    assert_one_clear_sentence(result, fragment)
