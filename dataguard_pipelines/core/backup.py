"""Full backup: one consistent snapshot, pg_dump -> per-table zstd + AES-256-GCM objects -> manifest last.

The schema goes out as a pg_dump custom-format archive (so restore can build indexes in parallel with
pg_restore -j); the data section comes out of one plain pg_dump stream that is split at its COPY blocks,
so every table becomes its own sealed object with its row count and the SHA-256 of its COPY text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from dataguard_pipelines import __version__
from dataguard_pipelines.core.archive_stream import ArchiveWriter
from dataguard_pipelines.core.capture.segments import list_chains
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.capture.slot import UNAVAILABLE, capture_blocker, capture_enabled, slot_snapshot
from dataguard_pipelines.core.engines.postgres import PostgresDatabase, Snapshot
from dataguard_pipelines.core.errors import SourceError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import (
    Manifest,
    StoredObject,
    TableEntry,
    utc_now_iso,
)
from dataguard_pipelines.core.progress import Progress, ProgressFn, Throttle
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)

READ_BYTES = 1 << 20
TERMINATOR = b"\\.\n"
COPY_HEADER = re.compile(
    r'^COPY ((?:"(?:[^"]|"")*"|[^ ."]+)\.(?:"(?:[^"]|"")*"|[^ ."(]+))(?: \(.*\))? FROM stdin;$'
)


@dataclass(frozen=True)
class BackupResult:
    """A published backup and what it cost."""

    manifest: Manifest
    uri: str
    duration_s: float

    @property
    def throughput_mb_s(self) -> float:
        return self.manifest.content_bytes / 1e6 / max(self.duration_s, 1e-6)

    @property
    def compression_ratio(self) -> float:
        return self.manifest.content_bytes / max(self.manifest.stored_bytes, 1)

    @property
    def pitr_available(self) -> bool:
        """Cut at a replication slot: point-in-time restore can start from this backup."""
        return self.manifest.consistency.get("kind") == "replication_slot"

    @property
    def pitr_reason(self) -> str | None:
        """Why point-in-time restore cannot start from this backup (one sentence with the fix), or None."""
        return pitr_unavailable_reason(self.manifest.consistency)


NO_SLOT_REASON = f"{UNAVAILABLE}: no capture slot is configured; set DATAGUARD_CAPTURE_SLOT"


def pitr_unavailable_reason(consistency: dict) -> str | None:
    """The reason a manifest records, with a fallback for backups written before reasons were recorded."""
    if consistency.get("kind") == "replication_slot":
        return None
    return consistency.get("pitr_unavailable") or (
        f"{UNAVAILABLE}: this backup was cut at an exported snapshot, not a replication slot; "
        "the next full backup sets change capture up where the server allows it"
    )


def run_full_backup(
    db: PostgresDatabase,
    store: Store,
    keyring: Keyring,
    *,
    partition: str,
    level: int = 1,
    progress: ProgressFn | None = None,
    capture_slot: str | None = None,
) -> BackupResult:
    """Take, seal, store and publish one full backup; replaces earlier backups of the same partition.

    With `capture_slot`, every full backup is a point-in-time base by itself where the server allows it:
    change capture is set up if it is not (the permanent slot, its chain start, the DDL trigger), and the
    snapshot comes from a temporary replication slot, an exact cut that point-in-time restore continues from
    with the slot's change stream. Where the server does not allow it the backup still succeeds and its
    manifest says why (`consistency.pitr_unavailable`)."""
    report = Throttle(progress)
    started = time.monotonic()
    started_at = utc_now_iso()
    backup_id = f"full-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:4]}"
    prefix = f"backups/full/{partition}/{backup_id}"
    info = db.server_info()
    tools = db.tools(info)
    pitr_reason = _prepare_capture(db, store, keyring, capture_slot, level)
    consistent = slot_snapshot(db, capture_slot) if pitr_reason is None else db.exported_snapshot()
    with db.backup_lock(), consistent as (snapshot, snap_conn):
        estimate = _estimate_bytes(snap_conn)
        matviews = _populated_matviews(snap_conn)
        report(Progress("schema", 0, estimate, "pg_dump --schema-only"), force=True)
        try:
            schema = _dump_schema(db, tools, snapshot, store, keyring, f"{prefix}/schema.pgdump.dgar", level)
            tables, misc = _dump_data(db, tools, snapshot, store, keyring, prefix, level, report, estimate)
        except BaseException:
            store.delete_prefix(prefix)  # nothing half-written stays behind; no manifest was published
            raise
        manifest = _publish(
            store,
            Manifest(
                backup_id=backup_id,
                backup_type="full",
                partition=partition,
                source=info.as_dict(),
                tool={"name": "dataguard", "version": __version__, "pg_dump_major": tools.major},
                started_at=started_at,
                finished_at=utc_now_iso(),
                consistency={
                    **snapshot.as_consistency(),
                    "slot_name": snapshot.slot_name,
                    "pitr_unavailable": pitr_reason,
                },
                compression={"algorithm": "zstd", "level": level},
                key_id=keyring.active_id,
                schema=schema,
                misc=misc,
                tables=tuple(tables),
                materialized_views=tuple(matviews),
            ),
        )
    duration = time.monotonic() - started
    report(Progress("done", manifest.content_bytes, manifest.content_bytes, backup_id), force=True)
    log.info(
        "full backup %s: %d tables, %d rows, %.1f MB -> %.1f MB in %.1f s",
        backup_id,
        len(tables),
        manifest.rows,
        manifest.content_bytes / 1e6,
        manifest.stored_bytes / 1e6,
        duration,
    )
    return BackupResult(manifest=manifest, uri=store.uri(prefix), duration_s=duration)


def _prepare_capture(
    db: PostgresDatabase, store: Store, keyring: Keyring, slot: str | None, level: int
) -> str | None:
    """Make sure the backup can be cut at `slot`; returns why not (None when it can).

    Capture is set up by the shipper's own first cycle (slot, chain start, DDL trigger, heartbeat), also when
    the slot exists but this store has no chain of it: a cut the store cannot continue from is no base."""
    if slot is None:
        return NO_SLOT_REASON
    if reason := capture_blocker(db, slot):
        log.warning("%s", reason)
        return reason
    if not capture_enabled(db, slot) or not list_chains(store, slot):
        try:
            shipped = ship_changes(db, store, keyring, slot, level=level)
        except SourceError as exc:  # e.g. a role that may replicate but not install the DDL trigger
            reason = f"{UNAVAILABLE}: setting change capture up failed: {exc}"
            log.warning("%s", reason)
            return reason
        if shipped.created_slot:
            log.info("change capture set up (slot %s): this backup is a point-in-time base", slot)
    return None


def _dump_schema(db, tools, snapshot: Snapshot, store, keyring, key: str, level: int) -> StoredObject:
    proc = db.start_dump(tools, snapshot, "--format=custom", "--compress=0", "--schema-only")
    with store.open_write(key) as sink, ArchiveWriter(sink, keyring, level=level) as writer:
        while chunk := proc.stdout.read(READ_BYTES):
            writer.write(chunk)
        proc.finish("pg_dump --schema-only", db.display)
        info = writer.close()
    return _stored("schema.pgdump.dgar", info)


def _dump_data(db, tools, snapshot, store, keyring, prefix, level, report, estimate):
    proc = db.start_dump(tools, snapshot, "--format=plain", "--section=data", "--no-owner", "--no-privileges")
    splitter = CopySplitter(store, keyring, prefix, level)
    try:
        fd = proc.stdout.fileno()
        done = 0
        while chunk := os.read(fd, READ_BYTES):
            splitter.feed(chunk)
            done += len(chunk)
            report(Progress("data", done, estimate, splitter.current_table or ""))
        proc.finish("pg_dump --section=data", db.display)
        return splitter.finish()
    except BaseException:
        proc.kill()
        splitter.abort()
        raise


class CopySplitter:
    """Routes a plain pg_dump data-section stream: COPY blocks to one sealed object per table, the rest
    (sequence values, large objects, psql meta-commands) to one 'misc' SQL object replayed by psql."""

    def __init__(self, store: Store, keyring: Keyring, prefix: str, level: int) -> None:
        self.store, self.keyring, self.prefix, self.level = store, keyring, prefix, level
        self.tables: list[TableEntry] = []
        self.current_table: str | None = None
        self._header = ""
        self._rows = 0
        self._carry = b""
        self._line_start = True
        self._writer: ArchiveWriter | None = None
        self._sink_cm = None
        self._misc_cm = store.open_write(f"{prefix}/misc.sql.dgar")
        self._misc_writer = ArchiveWriter(self._misc_cm.__enter__(), keyring, level=level)

    def feed(self, chunk: bytes) -> None:
        buf = self._carry + chunk if self._carry else chunk
        self._carry = b""
        pos = 0
        while pos < len(buf):
            if self._writer is None:
                newline = buf.find(b"\n", pos)
                if newline < 0:
                    self._carry = buf[pos:]
                    return
                line = buf[pos : newline + 1]
                pos = newline + 1
                if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                    self._open_table(line.decode().rstrip("\n"))
                else:
                    self._misc_writer.write(line)
                continue
            pos = self._feed_copy(buf, pos)

    def _feed_copy(self, buf: bytes, pos: int) -> int:
        """Write COPY data up to its terminator line; returns where the caller continues.

        The terminator is the line `\\.`; in the data a backslash is always escaped, so `\\.` can only
        be the terminator when it starts a line. `_line_start` says whether `pos` does."""
        if self._line_start:
            if buf.startswith(TERMINATOR, pos):
                self._close_table()
                return pos + len(TERMINATOR)
            if len(buf) - pos < len(TERMINATOR) and TERMINATOR.startswith(buf[pos:]):
                self._carry = buf[pos:]  # too short to decide: wait for the next read
                return len(buf)
        end = buf.find(b"\n" + TERMINATOR, pos)
        if end >= 0:
            self._write_rows(buf[pos : end + 1])
            self._close_table()
            return end + 1 + len(TERMINATOR)
        last_newline = buf.rfind(b"\n", pos)
        rest = buf[last_newline + 1 :] if last_newline >= 0 else None
        if rest is not None and len(rest) < len(TERMINATOR) and TERMINATOR.startswith(rest):
            self._write_rows(buf[pos : last_newline + 1])  # the line after it may be the terminator
            self._carry, self._line_start = rest, True
        else:
            self._write_rows(buf[pos:])
            self._line_start = False
        return len(buf)

    def _write_rows(self, data: bytes) -> None:
        self._rows += data.count(b"\n")
        self._writer.write(data)

    def _open_table(self, header: str) -> None:
        match = COPY_HEADER.match(header)
        if not match:
            raise SourceError(f"unexpected COPY line in pg_dump output: {header[:120]!r}")
        self._key = f"data/{len(self.tables) + 1:05d}.copy.dgar"
        self._sink_cm = self.store.open_write(f"{self.prefix}/{self._key}")
        self._writer = ArchiveWriter(self._sink_cm.__enter__(), self.keyring, level=self.level)
        self.current_table, self._header, self._rows = match.group(1), header, 0
        self._line_start = True

    def _close_table(self) -> None:
        info = self._writer.close()
        self._sink_cm.__exit__(None, None, None)
        self.tables.append(
            TableEntry(
                name=self.current_table,
                copy_header=self._header,
                rows=self._rows,
                object=_stored(self._key, info),
            )
        )
        self._writer, self._sink_cm, self.current_table = None, None, None

    def finish(self) -> tuple[list[TableEntry], StoredObject]:
        if self._writer is not None or self._carry:
            raise SourceError("pg_dump output ended inside a COPY block: the dump is incomplete")
        info = self._misc_writer.close()
        self._misc_cm.__exit__(None, None, None)
        return self.tables, _stored("misc.sql.dgar", info)

    def abort(self) -> None:
        error = RuntimeError("backup aborted")
        for writer, cm in ((self._writer, self._sink_cm), (self._misc_writer, self._misc_cm)):
            if writer is not None:
                writer.abort()
            if cm is not None:
                with contextlib.suppress(RuntimeError):
                    cm.__exit__(RuntimeError, error, None)


def _stored(key: str, info) -> StoredObject:
    return StoredObject(
        key=key,
        content_bytes=info.content_bytes,
        content_sha256=info.content_sha256,
        sealed_bytes=info.sealed.sealed_bytes,
        sealed_sha256=info.sealed.sealed_sha256,
        chunks=info.sealed.chunks,
        key_id=info.sealed.key_id,
    )


def _estimate_bytes(conn) -> int:
    """Heap size of the user tables: a fair guess at the COPY text volume, for progress bars."""
    row = conn.execute(
        "SELECT coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN"
        " ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
    ).fetchone()
    return int(row[0])


def _populated_matviews(conn) -> list[str]:
    """pg_dump's data section leaves materialized views empty; restore refreshes these."""
    rows = conn.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE c.relkind = 'm' AND c.relispopulated"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY c.oid"
    ).fetchall()
    return [r[0] for r in rows]


def _publish(store: Store, manifest: Manifest) -> Manifest:
    """Publish the manifest (last), then drop what it replaces. Runs under the backup lock."""
    store.put_bytes(manifest.key, manifest.to_json().encode())
    _drop_replaced(store, manifest)
    return manifest


def _drop_replaced(store: Store, manifest: Manifest) -> None:
    """A re-run of a partition replaces it: once the new manifest is published, every other set of the
    partition goes: earlier published ones, and sets without a manifest that a killed run left behind (the
    backup lock guarantees that none of them is still being written)."""
    for key in store.glob(f"backups/{manifest.backup_type}/{manifest.partition}/*"):
        if key.rsplit("/", 1)[-1] != manifest.backup_id:
            log.info("replacing %s with %s", key.rsplit("/", 1)[-1], manifest.backup_id)
            store.delete_prefix(key)
