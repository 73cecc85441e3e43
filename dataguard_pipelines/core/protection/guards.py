"""Table guards on the protected PostgreSQL database: DROP, TRUNCATE and DROP COLUMN of a critical table
fail unless they run through the gate.

The SQL (guards.sql, shipped with the package) installs event triggers and one TRUNCATE trigger per table;
this module runs it, registers the tables, and reads back what is really in force. An event trigger cannot
stop a superuser from dropping or disabling the event triggers themselves: `guard_status` sees that and the
`guards_installed` check fails on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from psycopg import sql

from ..engines.postgres import PostgresDatabase, _first_line
from ..errors import ConfigError, SourceError

GATE_SETTING = "dataguard.allow_destructive"
GATE_ROLE = "dataguard_gate"
SCHEMA = "dataguard_guard"
GUARD_VERSION = 1
EVENT_TRIGGERS = ("dataguard_guard_sql_drop", "dataguard_guard_ddl_end")
TRUNCATE_TRIGGER = "dataguard_guard_no_truncate"
_INSTALL_LOCK_KEY = 0x6775617264  # "guard": one install or uninstall per database at a time

# table states: the first is healthy, "missing" and "not a table" are warnings, the others are problems
PROTECTED = "protected"
MISSING = "missing"
UNPROTECTED = "not protected"
TRIGGER_MISSING = "trigger missing"
TRIGGER_DISABLED = "trigger disabled"
NOT_A_TABLE = "not a table"

_EVENT_TRIGGER_STATES = {"A": "enabled", "O": "enabled (not in replica sessions)", "R": "replica only"}

_TABLE_STATES_SQL = """
SELECT c.oid::regclass::text, c.relkind,
       p.rel IS NOT NULL,
       (SELECT max(g.tgenabled) FROM pg_trigger g
         WHERE g.tgrelid = c.oid AND g.tgfoid = to_regprocedure('dataguard_guard.block_truncate()'))
FROM pg_class c LEFT JOIN dataguard_guard.protected_tables p ON p.rel::oid = c.oid
WHERE c.oid = %s
"""

_REGISTERED_SQL = """
SELECT p.rel::oid, p.rel::text, p.listed_as,
       (SELECT max(g.tgenabled) FROM pg_trigger g
         WHERE g.tgrelid = p.rel AND g.tgfoid = to_regprocedure('dataguard_guard.block_truncate()'))
