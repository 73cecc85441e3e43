"""The capture slot on the protected database: creating it, preparing the schema for it, watching it.

One permanent logical slot (plugin `test_decoding`) holds back the WAL that has not been shipped yet. Full
backups take their snapshot from a short-lived TEMPORARY slot created with EXPORT_SNAPSHOT: its consistent
point is an exact cut, every transaction committed before it is in the dump and every later one is in the
permanent slot's stream (see docs/architecture.md, "PITR").
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..engines.postgres import PostgresDatabase, Snapshot, _first_line
from ..errors import ConfigError, SourceError
from .lsn import parse_lsn

PLUGIN = "test_decoding"
DDL_PREFIX = "dataguard.ddl"
# Decoding prints values with these; replay reads (and compares keyless rows as text) with the same.
DECODING_SESSION = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
    "extra_float_digits": "1",
}

# A DDL event trigger that writes the statement into the WAL stream, in commit order with the row changes,
# and gives new tables without a primary key REPLICA IDENTITY FULL so their UPDATEs and DELETEs can replay.
# `seq` counts the DDL commands one query string ran in this transaction: replay runs the seq-th of them.
_DDL_CAPTURE_SQL = f"""
CREATE SCHEMA IF NOT EXISTS dataguard;
CREATE OR REPLACE FUNCTION dataguard.capture_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    query text := current_query();
    digest text := md5(coalesce(query, ''));
    seq int := 1;
    obj record;
BEGIN
    IF current_setting('dataguard.in_capture_ddl', true) = 'on' THEN
        RETURN;
    END IF;
    IF current_setting('dataguard.ddl_query', true) = digest THEN
        seq := current_setting('dataguard.ddl_seq')::int + 1;
    END IF;
    PERFORM set_config('dataguard.ddl_query', digest, true);
    PERFORM set_config('dataguard.ddl_seq', seq::text, true);
    PERFORM pg_logical_emit_message(true, '{DDL_PREFIX}', json_build_object(
        'tag', tg_tag, 'query', query, 'seq', seq,
        'search_path', current_setting('search_path'), 'role', current_user)::text);
    PERFORM set_config('dataguard.in_capture_ddl', 'on', true);
    FOR obj IN
        SELECT c.oid::regclass AS rel FROM pg_event_trigger_ddl_commands() d
        JOIN pg_class c ON c.oid = d.objid
        WHERE d.classid = 'pg_class'::regclass AND c.relkind = 'r' AND c.relreplident = 'd'
          AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
    LOOP
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', obj.rel);
    END LOOP;
    PERFORM set_config('dataguard.in_capture_ddl', 'off', true);
END
$fn$;
DROP EVENT TRIGGER IF EXISTS dataguard_capture_ddl;
CREATE EVENT TRIGGER dataguard_capture_ddl ON ddl_command_end EXECUTE FUNCTION dataguard.capture_ddl();
"""

_TABLES_WITHOUT_IDENTITY = """
SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relreplident = 'd' AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
ORDER BY 1
"""


@dataclass(frozen=True)
class SlotStatus:
    """What the server says about the slot: how far it has been confirmed and how much WAL it pins."""

    name: str
    exists: bool
    active: bool = False
    confirmed_lsn: str | None = None
    restart_lsn: str | None = None
    retained_bytes: int = 0
    wal_status: str | None = None
    current_lsn: str | None = None

    @property
    def lost(self) -> bool:
        return self.wal_status == "lost"


@dataclass(frozen=True)
class SlotCreated:
    name: str
    lsn: str
    created_at: datetime


def check_logical_decoding(db: PostgresDatabase) -> None:
    """Fail with one sentence (and the fix) when the server cannot decode logically."""
    with db.connect() as conn:
        level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise ConfigError(
            f"{db.display} has wal_level={level}; change capture needs wal_level=logical "
            "(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)"
        )


UNAVAILABLE = "point-in-time restore unavailable"

_CAPTURE_PREREQUISITES = """
SELECT current_setting('wal_level'),
       current_setting('max_replication_slots')::int,
       (SELECT count(*) FROM pg_replication_slots),
       current_setting('max_wal_senders')::int,
       (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user),
       current_user,
       (SELECT database FROM pg_replication_slots WHERE slot_name = %s),
       current_database()
