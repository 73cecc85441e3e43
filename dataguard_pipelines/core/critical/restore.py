"""Table-level restore into a NEW schema of the live database: nothing outside that schema is touched.

Sources: a critical snapshot (Parquet -> COPY CSV), a full backup, or a point in time (the full backup,
plus the change replay, into a scratch database on the target's server, then copied over). The side tables
are created from the column list (types, NOT NULL, primary key) and not from the DDL with its schema
rewritten: DDL carries defaults that call the live tables' sequences, triggers that write into live tables
and foreign keys to them, and rewriting schema names inside SQL text is fragile; the column list is exact
and touches nothing else. The original DDL is in the snapshot (schema.sql.dgar) for anyone who needs it.

Everything runs in one transaction on the target: the schema, the tables, the data and the verification of
every table's row count and content hash. A mismatch rolls it all back, so a side schema is whole or absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pyarrow.parquet as pq
from psycopg import sql

from dataguard_pipelines.core.critical.catalog import TableShape, resolve_tables
from dataguard_pipelines.core.critical.csv_codec import csv_bytes
from dataguard_pipelines.core.engines.postgres import PostgresDatabase, session_settings_sql
from dataguard_pipelines.core.errors import ConfigError, FormatError, RestoreError, VerificationError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import Manifest, find_backup
from dataguard_pipelines.core.restore import _select_tables, _unseal_to_file, restore_backup
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")
TYPE_TEXT = re.compile(r'[A-Za-z0-9_ ."(),\[\]]+')  # format_type() output: no quotes that end, no ';'


@dataclass(frozen=True)
class TablesRestoreResult:
    """Which tables were loaded into which side schema, from what, verified how."""

    backup_id: str
    source_type: str  # critical, full or point-in-time
    target: str
    schema: str
    tables: tuple[str, ...]
    rows: int
    duration_s: float


@dataclass(frozen=True)
class _Load:
    shape: TableShape
    feed: Callable[[object], str | None]  # writes into a COPY FROM; may return the hash of what it fed
    copy_format: str  # csv (critical snapshots) or text (pg_dump COPY text)
    rows: int | None
    content_sha256: str | None


def restore_tables(
    source: Manifest | str | None,
    store: Store,
    keyring: Keyring,
    target_db: PostgresDatabase | str,
    tables: Sequence[str],
    *,
    into_schema: str,
) -> TablesRestoreResult:
    """Load `tables` of a backup (a manifest, a backup id, or None: the newest critical snapshot) into the new
    schema `into_schema` of `target_db`, verify them against the manifest, and touch nothing else."""
    target = PostgresDatabase(target_db) if isinstance(target_db, str) else target_db
    _check_schema_name(into_schema)
    manifest = source if isinstance(source, Manifest) else find_backup(store, source, "critical")
    entries = _select_tables(manifest, list(tables))
    started = time.monotonic()
    if manifest.backup_type == "critical":
        with tempfile.TemporaryDirectory(prefix="dataguard-tables-") as tmp:
            details = manifest.extra["critical"]["tables"]
            loads = [
                _Load(
                    shape=_shape_from_manifest(e.name, details[e.name]),
                    feed=_parquet_feeder(store, keyring, manifest, e, Path(tmp)),
                    copy_format="csv",
                    rows=details[e.name]["rows"],
                    content_sha256=details[e.name]["content_sha256"],
                )
                for e in entries
            ]
            rows = _load_side_tables(target, into_schema, loads)
    elif manifest.backup_type == "full":
        with _scratch_database(target) as scratch:
            restore_backup(manifest, store, keyring, scratch.url, tables=[e.name for e in entries])
            expected = {e.name: (e.rows, e.object.content_sha256) for e in entries}
            rows = _copy_from_scratch(scratch, target, into_schema, [e.name for e in entries], expected)
    else:
        raise FormatError(
            f"backup {manifest.backup_id} has type {manifest.backup_type!r}, which has no tables"
        )
    return _result(manifest.backup_id, manifest.backup_type, target, into_schema, entries, rows, started)


def restore_tables_to_time(
    plan,
    store: Store,
    keyring: Keyring,
    target_db: PostgresDatabase | str,
    tables: Sequence[str],
    *,
    into_schema: str,
) -> TablesRestoreResult:
    """`--to-time` with `--tables`: the plan's full backup and its change replay go into a scratch database on
    the target's server (the whole backup: replayed transactions may touch any table), then only `tables` are
    copied into the side schema and compared with the scratch copy."""
    from dataguard_pipelines.core.pitr import recover

    target = PostgresDatabase(target_db) if isinstance(target_db, str) else target_db
    _check_schema_name(into_schema)
    entries = _select_tables(plan.backup, list(tables))
    started = time.monotonic()
    with _scratch_database(target) as scratch:
        recover(plan, store, keyring, scratch.url)
        rows = _copy_from_scratch(scratch, target, into_schema, [e.name for e in entries], None)
    return _result(plan.backup.backup_id, "point-in-time", target, into_schema, entries, rows, started)


def _result(backup_id, source_type, target, schema, entries, rows, started) -> TablesRestoreResult:
    names = tuple(f"{schema}.{e.name.rsplit('.', 1)[-1]}" for e in entries)
    duration = time.monotonic() - started
    log.info(
        "restored %s from %s into %s of %s in %.1f s",
        ", ".join(names),
        backup_id,
        schema,
        target.display,
        duration,
    )
    return TablesRestoreResult(backup_id, source_type, target.display, schema, names, rows, duration)


def _load_side_tables(target: PostgresDatabase, schema: str, loads: list[_Load]) -> int:
    """Create the schema's tables, load and verify them in one transaction; returns the rows loaded."""
    tables = [load.shape.table for load in loads]
    if len(set(tables)) != len(tables):
        raise ConfigError(f"the tables {', '.join(tables)} share a name; restore them into separate schemas")
    total = 0
    with target.connect(autocommit=False) as conn:
        conn.execute(session_settings_sql())
        _claim_schema(conn, schema, tables, target)
        mismatched = []
        for load in loads:
            relation = sql.Identifier(schema, load.shape.table)
            conn.execute(_create_table(relation, load.shape))
            columns = sql.SQL(", ").join(sql.Identifier(c["name"]) for c in load.shape.columns)
            with (
                conn.cursor() as cur,
                cur.copy(
                    sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
                        relation, columns, sql.SQL(load.copy_format)
                    )
                ) as copy,
            ):
                fed_sha256 = load.feed(copy)
            rows, digest = _content_of(conn, load.shape, relation, load.copy_format)
            expected_sha256 = load.content_sha256 or fed_sha256
            if (load.rows is not None and rows != load.rows) or digest != expected_sha256:
                mismatched.append(f"{load.shape.name} ({rows} rows, expected {load.rows})")
            total += rows
        if mismatched:
            conn.rollback()
            raise VerificationError(
                f"restored tables differ from the backup: {', '.join(mismatched)}; nothing was kept in {schema}"
            )
        conn.commit()
    return total


