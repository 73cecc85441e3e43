"""Replay captured transactions into a restored database: in commit order, each one atomically.

Row changes become SQL with literal values exactly as PostgreSQL printed them; the target coerces them to
the column types, so every type with a text form round-trips. Replay runs with
`session_replication_role = replica`: triggers and foreign keys already did their work on the source, and
their effects are in the stream as row changes of their own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from ..engines.postgres import _first_line
from ..errors import RestoreError
from ..keys import Keyring
from ..store import Store
from .decoding import UNCHANGED, Begin, Commit, Message, RowChange, Truncate, parse_event
from .lsn import format_lsn
from .segments import Segment, read_segment
from .slot import DDL_PREFIX, DECODING_SESSION

log = logging.getLogger(__name__)

INSERT_BATCH = 500
SYNC_EVERY = 2000

_NOT_DDL = frozenset(
    {
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "CopyStmt",
        "TransactionStmt",
        "VariableSetStmt",
        "VariableShowStmt",
        "ExplainStmt",
        "DoStmt",
        "CallStmt",
        "PrepareStmt",
        "ExecuteStmt",
        "DeallocateStmt",
        "NotifyStmt",
        "ListenStmt",
        "UnlistenStmt",
        "LockStmt",
        "VacuumStmt",
        "CheckPointStmt",
        "DiscardStmt",
        "TruncateStmt",
        "LoadStmt",
    }
)


@dataclass(frozen=True)
class Transaction:
    xid: int
    commit_lsn: int
    committed_at: datetime
    records: list[str]

    @property
    def changes(self) -> int:
        return len(self.records)


def iter_transactions(
    store: Store, keyring: Keyring, segments: Iterable[Segment], *, after_lsn: int
) -> Iterator[Transaction]:
    """Transactions of the segments whose commit lies after `after_lsn`, in commit order."""
    for segment in segments:
        records: list[str] = []
        xid = 0
        for lsn, record_xid, data in read_segment(store, keyring, segment):
            if data.startswith("BEGIN "):
                records, xid = [], record_xid
            elif data.startswith("COMMIT "):
                if lsn > after_lsn:
                    commit = parse_event(data)
                    assert isinstance(commit, Commit)
                    yield Transaction(xid, lsn, commit.committed_at, records)
                records = []
            else:
                records.append(data)


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]
    generated: frozenset[str]  # computed by the target itself
    not_updatable: frozenset[str]  # generated columns and GENERATED ALWAYS identities
    key: tuple[str, ...]  # replica identity index or primary key


class Replayer:
    """Applies transactions through one connection; raises RestoreError when the target diverges."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self._tables: dict[str, _Table] = {}
        self.transactions = 0
        self.changes = 0
        self.ddl = 0
        settings = {
            **DECODING_SESSION,
            "session_replication_role": "replica",
            "standard_conforming_strings": "on",
        }
        try:
            for name, value in settings.items():
                conn.execute(f"SET {name} = '{value}'")
            conn.commit()
        except Exception as exc:
            conn.rollback()
            raise RestoreError(
                "replaying changes needs a role that may SET session_replication_role (a superuser, or "
                f"GRANT SET ON PARAMETER session_replication_role): {_first_line(exc)}"
            ) from exc

    def apply(self, tx: Transaction) -> None:
        try:
            self._apply(tx)
            self.conn.commit()
        except RestoreError:
            self.conn.rollback()
            raise
        except Exception as exc:
            self.conn.rollback()
            raise RestoreError(
                f"replay of transaction {tx.xid} (commit {format_lsn(tx.commit_lsn)}, "
                f"{tx.committed_at.isoformat()}) failed: {_first_line(exc)}"
            ) from exc
        self.transactions += 1

    def _apply(self, tx: Transaction) -> None:
        pending: list[tuple[object, str, int]] = []  # (cursor, what, expected rows)
        batch: list[RowChange] = []

        def flush_inserts() -> None:
            if batch:
                sql = self._insert_sql(batch)
                pending.append((self._send(sql), f"INSERT into {batch[0].table}", len(batch)))
                batch.clear()

        with self.conn.pipeline() as pipeline:
            for data in tx.records:
                event = parse_event(data)
                if isinstance(event, RowChange):
                    self.changes += 1
                    if event.op == "INSERT":
                        if batch and (
                            batch[0].table != event.table
                            or len(batch) >= INSERT_BATCH
                            or [c for c, _ in batch[0].new] != [c for c, _ in event.new]
                        ):
                            flush_inserts()
                        batch.append(event)
                        continue
                    flush_inserts()
                    sql = self._update_sql(event) if event.op == "UPDATE" else self._delete_sql(event)
                    pending.append((self._send(sql), f"{event.op} on {event.table}", 1))
                elif isinstance(event, Truncate):
                    flush_inserts()
                    self.changes += 1
                    pending.append((self._send(_truncate_sql(event)), "TRUNCATE", -1))
                elif isinstance(event, Message) and event.prefix == DDL_PREFIX:
                    flush_inserts()
                    pipeline.sync()
                    self._check(pending, tx)
                    pending.clear()
                    self._apply_ddl(event.content)
                elif isinstance(event, Begin | Commit | Message):
                    continue
                if len(pending) >= SYNC_EVERY:
                    pipeline.sync()
                    self._check(pending, tx)
                    pending.clear()
            flush_inserts()
        self._check(pending, tx)

    def _send(self, sql: str):
        cur = self.conn.cursor()
        cur.execute(sql.encode(), prepare=False)
        return cur

    def _check(self, pending, tx: Transaction) -> None:
        for cur, what, expected in pending:
            if expected >= 0 and cur.rowcount != expected:
                raise RestoreError(
                    f"replay diverged at transaction {tx.xid} (commit {format_lsn(tx.commit_lsn)}): "
                    f"{what} touched {cur.rowcount} rows, expected {expected}"
                )

    def _apply_ddl(self, content: str) -> None:
        try:
            message = json.loads(content)
        except ValueError as exc:
            raise RestoreError(f"captured DDL message is not JSON: {content[:80]!r}") from exc
        statement = ddl_statement(message["query"], int(message.get("seq", 1)))
        if statement is None:
            return
        self.conn.execute(
            "SELECT set_config('search_path', %s, false)", (message.get("search_path") or "public",)
        )
        self.conn.execute(statement.encode(), prepare=False)
        self.conn.execute("SELECT set_config('search_path', 'pg_catalog', false)")
        self._tables.clear()
        self.ddl += 1
        log.info("replayed DDL: %s", message.get("tag"))

    def _table(self, name: str) -> _Table:
        info = self._tables.get(name)
        if info is None:
            rows = self.conn.execute(
                "SELECT a.attname, a.attgenerated <> '', a.attidentity = 'a', a.attnum = ANY(coalesce("
                "  (SELECT i.indkey::int2[] FROM pg_index i WHERE i.indrelid = a.attrelid"
                "   AND (i.indisreplident OR i.indisprimary) ORDER BY i.indisreplident DESC LIMIT 1), '{}'))"
                " FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"
                " ORDER BY a.attnum",
                (name,),
            ).fetchall()
            if not rows:
                raise RestoreError(f"table {name} from the change stream does not exist in the target")
            info = _Table(
                columns=tuple(r[0] for r in rows),
                generated=frozenset(r[0] for r in rows if r[1]),
                not_updatable=frozenset(r[0] for r in rows if r[1] or r[2]),
                key=tuple(r[0] for r in rows if r[3]),
            )
            self._tables[name] = info
        return info

    def _insert_sql(self, rows: list[RowChange]) -> str:
        table = self._table(rows[0].table)
        names = [c for c, _ in rows[0].new if c not in table.generated]
        values = ",".join(
            "(" + ",".join(_literal(v) for c, v in row.new if c not in table.generated) + ")" for row in rows
        )
        return f"INSERT INTO {rows[0].table} ({','.join(map(_ident, names))}) OVERRIDING SYSTEM VALUE VALUES {values}"

    def _update_sql(self, change: RowChange) -> str:
        table = self._table(change.table)
        sets = ",".join(
            f"{_ident(c)}={_literal(v)}"
            for c, v in change.new
            if v is not UNCHANGED and c not in table.not_updatable
        )
        if not sets:  # nothing writable changed; still touch the row so a missing row is noticed
            writable = [c for c in table.columns if c not in table.not_updatable][:1]
            sets = ",".join(f"{_ident(c)}={_ident(c)}" for c in writable)
        return f"UPDATE {change.table} SET {sets} WHERE {self._where(change, table)}"

    def _delete_sql(self, change: RowChange) -> str:
        table = self._table(change.table)
        return f"DELETE FROM {change.table} WHERE {self._where(change, table)}"

    def _where(self, change: RowChange, table: _Table) -> str:
        identity = change.old
        if identity is None:
            if change.op == "DELETE" or not table.key:
                raise RestoreError(
                    f"{change.op} on {change.table} was captured without its old row (no primary key and "
                    "REPLICA IDENTITY DEFAULT); dataguard capture sets REPLICA IDENTITY FULL on such tables"
                )
            values = dict(change.new)
            return " AND ".join(f"{_ident(c)}={_literal(values[c])}" for c in table.key)
        names = [c for c, _ in identity]
        if table.key and set(names) == set(table.key):
            return " AND ".join(f"{_ident(c)}={_literal(v)}" for c, v in identity)
        if table.key and set(table.key) <= set(names):
            values = dict(identity)
            return " AND ".join(f"{_ident(c)}={_literal(values[c])}" for c in table.key)
        # REPLICA IDENTITY FULL without a key: the first row equal in every column, compared as text. The old
        # row leaves out its NULL columns, so a column it does not name must be NULL in the matching row
        # (generated columns follow from the others).
        named = {c for c, _ in identity}
        match = " AND ".join(
            [
                f"{_ident(c)}::text IS NOT DISTINCT FROM {_literal(v)}"
                for c, v in identity
                if v is not UNCHANGED
            ]
            + [f"{_ident(c)} IS NULL" for c in table.columns if c not in named and c not in table.generated]
        )
        return f"ctid = (SELECT ctid FROM {change.table} WHERE {match or 'true'} LIMIT 1)"