"""


def capture_blocker(db: PostgresDatabase, slot: str) -> str | None:
    """Why full backups of this database cannot be cut at a replication slot (one sentence with the fix),
    or None when capture can be set up (or already is).

    A cut needs wal_level=logical, a role that may replicate, a WAL sender for the replication connection,
    and free slots: the temporary one of the cut, plus the permanent one if it does not exist yet."""
    with db.connect() as conn:
        level, max_slots, used_slots, max_senders, may_replicate, role, slot_db, current_db = conn.execute(
            _CAPTURE_PREREQUISITES, (slot,)
        ).fetchone()
    if level != "logical":
        return f"{UNAVAILABLE}: wal_level is {level}; set wal_level = logical and restart PostgreSQL"
    if not may_replicate:
        return (
            f"{UNAVAILABLE}: role {role} may not replicate; run ALTER ROLE {role} REPLICATION "
            "or connect as a role that may"
        )
    if slot_db is not None and slot_db != current_db:
        return (
            f"{UNAVAILABLE}: replication slot {slot!r} belongs to database {slot_db}; "
            "give this database its own DATAGUARD_CAPTURE_SLOT"
        )
    if max_senders < 1:
        return f"{UNAVAILABLE}: max_wal_senders is 0; set it to at least 2 and restart PostgreSQL"
    needed = 1 if slot_db is not None else 2
    if max_slots - used_slots < needed:
        return (
            f"{UNAVAILABLE}: {used_slots} of max_replication_slots = {max_slots} are in use and a backup "
            f"cut needs {needed} free; raise max_replication_slots and restart PostgreSQL, or drop an unused slot"
        )
    return None


def prepare_capture(db: PostgresDatabase) -> list[str]:
    """Install the DDL event trigger and give tables without a primary key REPLICA IDENTITY FULL.

    Returns the tables that were changed. Idempotent: safe on every start of the capture daemon."""
    with db.connect() as conn:
        try:
            conn.execute(_DDL_CAPTURE_SQL)
            tables = [row[0] for row in conn.execute(_TABLES_WITHOUT_IDENTITY)]
            conn.execute("SET dataguard.in_capture_ddl = 'on'")
            for table in tables:
                conn.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        except Exception as exc:
            raise SourceError(f"cannot prepare {db.display} for change capture: {_first_line(exc)}") from exc
    return tables


def ddl_trigger_installed(db: PostgresDatabase) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_event_trigger WHERE evtname = 'dataguard_capture_ddl' AND evtenabled <> 'D'"
        ).fetchone()
    return row is not None


def slot_status(db: PostgresDatabase, slot: str) -> SlotStatus:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT active, confirmed_flush_lsn::text, restart_lsn::text,"
            " coalesce(pg_current_wal_lsn() - restart_lsn, 0)::bigint, wal_status, pg_current_wal_lsn()::text"
            " FROM pg_replication_slots WHERE slot_name = %s AND database = current_database()",
            (slot,),
        ).fetchone()
        if row is None:
            current = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            return SlotStatus(name=slot, exists=False, current_lsn=current)
    return SlotStatus(
        name=slot,
        exists=True,
        active=bool(row[0]),
        confirmed_lsn=row[1],
        restart_lsn=row[2],
        retained_bytes=int(row[3] or 0),
        wal_status=row[4],
        current_lsn=row[5],
    )


def create_slot(db: PostgresDatabase, slot: str) -> SlotCreated:
    """Create the permanent slot; its consistent point is where the change stream begins."""
    check_logical_decoding(db)
    with db.connect() as conn:
        try:
            lsn = conn.execute(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (slot, PLUGIN)
            ).fetchone()[0]
        except Exception as exc:
            hint = (
                "; slot names are unique per server: give this database its own DATAGUARD_CAPTURE_SLOT"
                if "already exists" in str(exc)
                else ""
            )
            raise SourceError(
                f"cannot create replication slot {slot!r} on {db.display}: {_first_line(exc)}{hint}"
            ) from exc
    return SlotCreated(name=slot, lsn=lsn, created_at=datetime.now(UTC))


def drop_slot(db: PostgresDatabase, slot: str) -> bool:
    """Drop the slot (it releases the WAL it pins); False if there was none."""
    with db.connect() as conn:
        try:
            row = conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND database = current_database()",
                (slot,),
            ).fetchone()
        except Exception as exc:
            raise SourceError(
                f"cannot drop replication slot {slot!r} on {db.display}: {_first_line(exc)}"
            ) from exc
    return row is not None


def capture_enabled(db: PostgresDatabase, slot: str) -> bool:
    """True when the database has our permanent slot: full backups then cut exactly at a slot's snapshot."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND database = current_database()",
            (slot,),
        ).fetchone()
    return row is not None


@contextlib.contextmanager
def slot_snapshot(db: PostgresDatabase, slot: str) -> Iterator[tuple[Snapshot, object]]:
    """An exported snapshot at a temporary slot's consistent point, and a connection reading in it.

    Every transaction whose commit record lies before the point is visible in the snapshot; every other
    one is decoded by the permanent slot `slot` with a commit LSN after the point. pg_dump shares the
    snapshot with --snapshot while the replication connection stays open and idle."""
    import psycopg

    check_logical_decoding(db)
    name = f"dataguard_cut_{uuid.uuid4().hex[:12]}"
    try:
        repl = psycopg.connect(db.url, autocommit=True, connect_timeout=10, replication="database")
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot open a replication connection to {db.display}: {_first_line(exc)}"
        ) from exc
    reader = None
    try:
        cur = psycopg.ClientCursor(repl)
        try:
            cur.execute(f"CREATE_REPLICATION_SLOT {name} TEMPORARY LOGICAL {PLUGIN} EXPORT_SNAPSHOT")
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot take a snapshot from a replication slot on {db.display}: {_first_line(exc)}"
            ) from exc
        _, lsn, snapshot_name, _ = cur.fetchone()
        reader = db.connect(autocommit=False)
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_name}'")
        # the server's clock, like the commit times it is compared with (a client clock may be skewed)
        txid, taken_at = reader.execute("SELECT txid_current_snapshot()::text, now()").fetchone()
        taken_at = taken_at.astimezone(UTC)
        parse_lsn(lsn)
        yield (
            Snapshot(
                name=snapshot_name,
                lsn=lsn,
                txid=int(txid.split(":")[0]),
                taken_at=taken_at,
                kind="replication_slot",
                slot_name=slot,
            ),
            reader,
        )
    finally:
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.rollback()
            reader.close()
        repl.close()  # a TEMPORARY slot goes with its connection