def _claim_schema(conn, schema: str, tables: list[str], target: PostgresDatabase) -> None:
    """Create the schema, or use an existing one only when it holds none of the tables: never overwrite."""
    taken = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (schema, tables),
        )
    ]
    if taken:
        raise RestoreError(
            f"schema {schema} of {target.display} already has {', '.join(sorted(taken))}; choose a new "
            "--into-schema (existing tables are never overwritten)"
        )
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _create_table(relation: sql.Composable, shape: TableShape) -> sql.Composed:
    parts = []
    for column in shape.columns:
        if not TYPE_TEXT.fullmatch(column["type"]):
            raise FormatError(
                f"column {column['name']} of {shape.name} has an unreadable type in the manifest"
            )
        parts.append(
            sql.SQL("{} {}{}").format(
                sql.Identifier(column["name"]),
                sql.SQL(column["type"]),
                sql.SQL(" NOT NULL" if column["not_null"] else ""),
            )
        )
    if shape.primary_key:
        parts.append(
            sql.SQL("PRIMARY KEY ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in shape.primary_key)
            )
        )
    return sql.SQL("CREATE TABLE {} ({})").format(relation, sql.SQL(", ").join(parts))


def _content_of(conn, shape: TableShape, relation: sql.Composable, copy_format: str) -> tuple[int, str]:
    """Row count and SHA-256 of a table's COPY text, as the backup computed them."""
    digest = hashlib.sha256()
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("COPY ({}) TO STDOUT (FORMAT {})").format(shape.select(relation), sql.SQL(copy_format))
        ) as copy,
    ):
        for block in copy:
            digest.update(block)
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(relation)).fetchone()[0]
    return rows, digest.hexdigest()