FROM dataguard_guard.protected_tables p JOIN pg_class c ON c.oid = p.rel::oid
ORDER BY 2
"""


@dataclass(frozen=True)
class TableGuard:
    """One table: as configured (`listed_as`), its current name (`relation`, after renames), its state."""

    listed_as: str
    relation: str | None
    state: str

    @property
    def is_protected(self) -> bool:
        return self.state == PROTECTED


@dataclass(frozen=True)
class GuardStatus:
    """What is really in force on the database, read from its catalogs."""

    database: str
    installed: bool
    version: int | None
    event_triggers: dict[str, str]
    tables: tuple[TableGuard, ...]
    gate_members: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    expected_version: int = GUARD_VERSION

    @property
    def problems(self) -> list[str]:
        """Every sentence that makes the guards not fully in force (a listed table that does not exist is
        a warning instead)."""
        if not self.installed:
            return [f"table guards are not installed on {self.database}; run dataguard guards install"]
        found: list[str] = []
        if self.version is not None and self.version < self.expected_version:
            found.append(
                f"table guards version {self.version} is older than {self.expected_version}; "
                "run dataguard guards install to upgrade"
            )
        for name, state in self.event_triggers.items():
            if state != "enabled":
                found.append(
                    f"event trigger {name} is {state}; run dataguard guards install to restore it "
                    "(and find out who changed it: only a superuser can)"
                )
        for table in self.tables:
            if table.state not in (PROTECTED, MISSING, NOT_A_TABLE):
                found.append(
                    f"table {table.relation or table.listed_as} is {table.state}; "
                    "run dataguard guards install to protect it"
                )
        return found

    @property
    def is_healthy(self) -> bool:
        return not self.problems

    @property
    def protected_tables(self) -> list[str]:
        return [t.relation for t in self.tables if t.is_protected and t.relation]

    @property
    def missing_tables(self) -> list[str]:
        return [t.listed_as for t in self.tables if t.state == MISSING]

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "installed": self.installed,
            "version": self.version,
            "expected_version": self.expected_version,
            "healthy": self.is_healthy,
            "event_triggers": dict(self.event_triggers),
            "tables": [
                {"listed_as": t.listed_as, "relation": t.relation, "state": t.state} for t in self.tables
            ],
            "gate_role": GATE_ROLE,
            "gate_members": list(self.gate_members),
            "warnings": list(self.warnings),
            "problems": self.problems,
        }


def gate_environment(existing_pgoptions: str = "") -> dict[str, str]:
    """The environment a command run through the gate gets: libpq clients (psql, psycopg, PHP pdo_pgsql)
    send PGOPTIONS as session settings. It lifts the guard only for a member of the gate role."""
    return {"PGOPTIONS": f"{existing_pgoptions} -c {GATE_SETTING}=on".strip()}


def install_guards(db: PostgresDatabase, tables: Sequence[str]) -> GuardStatus:
    """Install or upgrade the guards and protect each listed table that exists; idempotent.

    Needs a superuser (or RDS's rds_superuser): only they may create event triggers."""
    with _locked_transaction(db, "install the table guards on") as conn:
        installed = _installed_version(conn)
        if installed is not None and installed > GUARD_VERSION:
            raise ConfigError(
                f"table guards version {installed} on {db.display} are newer than this build installs "
                f"({GUARD_VERSION}); upgrade dataguard before running guards install"
            )
        conn.execute(resources.files(__package__).joinpath("guards.sql").read_text(encoding="utf-8"))
        conn.execute(
            "INSERT INTO dataguard_guard.version (version) VALUES (%s) ON CONFLICT (singleton)"
            " DO UPDATE SET version = excluded.version, installed_at = now()",
            (GUARD_VERSION,),
        )
        for name in tables:
            oid = _resolve(conn, name)
            if oid is not None and _relkind(conn, oid) in ("r", "p"):
                # literals, not bind parameters, and the table by name, not OID: change capture records this
                # query as the DDL it runs, and a replay elsewhere must be able to run it again
                qualified = conn.execute(
                    "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
                    (oid,),
                ).fetchone()[0]
                conn.execute(
                    sql.SQL("SELECT dataguard_guard.protect({}::regclass, {})").format(
                        sql.Literal(qualified), sql.Literal(name)
                    )
                )
    return guard_status(db, tables)


def guard_status(db: PostgresDatabase, tables: Sequence[str]) -> GuardStatus:
    """The guards as they are: version, event triggers, each listed (and each registered) table, gate
    members. Any role may read it."""
    try:
        with db.connect() as conn:
            return _read_status(conn, db.display, tables)
    except _psycopg_error() as exc:
        raise SourceError(f"cannot read the table guards of {db.display}: {_first_line(exc)}") from exc


def uninstall_guards(db: PostgresDatabase, *, drop_role: bool = False) -> None:
    """Remove every guard object from the database. The gate role is cluster-wide (other databases may use
    it, and its grants say who may migrate): it is dropped only with `drop_role`."""
    with _locked_transaction(db, "uninstall the table guards from") as conn:
        for name in EVENT_TRIGGERS:
            conn.execute(f"DROP EVENT TRIGGER IF EXISTS {name}")
        if _installed_version(conn) is not None or _schema_exists(conn):
            rows = conn.execute(
                "SELECT format('DROP TRIGGER %I ON %s', g.tgname, g.tgrelid::regclass) FROM pg_trigger g"
                " WHERE g.tgfoid = to_regprocedure('dataguard_guard.block_truncate()')"
            ).fetchall()
            for (statement,) in rows:
                conn.execute(statement)
        conn.execute("DROP SCHEMA IF EXISTS dataguard_guard CASCADE")
        if drop_role:
            conn.execute(f"DROP ROLE IF EXISTS {GATE_ROLE}")


def grant_gate(db: PostgresDatabase, role: str) -> None:
    """Make `role` a member of the gate role: it may then run destructive migrations through the gate."""

    with db.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            raise ConfigError(
                f"role {role!r} does not exist on {db.display}; create it first (CREATE ROLE {role} LOGIN) "
                "or check the spelling"
            )
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GATE_ROLE,)).fetchone():
            raise ConfigError(
                f"role {GATE_ROLE} does not exist on {db.display}; run dataguard guards install first"
            )
        try:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GATE_ROLE), sql.Identifier(role)))
        except _psycopg_error() as exc:
            raise SourceError(
                f"cannot grant {GATE_ROLE} to {role} on {db.display}: {_first_line(exc)}; "
                "connect as a superuser or a role with CREATEROLE"
            ) from exc


