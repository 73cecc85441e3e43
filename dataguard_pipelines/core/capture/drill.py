"""The point-in-time drill: the change stream counts only once a replay of it matched the live database.

It cuts the live database at a temporary slot's snapshot and fingerprints every table inside that snapshot,
ships the changes, restores the newest full backup into a throwaway server, replays up to the exact cut,
and compares table by table. A pass proves full backup + segments reproduce the database exactly.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from ..engines.embedded import scratch_server
from ..engines.postgres import DUMP_SESSION_SETTINGS, PostgresDatabase
from ..errors import DataguardError
from ..keys import Keyring
from ..pitr import RecoveryTarget, plan_recovery, recover
from ..store import Store
from .lsn import parse_lsn
from .segments import changes_prefix
from .shipper import ship_changes
from .slot import slot_snapshot

log = logging.getLogger(__name__)

# Unlogged tables write no WAL, so no change of theirs is ever decoded: they restore as of the full backup.
_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence = 'p'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1
"""


@dataclass(frozen=True)
class PitrDrillRecord:
    started_at: str
    passed: bool
    backup_id: str
    cut_lsn: str
    tables_checked: int
    transactions_replayed: int
    changes_replayed: int
    rto_s: float
    mismatched_tables: list[str]
    error: str = ""


def table_fingerprints(conn) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent hash of each table, read under pg_dump's session settings."""
    for name, value in DUMP_SESSION_SETTINGS.items():
        conn.execute(f"SET {name} = '{value}'")
    result = {}
    for (table,) in conn.execute(_TABLES).fetchall():
        row = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') FROM {table} t"
        ).fetchone()
        result[table] = (int(row[0]), row[1])
    return result


def run_pitr_drill(
    db: PostgresDatabase, store: Store, keyring: Keyring, slot: str, *, jobs: int = 2, level: int = 1
) -> PitrDrillRecord:
    started_at = datetime.now(UTC)
    began = time.monotonic()
    backup_id, cut, error = "", "", ""
    checked = transactions = changes = 0
    mismatched: list[str] = []
    try:
        with slot_snapshot(db, slot) as (snapshot, reader):
            reference = table_fingerprints(reader)
            cut = snapshot.lsn
        ship_changes(db, store, keyring, slot, level=level)
        plan = plan_recovery(store, keyring, slot, RecoveryTarget(lsn=parse_lsn(cut)))
        backup_id = plan.backup.backup_id
        with scratch_server() as server:
            target = server.url("pitr_drill")
            result = recover(plan, store, keyring, target, jobs=jobs)
            transactions, changes = result.transactions, result.changes
            with PostgresDatabase(target).connect() as conn:
                restored = table_fingerprints(conn)
        checked = len(reference)
        mismatched = sorted(
            t for t in reference.keys() | restored.keys() if reference.get(t) != restored.get(t)
        )
    except DataguardError as exc:
        error = str(exc)
    record = PitrDrillRecord(
        started_at=started_at.isoformat(timespec="seconds"),
        passed=not error and not mismatched and checked > 0,
        backup_id=backup_id,
        cut_lsn=cut,
        tables_checked=checked,
        transactions_replayed=transactions,
        changes_replayed=changes,
        rto_s=round(time.monotonic() - began, 3),
        mismatched_tables=mismatched,
        error=error,
    )
    store.put_bytes(
        f"{changes_prefix(slot)}/drills/{started_at:%Y%m%dT%H%M%S%fZ}.json",
        json.dumps(asdict(record), indent=1, sort_keys=True).encode(),
    )
    log.info(
        "PITR drill: %s (%d tables, %d transactions replayed)",
        "passed" if record.passed else "FAILED",
        checked,
        transactions,
    )
    return record
