"""Idempotent writes into one company's mirror of one resource: new/changed/unchanged by content hash,
every change appended to the history, soft deletes for what the source no longer has."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class MirrorRecord:
    """One vendor object, reduced to the columns every resource shares."""

    id: str
    raw: Mapping[str, Any]
    status: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source_updated_at: datetime | None = None
    link_from: str | None = None
    link_to: str | None = None
    uid: str | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.raw)


def content_hash(raw: Mapping[str, Any]) -> str:
    """SHA-256 of canonical JSON: key order and whitespace never count as a change."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0


class MirrorTable:
    """Writes for (resource, company) within one run; each `apply` commits (a page is the unit of progress)."""

    def __init__(self, conn, resource: str, company_id: str, run_id: str, now: datetime) -> None:
        self.conn, self.resource, self.company_id, self.run_id, self.now = (
            conn,
            resource,
            company_id,
            run_id,
            now,
        )
        self.counts = Counts()
        self.table = f"dataguard.{resource}"

    def apply(self, records: Iterable[MirrorRecord]) -> None:
        batch = {r.id: r for r in records}  # a page may repeat a boundary row: last one wins
        if not batch:
            return
        with self.conn.transaction():
            known = dict(
                self.conn.execute(
                    f"SELECT id, content_hash FROM {self.table} WHERE company_id = %s AND id = ANY(%s)"
                    " AND deleted_at IS NULL",
                    (self.company_id, list(batch)),
                ).fetchall()
            )
            for record in batch.values():
                digest = record.content_hash
                if known.get(record.id) == digest:
                    self.counts.unchanged += 1
                    continue
                change = "changed" if record.id in known else "new"
                setattr(self.counts, change, getattr(self.counts, change) + 1)
                self._upsert(record, digest)
                self._history(record.id, change, digest, record.raw)

    def _upsert(self, record: MirrorRecord, digest: str) -> None:
        self.conn.execute(
            f"""INSERT INTO {self.table} AS t (company_id, id, status, starts_at, ends_at, source_updated_at,
                    link_from, link_to, uid, content_hash, raw, first_seen_at, fetched_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (company_id, id) DO UPDATE SET status = excluded.status,
                    starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                    source_updated_at = excluded.source_updated_at, link_from = excluded.link_from,
                    link_to = excluded.link_to, uid = excluded.uid, content_hash = excluded.content_hash,
                    raw = excluded.raw, fetched_at = excluded.fetched_at, deleted_at = NULL, missing_count = 0""",
            (
                self.company_id,
                record.id,
                record.status,
                record.starts_at,
                record.ends_at,
                record.source_updated_at,
                record.link_from,
                record.link_to,
                record.uid,
                digest,
                Jsonb(dict(record.raw)),
                self.now,
                self.now,
            ),
        )

    def _history(self, record_id: str, change: str, digest: str, raw: Mapping[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO dataguard.mirror_changes (company_id, resource, id, change, content_hash, raw, changed_at,"
            " run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                self.company_id,
                self.resource,
                record_id,
                change,
                digest,
                Jsonb(dict(raw)),
                self.now,
                self.run_id,
            ),
        )

    def soft_delete_missing(self, present_ids: set[str], *, grace: int = 2) -> None:
        """Reconciliation: ids the source no longer lists are marked deleted after `grace` misses in a row.

        Never a hard delete: the mirror exists precisely for data the vendor lost or removed. Only ids and
        counters are read here (not the raw JSON), so memory stays small whatever the mirror's size."""
        with self.conn.transaction():
            rows = self.conn.execute(
                f"SELECT id, missing_count FROM {self.table} WHERE company_id = %s AND deleted_at IS NULL",
                (self.company_id,),
            ).fetchall()
            back = [rid for rid, missing in rows if rid in present_ids and missing]
            absent = [(rid, missing) for rid, missing in rows if rid not in present_ids]
            gone = [rid for rid, missing in absent if missing + 1 >= grace]
            missed = [rid for rid, missing in absent if missing + 1 < grace]
            self.conn.execute(
                f"UPDATE {self.table} SET missing_count = 0 WHERE company_id = %s AND id = ANY(%s)",
                (self.company_id, back),
            )
            self.conn.execute(
                f"UPDATE {self.table} SET missing_count = missing_count + 1 WHERE company_id = %s AND id = ANY(%s)",
                (self.company_id, missed),
            )
            for record_id in gone:
                digest, raw = self.conn.execute(
                    f"UPDATE {self.table} SET deleted_at = %s, missing_count = missing_count + 1"
                    " WHERE company_id = %s AND id = %s RETURNING content_hash, raw",
                    (self.now, self.company_id, record_id),
                ).fetchone()
                self._history(record_id, "deleted", digest, raw)
                self.counts.deleted += 1

    def load_cursor(self) -> str | None:
        row = self.conn.execute(
            "SELECT cursor FROM dataguard.mirror_cursors WHERE company_id = %s AND resource = %s",
            (self.company_id, self.resource),
        ).fetchone()
        return row[0] if row else None

    def save_cursor(self, cursor: str) -> None:
        """Called only after every page up to `cursor` is committed: the cursor never passes unstored data."""
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO dataguard.mirror_cursors (company_id, resource, cursor, updated_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (company_id, resource) DO UPDATE"
                " SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                (self.company_id, self.resource, cursor, self.now),
            )

    def live_ids(self) -> set[str]:
        return {
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM {self.table} WHERE company_id = %s AND deleted_at IS NULL",
                (self.company_id,),
            )
        }
