"""Writing and reading the audit trail: `dataguard.audit_log` in the protected database, anchored in the store.

Writers serialize on a transaction-level advisory lock inside the inserting transaction (readers are not
blocked; unlike LOCK TABLE it needs no UPDATE/DELETE right, which the table withholds even from its owner), so
`seq` is gap-free and every entry names its predecessor's hash. After the commit the entry is written once
more, write-once, to `audit/<seq>.json` in the store: editing or deleting rows, even as a superuser with the
trigger disabled, leaves the anchors disagreeing with the table.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dataguard_pipelines.core.audit.entry import GENESIS_SHA256, Actor, AuditEntry, canonical
from dataguard_pipelines.core.audit.redact import redact_parameters, redact_text
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import SourceError
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)

TABLE = "dataguard.audit_log"
ANCHOR_PREFIX = "audit"
ANCHOR_RETENTION_YEARS = 10
TRIGGER = "audit_log_append_only"

DDL = f"""
CREATE SCHEMA IF NOT EXISTS dataguard;
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    at timestamptz NOT NULL,
    operation text NOT NULL,
    parameters jsonb NOT NULL,
    outcome text NOT NULL,
    os_user text,
    host text,
    db_role text,
    db_session_user text,
    client_ip text,
    dagster_run_id text,
    launched_by text,
    prev_sha256 text NOT NULL,
    sha256 text NOT NULL
);
CREATE OR REPLACE FUNCTION dataguard.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'dataguard.audit_log is append-only: % refused', tg_op
        USING HINT = 'audit entries are never changed or removed; dataguard audit verify checks the chain';
END
$fn$;
DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE};
CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION dataguard.audit_log_refuse_change();
DROP TRIGGER IF EXISTS {TRIGGER}_truncate ON {TABLE};
CREATE TRIGGER {TRIGGER}_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION dataguard.audit_log_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM PUBLIC, CURRENT_USER;
"""

_COLUMNS = (
    "seq, at, operation, parameters, outcome, os_user, host, db_role, db_session_user, client_ip,"
    " dagster_run_id, launched_by, prev_sha256, sha256"
)


def anchor_key(seq: int) -> str:
    return f"{ANCHOR_PREFIX}/{seq:012d}.json"


def ensure_table(conn) -> None:
    """Create the table and its append-only trigger once (idempotent; an advisory lock serializes creators)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]
    if exists:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('dataguard.audit_log'))")
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]:
            conn.execute(DDL)


def record(
    db: PostgresDatabase,
    *,
    operation: str,
    parameters: Mapping[str, Any],
    outcome: str,
    store: Store | None = None,
    actor: Actor | None = None,
) -> AuditEntry:
    """Append one entry; raises SourceError when the row cannot be written. A failure to write the store
    anchor after the commit is logged, not raised: `verify_chain` reports the missing anchor."""
    actor = actor or Actor.current()
    clean = json.loads(canonical(redact_parameters(parameters)))  # as jsonb will give it back
    try:
        with db.connect() as conn:
            ensure_table(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('dataguard.audit_log.append'))")
                head = conn.execute(f"SELECT seq, sha256 FROM {TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
                at, role, session_user, client_ip = conn.execute(
                    "SELECT clock_timestamp(), current_user, session_user, host(inet_client_addr())"
                ).fetchone()
                entry = AuditEntry(
                    seq=head[0] + 1 if head else 1,
                    at=at.astimezone(UTC),
                    operation=operation,
                    parameters=clean,
                    outcome=redact_text(outcome),
                    actor=actor.on_server(role, session_user, client_ip),
                    prev_sha256=head[1] if head else GENESIS_SHA256,
                ).sealed()
                conn.execute(
                    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})", _row(entry)
                )
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(
            f"the audit trail in {db.display} refused the {operation} entry: {redact_text(_first_line(exc))}"
        ) from exc
    if store is None:
        log.warning("audit entry %s (%s) has no store anchor: no store was given", entry.seq, operation)
    else:
        write_anchor(store, entry)
    return entry