def _shape_from_manifest(name: str, detail: dict) -> TableShape:
    schema, _, table = _split_name(name)
    return TableShape(
        name=name,
        schema=schema,
        table=table,
        columns=tuple(detail["columns"]),
        primary_key=tuple(detail["primary_key"]),
    )


def _parquet_feeder(store, keyring, manifest, entry, tmp: Path) -> Callable[[object], None]:
    """Parquet needs its footer first: the object is decrypted to a temp file and read back in batches."""

    def feed(copy) -> None:
        path = tmp / Path(entry.object.key).name
        _unseal_to_file(store, keyring, manifest, entry.object, path)
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                copy.write(csv_bytes(batch))
        finally:
            path.unlink(missing_ok=True)

    return feed


def _copy_from_scratch(
    scratch: PostgresDatabase,
    target: PostgresDatabase,
    schema: str,
    names: list[str],
    expected: dict[str, tuple[int, str]] | None,
) -> int:
    """Stream each table's COPY text from the scratch database into the side schema of the target."""
    with scratch.connect(autocommit=False) as source:
        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        shapes, missing = resolve_tables(source, names)
        if missing:
            raise RestoreError(f"the restored scratch database lacks {', '.join(missing)}")
        source.execute(session_settings_sql())

        def feeder(shape: TableShape) -> Callable[[object], str]:
            def feed(copy) -> str:
                digest = hashlib.sha256()
                with (
                    source.cursor() as cur,
                    cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(shape.select())) as out,
                ):
                    for block in out:
                        digest.update(block)
                        copy.write(block)
                return digest.hexdigest()

            return feed

        loads = [
            _Load(
                shape=shape,
                feed=feeder(shape),
                copy_format="text",
                rows=expected[shape.name][0] if expected else None,
                content_sha256=expected[shape.name][1] if expected else None,
            )
            for shape in shapes
        ]
        return _load_side_tables(target, schema, loads)


@contextlib.contextmanager
def _scratch_database(target: PostgresDatabase) -> Iterator[PostgresDatabase]:
    """A throwaway database on the target's server (same extensions and types), dropped afterwards."""
    name = f"dataguard_tables_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(target.url)
    scratch = PostgresDatabase(urlunsplit(parts._replace(path=f"/{name}")))
    try:
        yield scratch
    finally:
        with contextlib.suppress(Exception), target.connect(dbname="postgres") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _check_schema_name(schema: str) -> None:
    if (
        not SCHEMA_NAME.fullmatch(schema)
        or schema.startswith("pg_")
        or schema in ("public", "information_schema")
    ):
        raise ConfigError(
            f"--into-schema {schema!r} is not a new schema name such as recovered_0617 "
            "(lower case letters, digits and _; not public, pg_* or information_schema)"
        )


def _split_name(name: str) -> tuple[str, str, str]:
    """'public.calls' or '"My Schema"."Calls"' -> (schema, '.', table), unquoted."""
    match = re.fullmatch(r'((?:"(?:[^"]|"")*"|[^."]+))\.((?:"(?:[^"]|"")*"|[^."]+))', name)
    if not match:
        raise FormatError(f"table name {name!r} in the manifest is not schema.table")

    def unquote(part: str) -> str:
        return part[1:-1].replace('""', '"') if part.startswith('"') else part

    return unquote(match.group(1)), ".", unquote(match.group(2))
