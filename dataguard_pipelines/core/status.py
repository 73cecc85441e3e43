"""backup-status: the newest backup per type, how old it is, and whether a drill has proven it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from dataguard_pipelines.core.backup import pitr_unavailable_reason
from dataguard_pipelines.core.capture.lsn import parse_lsn
from dataguard_pipelines.core.capture.segments import (
    changes_prefix,
    list_chains,
    list_segments,
    read_heartbeat,
)
from dataguard_pipelines.core.capture.slot import UNAVAILABLE
from dataguard_pipelines.core.drill import drill_history
from dataguard_pipelines.core.manifest import Manifest, list_manifests
from dataguard_pipelines.core.store import Store

BACKUP_TYPES = ("full",)
OPTIONAL_TYPES = ("critical",)  # a row only once such a backup exists (critical tables every 6 hours)


@dataclass(frozen=True)
class BackupStatus:
    backup_type: str
    backup_id: str | None
    partition: str | None = None
    finished_at: str | None = None
    age_s: float | None = None
    stored_bytes: int = 0
    content_bytes: int = 0
    tables: int = 0
    rows: int = 0
    verified: bool = False
    last_drill_at: str | None = None
    last_drill_passed: bool | None = None
    last_drill_rto_s: float | None = None
    backups_total: int = 0
    pitr_available: bool | None = None  # full row: can point-in-time restore start from the newest backup?
    pitr_reason: str | None = None  # when not: one sentence with the fix

    def as_dict(self) -> dict:
        return asdict(self)


def backup_status(
    store: Store, now: datetime | None = None, *, capture_slot: str | None = None
) -> list[BackupStatus]:
    """One row per backup type; a `changes` row too when change capture of `capture_slot` is set up."""
    now = now or datetime.now(UTC)
    statuses = []
    loaded: dict[str, list] = {}
    for backup_type in BACKUP_TYPES:
        manifests = loaded[backup_type] = list_manifests(store, backup_type)
        if not manifests:
            statuses.append(
                BackupStatus(
                    backup_type=backup_type,
                    backup_id=None,
                    pitr_available=False,
                    pitr_reason=f"{UNAVAILABLE}: no full backup yet",
                )
            )
            continue
        newest = manifests[-1]
        drills = drill_history(store, newest)
        reason = _pitr_reason(newest, capture_slot)
        last = drills[-1] if drills else None
        statuses.append(
            BackupStatus(
                backup_type=backup_type,
                backup_id=newest.backup_id,
                partition=newest.partition,
                finished_at=newest.finished_at,
                age_s=round((now - newest.finished).total_seconds(), 1),
                stored_bytes=newest.stored_bytes,
                content_bytes=newest.content_bytes,
                tables=len(newest.tables),
                rows=newest.rows,
                verified=any(d.passed for d in drills),
                last_drill_at=last.started_at if last else None,
                last_drill_passed=last.passed if last else None,
                last_drill_rto_s=last.rto_s if last else None,
                backups_total=len(manifests),
                pitr_available=reason is None,
                pitr_reason=reason,
            )
        )
    for backup_type in OPTIONAL_TYPES:
        if manifests := list_manifests(store, backup_type):
            statuses.append(_snapshot_status(backup_type, manifests, now))
    if capture_slot and list_chains(store, capture_slot):
        cuts = [
            parse_lsn(m.consistency["lsn"])
            for m in loaded["full"]
            if m.consistency.get("kind") == "replication_slot"
            and m.consistency.get("slot_name") == capture_slot
        ]
        statuses.append(_changes_status(store, capture_slot, now, since_lsn=max(cuts, default=-1)))
    return statuses


def _snapshot_status(backup_type: str, manifests: list[Manifest], now: datetime) -> BackupStatus:
    """The newest snapshot of a type without drills (critical tables: verified by their restore's hashes)."""
    newest = manifests[-1]
    return BackupStatus(
        backup_type=backup_type,
        backup_id=newest.backup_id,
        partition=newest.partition,
        finished_at=newest.finished_at,
        age_s=round((now - newest.finished).total_seconds(), 1),
        stored_bytes=newest.stored_bytes,
        content_bytes=newest.content_bytes,
        tables=len(newest.tables),
        rows=newest.rows,
        backups_total=len(manifests),
    )


def _pitr_reason(manifest: Manifest, capture_slot: str | None) -> str | None:
    """Why point-in-time restore cannot start from this backup, or None."""
    reason = pitr_unavailable_reason(manifest.consistency)
    slot = manifest.consistency.get("slot_name")
    if reason is None and capture_slot is not None and slot != capture_slot:
        return (
            f"{UNAVAILABLE}: the newest full backup was cut for slot {slot!r}, not DATAGUARD_CAPTURE_SLOT="
            f"{capture_slot!r}; the next full backup cuts at the configured slot"
        )
    return reason


def _changes_status(store: Store, slot: str, now: datetime, *, since_lsn: int) -> BackupStatus:
    """The change stream since the newest full backup's cut; its age is how far shipping lags (the RPO now)."""
    segments = list_segments(store, slot, ending_after=since_lsn)
    heartbeat = read_heartbeat(store, slot)
    drill_keys = store.glob(f"{changes_prefix(slot)}/drills/*.json")
    last = json.loads(store.get_bytes(drill_keys[-1])) if drill_keys else None
    return BackupStatus(
        backup_type="changes",
        backup_id=f"{segments[0].start_lsn}..{segments[-1].end_lsn}" if segments else "no segments yet",
        finished_at=heartbeat.through_at if heartbeat else None,
        age_s=round((now - heartbeat.through_time).total_seconds(), 1) if heartbeat else None,
        stored_bytes=sum(s.sealed_bytes for s in segments),
        content_bytes=sum(s.content_bytes for s in segments),
        rows=sum(s.changes for s in segments),
        verified=bool(last and last["passed"]),
        last_drill_at=last["started_at"] if last else None,
        last_drill_passed=last["passed"] if last else None,
        last_drill_rto_s=last["rto_s"] if last else None,
        backups_total=len(segments),
    )
