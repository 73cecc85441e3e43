"""Replay captured transactions into a restored database: in commit order, each one atomically.

Row changes become SQL with literal values exactly as PostgreSQL printed them; the target coerces them to
the column types, so every type with a text form round-trips. Replay runs with
`session_replication_role = replica`: triggers and foreign keys already did their work on the source, and
their effects are in the stream as row changes of their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from ..engines.postgres import _first_line
from ..errors import RestoreError
from ..keys import Keyring
from ..store import Store
from .decoding import UNCHANGED, Commit, Message, RowChange, Truncate, parse_event, unquote_identifier
from .lsn import format_lsn
from .segments import Segment, read_segment
from .slot import DDL_PREFIX, DECODING_SESSION

log = logging.getLogger(__name__)

INSERT_BATCH = 500
BATCH_BYTES = 1 << 20
BATCH_TRANSACTIONS = 200

# Raises inside the server, so a divergence stops the batch at the statement that found it.
_EXPECT_ONE_SQL = """
CREATE FUNCTION pg_temp.dg_expect_one(got bigint, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF got <> 1 THEN
        RAISE EXCEPTION 'replay diverged: % touched % rows, expected 1', what, got;
    END IF;
END $$
"""

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
    """Applies transactions through one connection; raises RestoreError when the target diverges.

    Each transaction becomes one SQL text (BEGIN … COMMIT) and several transactions travel in one round trip;
    an UPDATE or DELETE that does not touch exactly one row raises inside the server, naming the transaction.
    Call `finish()` at the end: it sends what is queued and makes the replayed commits durable."""

    def __init__(
        self, conn, *, batch_bytes: int = BATCH_BYTES, batch_transactions: int = BATCH_TRANSACTIONS
    ) -> None:
        self.conn = conn
        self.batch_bytes, self.batch_transactions = batch_bytes, batch_transactions
        self._tables: dict[str, _Table] = {}
        self._matviews: set[str] = set()
        self._parts: list[str] = []
        self._bytes = 0
        self._queued: list[Transaction] = []
        self.transactions = 0
        self.changes = 0
        self.ddl = 0
        if conn.info.transaction_status != 0:
            conn.rollback()
        conn.autocommit = True
        settings = {
            **DECODING_SESSION,
            "session_replication_role": "replica",
            "standard_conforming_strings": "on",
            "synchronous_commit": "off",  # finish() makes it durable in one flush
            # a DROP or TRUNCATE in the stream already passed the source's table guards (through the gate);
            # the restored guards must not refuse to repeat it (a superuser replays: a gate member)
            "dataguard.allow_destructive": "on",
        }
        try:
            for name, value in settings.items():
                conn.execute(f"SET {name} = '{value}'")
            conn.execute(_EXPECT_ONE_SQL)
        except Exception as exc:
            raise RestoreError(
                "replaying changes needs a role that may SET session_replication_role (a superuser, or "
                f"GRANT SET ON PARAMETER session_replication_role): {_first_line(exc)}"
            ) from exc

    def apply(self, tx: Transaction) -> None:
        """Queue one transaction (sent with the next batch)."""
        parts = ["BEGIN"]
        inserts: list[RowChange] = []

        def flush_inserts() -> None:
            if inserts:
                parts.append(self._insert_sql(inserts))
                inserts.clear()

        # CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW: their rows are decoded before the DDL
        # message; re-running the statement makes them, so those INSERTs are skipped
        populated_later = _populated_by_ddl(tx.records)
        for data in tx.records:
            event = parse_event(data)
            if isinstance(event, RowChange):
                if _relname(event.table) in populated_later or self._is_matview(event.table):
                    continue  # matview contents come from replaying CREATE/REFRESH MATERIALIZED VIEW
                self.changes += 1
                if event.op == "INSERT":
                    if inserts and (
                        inserts[0].table != event.table
                        or len(inserts) >= INSERT_BATCH
                        or [c for c, _ in inserts[0].new] != [c for c, _ in event.new]
                    ):
                        flush_inserts()
                    inserts.append(event)
                    continue
                flush_inserts()
                what = _literal(f"{event.op} on {event.table} in transaction {tx.xid}")
                sql = self._update_sql(event) if event.op == "UPDATE" else self._delete_sql(event)
                parts.append(
                    f"WITH c AS ({sql} RETURNING 1) SELECT pg_temp.dg_expect_one(count(*), {what}) FROM c"
                )
            elif isinstance(event, Truncate):
                flush_inserts()
                self.changes += 1
                parts.append(_truncate_sql(event))
            elif isinstance(event, Message) and event.prefix == DDL_PREFIX:
                flush_inserts()
                statement, search_path, tag = _ddl_of(event.content)
                if statement is None:
                    continue
                populated_later.discard(_populating_target(statement) or "")
                parts += [
                    f"SELECT pg_catalog.set_config('search_path', {_literal(search_path)}, true)",
                    statement,
                    # rows after it were decoded under the default search_path (reg* values print by it),
                    # not under the DDL's: a function's `SET search_path = pg_catalog` must not leak into them
                    "SET LOCAL search_path TO DEFAULT",
                ]
                # run everything so far (the transaction stays open): later statements see the new schema
                self._queue(tx, parts)
                self.flush()
                parts = []
                self._tables.clear()
                self._matviews.clear()
                self.ddl += 1
                log.info("replayed DDL %s of transaction %s", tag, tx.xid)
        flush_inserts()
        parts.append("COMMIT")
        self._queue(tx, parts)
        self.transactions += 1
        if self._bytes >= self.batch_bytes or len(self._queued) >= self.batch_transactions:
            self.flush()

    def finish(self) -> None:
        """Send what is queued, then flush the target's WAL once (replay committed asynchronously)."""
        self.flush()
        self.conn.execute("SET synchronous_commit = on")
        self.conn.execute("BEGIN; SELECT pg_catalog.txid_current(); COMMIT")

    def _queue(self, tx: Transaction, parts: list[str]) -> None:
        self._parts += parts
        self._bytes += sum(len(p) for p in parts)
        if not self._queued or self._queued[-1] is not tx:
            self._queued.append(tx)

    def flush(self) -> None:
        """Send the queued transactions now (one round trip)."""
        if not self._parts:
            return
        sql = ";\n".join(self._parts)
        queued = self._queued
        self._parts, self._bytes, self._queued = [], 0, []
        try:
            self.conn.execute(sql.encode(), prepare=False)
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.conn.execute("ROLLBACK")
            first, last = queued[0], queued[-1]
            where = f"transaction {first.xid}" if first is last else f"transactions {first.xid}..{last.xid}"
            raise RestoreError(
                f"replay failed in {where} (commits {format_lsn(first.commit_lsn)}..{format_lsn(last.commit_lsn)}, "
                f"{first.committed_at.isoformat()}..): {_first_line(exc)}"
            ) from exc

    def _is_matview(self, name: str) -> bool:
        """Materialized views hold what their query says; a table missing here fails later, clearly."""
        if name not in self._tables and name not in self._matviews:
            row = self.conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (name,)
            ).fetchone()
            if row is not None and row[0] == "m":
                self._matviews.add(name)
        return name in self._matviews

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
        if not names:  # a table with no (writable) columns
            return ";".join(f"INSERT INTO {rows[0].table} DEFAULT VALUES" for _ in rows)
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


