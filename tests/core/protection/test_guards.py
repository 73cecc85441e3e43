"""Table guards on real servers: every blocked statement as the application role and as a superuser, the
gate, renamed tables, harmless DDL, tampering that only detection can catch, and a clean uninstall."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from dataguard_pipelines.core.capture.slot import prepare_capture
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.protection.guards import (
    EVENT_TRIGGERS,
    GATE_ROLE,
    GATE_SETTING,
    GUARD_VERSION,
    MISSING,
    PROTECTED,
    gate_environment,
    grant_gate,
    guard_status,
    install_guards,
    uninstall_guards,
)

CRITICAL = ["crm.users", "crm.orders"]


def as_user(url: str, user: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{user}@", 1)


@contextlib.contextmanager
def login_role(url: str, *member_of: str) -> Iterator[str]:
    """A LOGIN role with a unique name, dropped afterwards (its objects go first, through the gate)."""
    name = f"dgtest_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
        for role in member_of:
            conn.execute(f"GRANT {role} TO {name}")
        conn.execute(f"GRANT CREATE ON DATABASE {url.rsplit('/', 1)[1]} TO {name}")
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True, options=f"-c {GATE_SETTING}=on") as conn:
            conn.execute(f"DROP OWNED BY {name} CASCADE")
            conn.execute(f"DROP ROLE {name}")


@pytest.fixture
def app_db(any_server: str, new_database) -> Iterator[tuple[str, str]]:
    """(database URL, application role): crm.teams <- crm.users <- crm.orders, owned by the app role as an
    app's migrations would create them; users and orders are guarded, teams is not."""
    url = new_database(any_server)
    with login_role(url) as app:
        with psycopg.connect(as_user(url, app), autocommit=True) as conn:
            conn.execute(
                "CREATE SCHEMA crm;"
                "CREATE TABLE crm.teams (id int PRIMARY KEY);"
                "CREATE TABLE crm.users (id int PRIMARY KEY, email text, team_id int REFERENCES crm.teams);"
                "CREATE TABLE crm.orders (id int PRIMARY KEY, user_id int REFERENCES crm.users);"
                "INSERT INTO crm.teams VALUES (1);"
                "INSERT INTO crm.users SELECT g, 'u' || g, 1 FROM generate_series(1, 50) g;"
                "INSERT INTO crm.orders SELECT g, 1 + g % 50 FROM generate_series(1, 200) g;"
            )
        install_guards(PostgresDatabase(url), CRITICAL)
        yield url, app


def blocked_statements(app: str) -> list[tuple[str, str]]:
    """(statement, table its message must name) for everything the guards stop."""
    return [
        ("DROP TABLE crm.users CASCADE", "crm.users"),
        ("DROP TABLE crm.orders", "crm.orders"),
        ("DROP SCHEMA crm CASCADE", "crm."),
        (f"DROP OWNED BY {app}", "crm."),
        ("ALTER TABLE crm.users DROP COLUMN email", "crm.users"),
        ("TRUNCATE crm.orders", "crm.orders"),
        ("TRUNCATE crm.users CASCADE", "crm."),
        ("TRUNCATE crm.teams CASCADE", "crm.users"),  # unguarded table, cascading through a foreign key
        ("DROP TRIGGER dataguard_guard_no_truncate ON crm.orders", "crm.orders"),
        ("ALTER TABLE crm.orders DISABLE TRIGGER dataguard_guard_no_truncate", "crm.orders"),
        ("ALTER TABLE crm.orders DISABLE TRIGGER USER", "crm.orders"),
        ("ALTER TABLE crm.orders ENABLE TRIGGER dataguard_guard_no_truncate", "crm.orders"),  # drops ALWAYS
    ]


def assert_blocked(conn: psycopg.Connection, statement: str, table: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(statement)
    message = str(caught.value)
    assert message.startswith("dataguard:") and table in message, f"{statement}: {message}"
    assert "dataguard migrate-safe" in message, message


def row_counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM crm.teams), (SELECT count(*) FROM crm.users),"
            " (SELECT count(*) FROM crm.orders)"
        ).fetchone()


@pytest.mark.parametrize("who", ["app", "superuser"])
def test_every_destructive_statement_is_blocked_outside_the_gate_and_after_a_rename(app_db, who) -> None:
    url, app = app_db
    login = as_user(url, app) if who == "app" else url
    with psycopg.connect(login, autocommit=True) as conn:
        for statement, table in blocked_statements(app):
            assert_blocked(conn, statement, table)
        conn.execute("ALTER TABLE crm.users RENAME TO people")
        conn.execute("ALTER TABLE crm.orders RENAME TO purchases")
        conn.execute("ALTER TABLE crm.people RENAME COLUMN email TO mail")
        for statement, table in [
            ("DROP TABLE crm.people CASCADE", "crm.people"),
            ("TRUNCATE crm.purchases", "crm.purchases"),
            ("ALTER TABLE crm.people DROP COLUMN mail", "crm.people"),
            ("DROP TRIGGER dataguard_guard_no_truncate ON crm.purchases", "crm.purchases"),
        ]:
            assert_blocked(conn, statement, table)
        conn.execute("ALTER TABLE crm.people RENAME TO users")
        conn.execute("ALTER TABLE crm.purchases RENAME TO orders")
    assert row_counts(url) == (1, 50, 200)
    status = guard_status(PostgresDatabase(url), CRITICAL)
    assert status.is_healthy, status.problems
    assert status.protected_tables == ["crm.users", "crm.orders"]


