"""The manifest: what a backup set holds, published last so its presence means "complete".

Store layout (see docs/architecture.md):
    backups/<type>/<partition>/<backup_id>/manifest.json       published after every object below
    backups/<type>/<partition>/<backup_id>/<objects...>
    backups/<type>/<partition>/<backup_id>/drills/<time>.json  restore-drill records (verification history)

Types: `full` (pg_dump of the whole database) and `critical` (the critical tables as sealed Parquet every
6 hours, see core/critical/); both share this manifest, so listing, `verify` and `find_backup` see both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataguard_pipelines.core.errors import FormatError, StoreError, UnknownVersionError
from dataguard_pipelines.core.store import Store

MANIFEST_FORMAT = "dataguard-manifest"
MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class StoredObject:
    """One sealed object and the hashes that prove it intact."""

    key: str
    content_bytes: int
    content_sha256: str
    sealed_bytes: int
    sealed_sha256: str
    chunks: int
    key_id: str


@dataclass(frozen=True)
class TableEntry:
    """One table's data: where it is, how many rows, and the SHA-256 of its COPY text."""

    name: str
    copy_header: str
    rows: int
    object: StoredObject


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    backup_type: str
    partition: str
    source: dict[str, Any]
    tool: dict[str, Any]
    started_at: str
    finished_at: str
    consistency: dict[str, Any]
    compression: dict[str, Any]
    key_id: str
    schema: StoredObject
    misc: StoredObject | None  # full backups: the data section's SQL; critical snapshots have none
    tables: tuple[TableEntry, ...]
    materialized_views: tuple[str, ...] = ()
    format: str = MANIFEST_FORMAT
    version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"backups/{self.backup_type}/{self.partition}/{self.backup_id}"

    @property
    def key(self) -> str:
        return f"{self.prefix}/{MANIFEST_NAME}"

    def objects(self) -> list[StoredObject]:
        return [o for o in (self.schema, self.misc, *(t.object for t in self.tables)) if o is not None]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def content_bytes(self) -> int:
        return sum(o.content_bytes for o in self.objects())

    @property
    def stored_bytes(self) -> int:
        return sum(o.sealed_bytes for o in self.objects())

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)

    @property
    def duration_s(self) -> float:
        return (self.finished - datetime.fromisoformat(self.started_at)).total_seconds()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, name: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FormatError(f"{name} is not valid JSON: the manifest is damaged") from exc
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise FormatError(f"{name} is not a dataguard manifest")
        if data.get("version", 0) > MANIFEST_VERSION:
            raise UnknownVersionError(
                f"{name}: manifest version {data['version']} is newer than this build reads "
                f"({MANIFEST_VERSION}); upgrade dataguard to restore it"
            )
        try:
            data["schema"] = StoredObject(**data["schema"])
            data["misc"] = StoredObject(**data["misc"]) if data.get("misc") else None
            data["tables"] = tuple(
                TableEntry(**{**t, "object": StoredObject(**t["object"])}) for t in data["tables"]
            )
            data["materialized_views"] = tuple(data.get("materialized_views", ()))
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{name} lacks a required field ({exc}); the manifest is damaged") from exc


def list_manifests(store: Store, backup_type: str = "*") -> list[Manifest]:
    """Every published manifest, oldest first (by finish time, never by name)."""
    manifests = [
        load_manifest(store, key) for key in store.glob(f"backups/{backup_type}/*/*/{MANIFEST_NAME}")
    ]
    return sorted(manifests, key=lambda m: m.finished_at)


def load_manifest(store: Store, key: str) -> Manifest:
    return Manifest.from_json(store.get_bytes(key).decode(), name=store.uri(key))


def find_backup(store: Store, backup_id: str | None, backup_type: str = "full") -> Manifest:
    """The named backup, or the newest one of the type."""
    if backup_id:
        keys = store.glob(f"backups/*/*/{backup_id}/{MANIFEST_NAME}")
        if not keys:
            raise StoreError(f"no backup {backup_id!r} in {store.url}; `dataguard backup-status` lists them")
        return load_manifest(store, keys[0])
    manifests = list_manifests(store, backup_type)
    if not manifests:
        raise StoreError(
            f"no {backup_type} backup in {store.url} yet; run `dataguard backup --type {backup_type}`"
        )
    return manifests[-1]


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