def write_anchor(store: Store, entry: AuditEntry) -> bool:
    """The entry, write-once, at audit/<seq>.json; False (and a log line) when the store refuses it."""
    lock_until = datetime.now(UTC) + timedelta(days=365 * ANCHOR_RETENTION_YEARS)
    try:
        store.put_bytes(anchor_key(entry.seq), canonical(entry.as_dict()), lock_until=lock_until)
    except Exception as exc:  # the row is committed; the check reports the missing anchor
        log.warning(
            "audit entry %s (%s) is in the database but its store anchor %s was not written: %s",
            entry.seq,
            entry.operation,
            anchor_key(entry.seq),
            _first_line(exc),
        )
        return False
    return True


def read_log(
    db: PostgresDatabase, *, since: datetime | None = None, operation: str | None = None
) -> list[AuditEntry]:
    """Entries oldest first; `operation` matches exactly or as a prefix ("backup" finds "backup.full")."""
    with db.connect() as conn:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]:
            return []
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM {TABLE}"
            " WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
            "   AND (%(op)s::text IS NULL OR operation = %(op)s OR operation LIKE %(op)s || '.%%')"
            " ORDER BY seq",
            {"since": since, "op": operation},
        ).fetchall()
    return [entry_of(row) for row in rows]


def entry_of(row: tuple) -> AuditEntry:
    (seq, at, operation, parameters, outcome, os_user, host, role, session_user, ip, run_id, launched_by,
     prev, sha) = row  # fmt: skip
    actor = Actor(os_user, host, run_id, launched_by, role, session_user, ip)
    return AuditEntry(seq, at.astimezone(UTC), operation, parameters, outcome, actor, prev, sha)


def _row(entry: AuditEntry) -> tuple:
    from psycopg.types.json import Jsonb

    a = entry.actor
    return (
        entry.seq,
        entry.at,
        entry.operation,
        Jsonb(entry.parameters),
        entry.outcome,
        a.os_user,
        a.host,
        a.db_role,
        a.db_session_user,
        a.client_ip,
        a.dagster_run_id,
        a.launched_by,
        entry.prev_sha256,
        entry.sha256,
    )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]


# -- the hook every operation uses ---------------------------------------------------------------------------


@dataclass
class Audited:
    """What the audited block reports back: its outcome (default "ok") and parameters learnt on the way."""

    outcome: str = "ok"
    parameters: dict[str, Any] = field(default_factory=dict)
    entry: AuditEntry | None = None


@contextlib.contextmanager
def audited(
    open_database,
    *,
    operation: str,
    parameters: Mapping[str, Any],
    store: Store | None,
    actor: Actor | None = None,
) -> Iterator[Audited]:
    """Run a block and record it: its outcome, or "failed: <the error's first line>" when it raises.

    `open_database` is a PostgresDatabase or a zero-argument callable returning a context manager that yields
    one (the protected database, opened only to write the entry). A failure to write the entry is logged and
    never replaces the operation's own result or error."""
    state = Audited()
    try:
        yield state
    except BaseException as exc:
        state.outcome = f"failed: {exc.__class__.__name__}: {_first_line(exc)}"
        _record_quietly(open_database, operation, {**parameters, **state.parameters}, state, store, actor)
        raise
    _record_quietly(open_database, operation, {**parameters, **state.parameters}, state, store, actor)


def _record_quietly(open_database, operation, parameters, state: Audited, store, actor) -> None:
    try:
        opened = (
            contextlib.nullcontext(open_database)
            if isinstance(open_database, PostgresDatabase)
            else open_database()
        )
        with opened as db:
            state.entry = record(
                db,
                operation=operation,
                parameters=parameters,
                outcome=state.outcome,
                store=store,
                actor=actor,
            )
    except Exception as exc:
        log.warning(
            "note: the audit trail did not record %s (%s): %s", operation, state.outcome, _first_line(exc)
        )
