"""critical_tables_backup: the critical tables on one REPEATABLE READ snapshot, each as sealed Parquet,
their DDL (pg_dump --schema-only on the same snapshot), and the manifest last.

Store layout (the full backups' layout, type `critical`):
    backups/critical/<partition>/<backup_id>/manifest.json            published last
    backups/critical/<partition>/<backup_id>/schema.sql.dgar          pg_dump --schema-only -t … (plain SQL)
    backups/critical/<partition>/<backup_id>/tables/NNNNN.parquet.dgar one per table
The manifest's `extra.critical` holds per table: columns, primary key, rows and `content_sha256`, the
SHA-256 of the table's COPY CSV text (csv_codec.py), plus the tables that were listed but do not exist.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql

from dataguard_pipelines import __version__
from dataguard_pipelines.core.archive_stream import ArchiveWriter
from dataguard_pipelines.core.backup import _drop_replaced, _stored
from dataguard_pipelines.core.critical.catalog import TableShape, resolve_tables
from dataguard_pipelines.core.critical.csv_codec import HashingReader, arrow_schema, record_batches
from dataguard_pipelines.core.engines.postgres import PostgresDatabase, session_settings_sql
from dataguard_pipelines.core.errors import BusyError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import Manifest, TableEntry, utc_now_iso
from dataguard_pipelines.core.sealed_parquet import sealed_parquet
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)

BACKUP_TYPE = "critical"
CRITICAL_LOCK_KEY = 0x64617461677562  # one critical snapshot per database at a time (full backups: ...61)
CONTENT_HASH = (
    "sha256 of COPY (SELECT <columns> FROM <table>) TO STDOUT (FORMAT csv), pg_dump session settings"
)
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class CriticalBackupResult:
    """A published critical snapshot and what it cost."""

    manifest: Manifest
    uri: str
    duration_s: float

    @property
    def missing(self) -> list[str]:
        return list(self.manifest.extra["critical"]["missing"])


def back_up_critical_tables(
    db: PostgresDatabase,
    store: Store,
    keyring: Keyring,
    tables: Sequence[str],
    *,
    partition: str,
    level: int = 1,
) -> CriticalBackupResult:
    """Snapshot `tables` consistently into one backup set; replaces an earlier set of the same partition.

    A listed table that does not exist is recorded as missing (a warning), never an error."""
    started = time.monotonic()
    started_at = utc_now_iso()
    backup_id = f"critical-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:4]}"
    prefix = f"backups/{BACKUP_TYPE}/{partition}/{backup_id}"
    info = db.server_info()
    tools = db.tools(info)
    with _critical_lock(db), db.exported_snapshot() as (snapshot, conn):
        shapes, missing = resolve_tables(conn, tables)
        for shape in shapes:  # as pg_dump does: a table dropped now waits for the snapshot to end
            conn.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
                    sql.Identifier(shape.schema, shape.table)
                )
            )
        conn.execute(session_settings_sql())
        try:
            schema = _dump_ddl(
                db, tools, snapshot, shapes, store, keyring, f"{prefix}/schema.sql.dgar", level
            )
            entries, details = [], {}
            for number, shape in enumerate(shapes, start=1):
                entry, detail = _write_table(conn, shape, store, keyring, prefix, number, level)
                entries.append(entry)
                details[shape.name] = detail
        except BaseException:
            store.delete_prefix(prefix)
            raise
        manifest = Manifest(
            backup_id=backup_id,
            backup_type=BACKUP_TYPE,
            partition=partition,
            source=info.as_dict(),
            tool={"name": "dataguard", "version": __version__, "pg_dump_major": tools.major},
            started_at=started_at,
            finished_at=utc_now_iso(),
            consistency=snapshot.as_consistency(),
            compression={"algorithm": "zstd", "level": level},
            key_id=keyring.active_id,
            schema=schema,
            misc=None,
            tables=tuple(entries),
            extra={
                "critical": {
                    "requested": list(tables),
                    "missing": missing,
                    "content_hash": CONTENT_HASH,
                    "tables": details,
                }
            },
        )
        store.put_bytes(manifest.key, manifest.to_json().encode())
        _drop_replaced(store, manifest)
    duration = time.monotonic() - started
    for name in missing:
        log.warning("critical table %s does not exist in %s; it is not backed up", name, db.display)
    log.info(
        "critical snapshot %s: %d tables, %d rows in %.1f s", backup_id, len(entries), manifest.rows, duration
    )
    return CriticalBackupResult(manifest=manifest, uri=store.uri(prefix), duration_s=duration)


def _write_table(conn, shape: TableShape, store, keyring, prefix, number, level) -> tuple[TableEntry, dict]:
    """Stream one table: COPY CSV -> hash -> Arrow batches -> Parquet -> zstd + AES-256-GCM -> store."""
    key = f"tables/{number:05d}.parquet.dgar"
    schema = arrow_schema(shape.columns)
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(shape.select())
    # no dictionaries or statistics: a backup is read whole, and they cost CPU on wide text columns
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        reader = HashingReader(copy)
        with sealed_parquet(
            store,
            f"{prefix}/{key}",
            keyring,
            schema,
            level=level,
            use_dictionary=False,
            write_statistics=False,
        ) as out:
            for batch in record_batches(reader, schema):
                out.write_batch(batch)
    header = "COPY {} ({}) FROM stdin;".format(
        shape.name, ", ".join(_ident(c["name"]) for c in shape.columns)
    )
    detail = {
        "columns": list(shape.columns),
        "primary_key": list(shape.primary_key),
        "rows": out.rows,
        "csv_bytes": reader.bytes,
        "content_sha256": reader.digest.hexdigest(),
    }
    return TableEntry(
        name=shape.name, copy_header=header, rows=out.rows, object=_stored(key, out.info)
    ), detail


def _dump_ddl(db, tools, snapshot, shapes: list[TableShape], store, keyring, key: str, level: int):
    """The tables' DDL as plain SQL on the same snapshot: for people and for a rebuild by hand."""
    with store.open_write(key) as sink, ArchiveWriter(sink, keyring, level=level) as writer:
        if shapes:
            patterns = [f"--table={_ident(s.schema)}.{_ident(s.table)}" for s in shapes]
            proc = db.start_dump(tools, snapshot, "--format=plain", "--schema-only", *patterns)
            try:
                while chunk := proc.stdout.read(READ_BYTES):
                    writer.write(chunk)
            except BaseException:
                proc.kill()
                raise
            proc.finish("pg_dump --schema-only of the critical tables", db.display)
        info = writer.close()
    return _stored("schema.sql.dgar", info)


@contextlib.contextmanager
def _critical_lock(db: PostgresDatabase) -> Iterator[None]:
    with db.connect() as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (CRITICAL_LOCK_KEY,)).fetchone()[0]:
            raise BusyError(
                f"another critical-tables snapshot of {db.display} is running; wait for it to finish"
            )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (CRITICAL_LOCK_KEY,))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