def _populated_by_ddl(records: list[str]) -> set[str]:
    """Names of the tables a DDL statement of this transaction creates together with their rows."""
    names = set()
    for data in records:
        if data.startswith(f"message: transactional: 1 prefix: {DDL_PREFIX},"):
            event = parse_event(data)
            assert isinstance(event, Message)
            statement = _ddl_of(event.content)[0]
            target = _populating_target(statement) if statement else None
            if target:
                names.add(target)
    return names


def _populating_target(statement: str) -> str | None:
    """The relation a CREATE TABLE AS, SELECT INTO or CREATE MATERIALIZED VIEW fills (unless WITH NO DATA)."""
    import pglast
    from pglast.parser import ParseError

    try:
        [raw] = pglast.parse_sql(statement)
    except (ParseError, ValueError):
        return None
    node = raw.stmt
    into = getattr(node, "into", None) if type(node).__name__ == "CreateTableAsStmt" else None
    if type(node).__name__ == "SelectStmt":
        into = getattr(node, "intoClause", None)
    if into is None or into.skipData:
        return None
    return into.rel.relname


def _relname(qualified: str) -> str:
    """The relation name of test_decoding's 'schema.name' (either part may be quoted)."""
    match = re.fullmatch(r'(?:(?:"(?:[^"]|"")*"|[^".]+)\.)?("(?:[^"]|"")*"|[^".]+)', qualified)
    return unquote_identifier(match.group(1)) if match else qualified


def _ddl_of(content: str) -> tuple[str | None, str, str]:
    """(statement to run, search_path, command tag) of a captured DDL message."""
    try:
        message = json.loads(content)
    except ValueError as exc:
        raise RestoreError(f"captured DDL message is not JSON: {content[:80]!r}") from exc
    statement = ddl_statement(message["query"], int(message.get("seq", 1)))
    return statement, message.get("search_path") or "public", str(message.get("tag"))


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