def test_a_superuser_in_replica_mode_is_still_blocked(app_db) -> None:
    url, _app = app_db
    with psycopg.connect(url, autocommit=True, options="-c session_replication_role=replica") as conn:
        assert_blocked(conn, "TRUNCATE crm.orders", "crm.orders")
        assert_blocked(conn, "DROP TABLE crm.orders", "crm.orders")
    assert row_counts(url) == (1, 50, 200)


def test_the_app_role_setting_the_gate_setting_is_still_blocked(app_db) -> None:
    url, app = app_db
    with psycopg.connect(as_user(url, app), autocommit=True, options=f"-c {GATE_SETTING}=on") as conn:
        assert conn.execute(f"SHOW {GATE_SETTING}").fetchone()[0] == "on"
        assert_blocked(conn, "TRUNCATE crm.orders", "crm.orders")
        assert_blocked(conn, "DROP TABLE crm.orders", "crm.orders")
        with conn.transaction():
            conn.execute(f"SET LOCAL {GATE_SETTING} = 'on'")
            assert_blocked(conn, "ALTER TABLE crm.users DROP COLUMN email", "crm.users")
    assert row_counts(url) == (1, 50, 200)


def test_a_gate_member_passes_only_with_the_setting(app_db, monkeypatch) -> None:
    url, app = app_db
    db = PostgresDatabase(url)
    with login_role(url, app) as migrator:
        grant_gate(db, migrator)
        assert migrator in guard_status(db, CRITICAL).gate_members
        with psycopg.connect(as_user(url, migrator), autocommit=True) as conn:
            assert_blocked(conn, "TRUNCATE crm.orders", "crm.orders")  # a member without the setting
        monkeypatch.setenv("PGOPTIONS", gate_environment()["PGOPTIONS"])  # as migrate-safe runs a command
        with psycopg.connect(as_user(url, migrator), autocommit=True) as conn:
            conn.execute("ALTER TABLE crm.users DROP COLUMN email")
            conn.execute("TRUNCATE crm.orders")
            conn.execute("DROP TABLE crm.orders")
        monkeypatch.delenv("PGOPTIONS")
    status = guard_status(db, CRITICAL)
    assert [(t.listed_as, t.state) for t in status.tables] == [
        ("crm.users", PROTECTED),
        ("crm.orders", MISSING),
    ]
    assert status.is_healthy  # a table dropped through the gate leaves the registry with it
    with psycopg.connect(url, autocommit=True) as conn:  # outside the gate the guard is back on
        assert_blocked(conn, "DROP TABLE crm.users CASCADE", "crm.users")


def test_a_superuser_who_sets_the_setting_uses_the_gate(app_db) -> None:
    url, _app = app_db
    with psycopg.connect(url) as conn:
        conn.execute(f"SET LOCAL {GATE_SETTING} = 'on'")
        conn.execute("TRUNCATE crm.orders")
        conn.rollback()
        assert_blocked(conn, "TRUNCATE crm.orders", "crm.orders")  # SET LOCAL ended with its transaction


def test_harmless_ddl_and_dml_pass(app_db) -> None:
    url, app = app_db
    with psycopg.connect(as_user(url, app), autocommit=True) as conn:
        for statement in [
            "ALTER TABLE crm.users ADD COLUMN nickname text",
            "ALTER TABLE crm.users RENAME COLUMN nickname TO handle",
            "CREATE INDEX users_handle ON crm.users (handle)",
            "DROP INDEX crm.users_handle",
            "ALTER TABLE crm.users ALTER COLUMN email SET NOT NULL",
            "INSERT INTO crm.orders VALUES (1000, 1)",
            "UPDATE crm.orders SET user_id = 2 WHERE id = 1000",
            "DELETE FROM crm.orders WHERE id = 1000",
            "CREATE TABLE crm.scratch (id int)",
            "TRUNCATE crm.scratch",
            "DROP TABLE crm.scratch",
            "ALTER TABLE crm.users RENAME TO members",
            "ALTER TABLE crm.members RENAME TO users",
        ]:
            conn.execute(statement)
    assert row_counts(url) == (1, 50, 200)