@contextlib.contextmanager
def _locked_transaction(db: PostgresDatabase, doing: str) -> Iterator[Any]:
    """One transaction, inside the gate (an upgrade may drop old guard objects), serialised per database."""
    conn = db.connect(autocommit=False)
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK_KEY,))
        conn.execute(f"SET LOCAL {GATE_SETTING} = 'on'")
        yield conn
        conn.commit()
    except _psycopg_error() as exc:
        conn.rollback()
        if getattr(exc, "sqlstate", None) == "42501":  # insufficient_privilege
            raise ConfigError(
                f"cannot {doing} {db.display}: {_first_line(exc)}; connect as a superuser once "
                "(event triggers need one; on RDS a member of rds_superuser)"
            ) from exc
        raise SourceError(f"cannot {doing} {db.display}: {_first_line(exc)}") from exc
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def _read_status(conn, display: str, tables: Sequence[str]) -> GuardStatus:
    version = _installed_version(conn)
    installed = version is not None
    triggers = {
        name: state
        for name, state in conn.execute(
            "SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname = ANY(%s)",
            (list(EVENT_TRIGGERS),),
        ).fetchall()
    }
    event_triggers = {
        name: _EVENT_TRIGGER_STATES.get(triggers[name], "disabled") if name in triggers else "missing"
        for name in EVENT_TRIGGERS
    }
    warnings: list[str] = []
    guards: list[TableGuard] = []
    seen: set[int] = set()
    for name in tables:
        oid = _resolve(conn, name)
        if oid is None:
            guards.append(TableGuard(name, None, MISSING))
            warnings.append(f"critical table {name} does not exist on {display}; nothing to protect")
            continue
        seen.add(oid)
        if not installed:
            guards.append(TableGuard(name, _relation_name(conn, oid), UNPROTECTED))
            continue
        relation, relkind, registered, enabled = conn.execute(_TABLE_STATES_SQL, (oid,)).fetchone()
        if relkind not in ("r", "p"):
            guards.append(TableGuard(name, relation, NOT_A_TABLE))
            warnings.append(
                f"critical table {name} is not a table (relkind {relkind}); it cannot be protected"
            )
            continue
        guards.append(TableGuard(name, relation, _table_state(registered, enabled)))
    if installed:  # protected tables that are no longer listed, or were renamed
        for oid, relation, listed_as, enabled in conn.execute(_REGISTERED_SQL).fetchall():
            if oid not in seen:
                guards.append(TableGuard(listed_as, relation, _table_state(True, enabled)))
    members = tuple(
        row[0]
        for row in conn.execute(
            "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member"
            " JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname = %s ORDER BY 1",
            (GATE_ROLE,),
        ).fetchall()
    )
    return GuardStatus(
        database=display,
        installed=installed,
        version=version,
        event_triggers=event_triggers,
        tables=tuple(guards),
        gate_members=members,
        warnings=tuple(warnings),
    )


def _table_state(registered: bool, enabled: str | None) -> str:
    if not registered:
        return UNPROTECTED
    if enabled is None:
        return TRIGGER_MISSING
    return PROTECTED if enabled == "A" else TRIGGER_DISABLED


def _installed_version(conn) -> int | None:
    if not conn.execute("SELECT to_regclass('dataguard_guard.version')").fetchone()[0]:
        return None
    row = conn.execute("SELECT version FROM dataguard_guard.version").fetchone()
    return row[0] if row else None


def _schema_exists(conn) -> bool:
    return bool(conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone())


def _resolve(conn, name: str) -> int | None:
    """The table's OID: "schema.table", or a bare name's first match on the search_path."""
    try:
        row = conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()
    except _psycopg_error() as exc:  # e.g. an unterminated quote: not a name at all
        raise ConfigError(f"critical table name {name!r} is not a table name: {_first_line(exc)}") from exc
    return row[0] if row and row[0] is not None else None


def _relkind(conn, oid: int) -> str:
    return conn.execute("SELECT relkind FROM pg_class WHERE oid = %s", (oid,)).fetchone()[0]


def _relation_name(conn, oid: int) -> str:
    return conn.execute("SELECT %s::oid::regclass::text", (oid,)).fetchone()[0]


def _psycopg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error
