"""backup-status: the newest backup per type, how old it is, and whether a drill has proven it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from dataguard_pipelines.core.drill import drill_history
from dataguard_pipelines.core.manifest import list_manifests
from dataguard_pipelines.core.store import Store

BACKUP_TYPES = ("full",)


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

    def as_dict(self) -> dict:
        return asdict(self)


def backup_status(store: Store, now: datetime | None = None) -> list[BackupStatus]:
    now = now or datetime.now(UTC)
    statuses = []
    for backup_type in BACKUP_TYPES:
        manifests = list_manifests(store, backup_type)
        if not manifests:
            statuses.append(BackupStatus(backup_type=backup_type, backup_id=None))
            continue
        newest = manifests[-1]
        drills = drill_history(store, newest)
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
            )
        )
    return statuses