def test_the_capture_ddl_trigger_keeps_working_alongside(app_db) -> None:
    url, app = app_db
    db = PostgresDatabase(url)
    prepare_capture(db)
    with psycopg.connect(as_user(url, app), autocommit=True) as conn:
        conn.execute("CREATE TABLE crm.keyless (note text)")  # capture gives it REPLICA IDENTITY FULL
        assert (
            conn.execute("SELECT relreplident FROM pg_class WHERE oid = 'crm.keyless'::regclass").fetchone()[
                0
            ]
            == "f"
        )
        assert_blocked(conn, "DROP TABLE crm.users CASCADE", "crm.users")
    assert guard_status(db, CRITICAL).is_healthy


def test_dropping_or_disabling_an_event_trigger_is_detected(app_db) -> None:
    url, _app = app_db
    db = PostgresDatabase(url)
    with psycopg.connect(url, autocommit=True) as conn:  # a superuser: nothing can stop this
        conn.execute("DROP EVENT TRIGGER dataguard_guard_sql_drop")
        conn.execute("ALTER EVENT TRIGGER dataguard_guard_ddl_end DISABLE")
    status = guard_status(db, CRITICAL)
    assert not status.is_healthy
    assert status.event_triggers == {
        "dataguard_guard_sql_drop": "missing",
        "dataguard_guard_ddl_end": "disabled",
    }
    assert any("dataguard_guard_sql_drop is missing" in p for p in status.problems)
    assert install_guards(db, CRITICAL).is_healthy  # install repairs it


def test_install_is_idempotent_and_reports_missing_tables_as_warnings(app_db) -> None:
    url, _app = app_db
    db = PostgresDatabase(url)
    status = install_guards(db, [*CRITICAL, "calls", "crm.teams"])
    assert status.version == GUARD_VERSION and status.is_healthy
    assert status.protected_tables == ["crm.users", "crm.orders", "crm.teams"]
    assert status.missing_tables == ["calls"]
    assert status.warnings == (f"critical table calls does not exist on {db.display}; nothing to protect",)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM dataguard_guard.protected_tables").fetchone()[0] == 3
        assert (
            conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'dataguard%'").fetchone()[0] == 3
        )


def test_a_table_listed_later_is_reported_unprotected_until_installed(app_db) -> None:
    url, _app = app_db
    status = guard_status(PostgresDatabase(url), [*CRITICAL, "crm.teams"])
    assert not status.is_healthy
    assert status.problems == ["table crm.teams is not protected; run dataguard guards install to protect it"]


def test_a_newer_installed_version_is_refused(app_db) -> None:
    url, _app = app_db
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE dataguard_guard.version SET version = %s", (GUARD_VERSION + 1,))
    with pytest.raises(ConfigError, match="newer than this build"):
        install_guards(PostgresDatabase(url), CRITICAL)


def test_grant_refuses_an_unknown_role(app_db) -> None:
    url, _app = app_db
    with pytest.raises(ConfigError, match="role 'nobody_here' does not exist"):
        grant_gate(PostgresDatabase(url), "nobody_here")


def test_install_needs_a_superuser(app_db) -> None:
    url, app = app_db
    with pytest.raises(ConfigError, match="superuser"):
        install_guards(PostgresDatabase(as_user(url, app)), CRITICAL)


def test_the_guard_objects_cannot_be_dropped_piecemeal_outside_the_gate(app_db) -> None:
    url, _app = app_db
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in [
            "DROP FUNCTION dataguard_guard.bypass() CASCADE",
            "DROP TABLE dataguard_guard.version",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="guards uninstall"):
                conn.execute(statement)


def test_uninstall_leaves_nothing_behind(app_db) -> None:
    url, app = app_db
    uninstall_guards(PostgresDatabase(url))
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regnamespace('dataguard_guard')").fetchone()[0] is None
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'dataguard_guard%'"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'dataguard_guard%'").fetchone()[0]
            == 0
        )
    assert not guard_status(PostgresDatabase(url), CRITICAL).installed
    with psycopg.connect(as_user(url, app), autocommit=True) as conn:
        conn.execute("TRUNCATE crm.orders")
        conn.execute("DROP TABLE crm.orders")
    uninstall_guards(PostgresDatabase(url))  # again: nothing to do, no error


def test_uninstall_may_drop_the_gate_role(pg18_server, new_database) -> None:
    """Only on the session's own embedded server: the machine's server is shared with parallel runs."""
    db = PostgresDatabase(new_database(pg18_server))
    install_guards(db, [])
    uninstall_guards(db, drop_role=True)
    with db.connect() as conn:
        assert (
            conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (GATE_ROLE,)).fetchone()[0] == 0
        )
    assert set(EVENT_TRIGGERS) == set(guard_status(db, []).event_triggers)


def test_gate_environment_adds_the_setting_to_existing_options() -> None:
    assert gate_environment() == {"PGOPTIONS": f"-c {GATE_SETTING}=on"}
    assert gate_environment("-c statement_timeout=0") == {
        "PGOPTIONS": f"-c statement_timeout=0 -c {GATE_SETTING}=on"
    }