def ddl_statement(query: str, seq: int) -> str | None:
    """The seq-th DDL statement of a captured query string (several statements may share one string).

    A string whose DDL ran inside a DO block or a function has no DDL statement of its own: it runs whole,
    once, at its first DDL event."""
    import pglast
    from pglast.parser import ParseError

    try:
        statements = [
            query[s.stmt_location : s.stmt_location + s.stmt_len] if s.stmt_len else query[s.stmt_location :]
            for s in pglast.parse_sql(query)
            if type(s.stmt).__name__ not in _NOT_DDL
        ]
    except ParseError:  # syntax newer than pglast's parser: fall back to the whole string
        return query if seq == 1 else None
    if not statements:
        return query if seq == 1 else None
    return statements[seq - 1] if seq <= len(statements) else None


def sync_sequences(conn) -> int:
    """Sequences are not decoded: move each owned sequence past the largest value its column holds."""
    rows = conn.execute(
        "SELECT s.oid::regclass::text, c.oid::regclass::text, quote_ident(a.attname)"
        " FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_class c ON c.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid"
        " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
    ).fetchall()
    moved = 0
    for sequence, table, column in rows:
        row = conn.execute(
            f"SELECT max({column})::bigint, (SELECT last_value FROM {sequence}) FROM {table}"
        ).fetchone()
        if row[0] is not None and row[0] > row[1]:
            conn.execute("SELECT setval(%s, %s, true)", (sequence, row[0]))
            moved += 1
    conn.commit()
    return moved


def _truncate_sql(event: Truncate) -> str:
    sql = f"TRUNCATE ONLY {', '.join(event.tables)}"
    if event.restart_identity:
        sql += " RESTART IDENTITY"
    if event.cascade:
        sql += " CASCADE"
    return sql


def _literal(value) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
