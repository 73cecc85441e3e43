"""The restore drill: a backup counts only once a real restore of it has been verified.

It restores into a brand-new embedded PostgreSQL with the same function a real restore uses, compares
every table with the manifest, and records the result (with the measured RTO) beside the backup.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from dataguard_pipelines.core.engines.embedded import scratch_server
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import DataguardError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import Manifest, find_backup
from dataguard_pipelines.core.progress import ProgressFn
from dataguard_pipelines.core.restore import restore_backup
from dataguard_pipelines.core.store import Store
from dataguard_pipelines.core.verify import verify_restored

log = logging.getLogger(__name__)
DRILL_DATABASE = "drill"


@dataclass(frozen=True)
class DrillRecord:
    """What one drill proved; stored at <backup>/drills/<time>.json (the verification history)."""

    backup_id: str
    started_at: str
    passed: bool
    rto_s: float
    verify_s: float
    tables_checked: int
    rows_checked: int
    mismatched_tables: list[str]
    target_server: str
    error: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def run_drill(
    store: Store,
    keyring: Keyring,
    *,
    backup_id: str | None = None,
    jobs: int = 2,
    progress: ProgressFn | None = None,
) -> tuple[Manifest, DrillRecord]:
    """Restore the newest (or the named) full backup into a throwaway server and verify every table."""
    manifest = find_backup(store, backup_id)
    started_at = datetime.now(UTC)
    rto = verify_s = 0.0
    checks, error, server_version = [], "", ""
    try:
        with scratch_server() as server:
            target = server.url(DRILL_DATABASE)
            result = restore_backup(manifest, store, keyring, target, jobs=jobs, progress=progress)
            rto = result.duration_s
            began = time.monotonic()
            checks = verify_restored(PostgresDatabase(target), manifest, jobs=jobs)
            verify_s = time.monotonic() - began
            server_version = PostgresDatabase(target).server_info().version
    except DataguardError as exc:
        error = str(exc)
    mismatched = [c.name for c in checks if not c.ok]
    record = DrillRecord(
        backup_id=manifest.backup_id,
        started_at=started_at.isoformat(timespec="seconds"),
        passed=not error and not mismatched and len(checks) == len(manifest.tables),
        rto_s=round(rto, 3),
        verify_s=round(verify_s, 3),
        tables_checked=len(checks),
        rows_checked=sum(c.actual_rows for c in checks),
        mismatched_tables=mismatched,
        target_server=f"embedded PostgreSQL {server_version}".strip(),
        error=error,
    )
    store.put_bytes(f"{manifest.prefix}/drills/{started_at:%Y%m%dT%H%M%S%fZ}.json", record.to_json().encode())
    log.info(
        "restore drill of %s: %s (RTO %.1f s, %d tables)",
        manifest.backup_id,
        "passed" if record.passed else "FAILED",
        rto,
        len(checks),
    )
    return manifest, record


def drill_history(store: Store, manifest: Manifest) -> list[DrillRecord]:
    """Every drill of one backup, oldest first."""
    records = []
    for key in store.glob(f"{manifest.prefix}/drills/*.json"):
        records.append(DrillRecord(**json.loads(store.get_bytes(key))))
    return sorted(records, key=lambda r: r.started_at)
