"""Which backup the gate may start from: one of this database, proven by a passed restore drill, recent."""

from __future__ import annotations

from datetime import datetime, timedelta

from dataguard_pipelines.core.drill import drill_history
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.manifest import Manifest, list_manifests
from dataguard_pipelines.core.store import Store


def verified_backup(
    store: Store, db: PostgresDatabase, *, max_age: timedelta, now: datetime
) -> Manifest | None:
    """The newest full backup of `db` that finished within `max_age` of `now` and passed a restore drill."""
    info = db.server_info()
    for manifest in reversed(list_manifests(store, "full")):
        if now - manifest.finished > max_age:
            return None  # oldest-first list: every earlier one is older still
        source = manifest.source
        same_server = (
            not source.get("system_identifier") or source["system_identifier"] == info.system_identifier
        )
        if source.get("database") != info.database or not same_server:
            continue
        if any(record.passed for record in drill_history(store, manifest)):
            return manifest
    return None
