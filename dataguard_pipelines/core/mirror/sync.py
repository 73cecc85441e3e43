"""One sync of one resource for one company: fetch, store idempotently, export, then move the cursor.

Modes: `incremental` (cursor minus a lookback, every 30 min), `sweep` (bookings by start time over
-30 d..+365 d, catching rows whose updatedAt is null or did not move; calls without a start), and
`reconcile` (the full id set; ids the source no longer has are soft-deleted, never removed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dataguard_pipelines.core.errors import ConfigError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.mirror.export import export_mirror
from dataguard_pipelines.core.mirror.records import (
    TERMINAL_CALL_STATUSES,
    booking_record,
    call_needs_refetch,
    call_record,
    event_type_record,
)
from dataguard_pipelines.core.mirror.schema import ensure_schema
from dataguard_pipelines.core.mirror.table import MirrorRecord, MirrorTable
from dataguard_pipelines.core.store import Store

MODES = ("incremental", "sweep", "reconcile")
BOOKINGS_LOOKBACK = timedelta(hours=6)
CALLS_LOOKBACK = timedelta(hours=24)
SWEEP_PAST, SWEEP_FUTURE = timedelta(days=30), timedelta(days=365)
EVERYTHING_START = datetime(2000, 1, 1, tzinfo=UTC)
CALL_BATCH = 200


@dataclass(frozen=True)
class SyncResult:
    """What one sync did, for run metadata and the CLI."""

    resource: str
    company_id: str
    mode: str
    requests: int
    pages: int
    retries: int
    rate_limit_waits: int
    rate_limit_wait_s: float
    new: int
    changed: int
    unchanged: int
    deleted: int
    rows: int
    cursor: str | None
    duration_s: float
    current_key: str
    history_key: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_resource(
    resource: str,
    *,
    conn,
    store: Store,
    keyring: Keyring,
    client,
    company_id: str,
    mode: str = "incremental",
    now: datetime | None = None,
) -> SyncResult:
    """Dispatch to the resource's sync; `client` is the company's own CalcomClient or RetellClient."""
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    started, now = time.monotonic(), now or datetime.now(UTC)
    ensure_schema(conn)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    table = MirrorTable(conn, resource, company_id, run_id, now)
    sync = {"calcom_event_types": _event_types, "calcom_bookings": _bookings, "retell_calls": _calls}[
        resource
    ]
    cursor = sync(table, client, mode, now)
    exported = export_mirror(conn, store, keyring, resource, company_id, run_id)
    if cursor is not None:
        table.save_cursor(cursor)  # only now: every page and both snapshots are stored
    stats = client.stats
    return SyncResult(
        resource=resource,
        company_id=company_id,
        mode=mode,
        requests=stats.requests,
        pages=stats.pages,
        retries=stats.retries,
        rate_limit_waits=stats.rate_limit_waits,
        rate_limit_wait_s=round(stats.rate_limit_wait_s, 2),
        new=table.counts.new,
        changed=table.counts.changed,
        unchanged=table.counts.unchanged,
        deleted=table.counts.deleted,
        rows=exported.current_rows,
        cursor=cursor or table.load_cursor(),
        duration_s=round(time.monotonic() - started, 3),
        current_key=exported.current_key,
        history_key=exported.history_key,
    )


def _event_types(table: MirrorTable, client, mode: str, now: datetime) -> None:
    """Small and unpaginated: the full list every run doubles as its reconciliation."""
    event_types = client.list_event_types()
    table.apply(event_type_record(t) for t in event_types)
    table.soft_delete_missing({str(t.id) for t in event_types})


def _bookings(table: MirrorTable, client, mode: str, now: datetime) -> str | None:
    """Keyset pages by updatedAt after the first run; the first run and `reconcile` scan everything by start
    time (rows whose updatedAt is null are only reachable that way), `sweep` a window around today."""
    stored = table.load_cursor()
    newest = datetime.fromisoformat(stored) if stored else None
    if mode == "incremental" and stored:
        pages = client.iter_bookings_updated(after=newest - BOOKINGS_LOOKBACK, before=now)
    elif mode == "sweep":
        pages = client.iter_bookings_by_start(after_start=now - SWEEP_PAST, before_end=now + SWEEP_FUTURE)
    else:
        pages = client.iter_bookings_by_start(after_start=EVERYTHING_START, before_end=now + 5 * SWEEP_FUTURE)
    seen: set[str] = set()
    for page in pages:
        records = [booking_record(b) for b in page.bookings]
        seen.update(r.id for r in records)
        table.apply(records)
        stamps = [r.source_updated_at for r in records if r.source_updated_at and r.source_updated_at <= now]
        newest = max([newest, *stamps] if newest else stamps, default=newest)
    if mode == "reconcile":
        table.soft_delete_missing(seen)
    return newest.isoformat() if newest and mode == "incremental" else None


def _calls(table: MirrorTable, client, mode: str, now: datetime) -> str | None:
    stored = table.load_cursor()
    if mode == "incremental":
        start_after = int(stored) - int(CALLS_LOOKBACK.total_seconds() * 1000) if stored else None
        summaries = client.iter_calls(start_after_ms=start_after)
    elif mode == "sweep":  # calls that never started have no start_timestamp: list them by status
        summaries = client.iter_calls(
            start_after_ms=None, statuses=["registered", "ongoing", "not_connected", "error"]
        )
    else:
        summaries = client.iter_calls(start_after_ms=None)
    newest = int(stored) if stored else None
    seen: set[str] = set()
    for batch in _chunks(summaries, CALL_BATCH):
        seen.update(s.call_id for s in batch)
        local = _local_call_states(table, [s.call_id for s in batch])
        wanted = [s for s in batch if call_needs_refetch(s, local.get(s.call_id), now)]
        table.apply(_full_calls(client, [s.call_id for s in wanted]))
        starts = [s.start_timestamp_ms for s in batch if s.start_timestamp_ms is not None]
        newest = max([newest, *starts] if newest is not None else starts, default=newest)
    moving = [cid for cid in _moving_call_ids(table) if cid not in seen]
    table.apply(_full_calls(client, moving))
    if mode == "reconcile":
        table.soft_delete_missing(seen)
    return str(newest) if newest is not None and mode == "incremental" else None


def _full_calls(client, call_ids: Iterable[str]) -> Iterator[MirrorRecord]:
    for call_id in call_ids:
        call = client.get_call(call_id)
        if call is not None:  # a 404 means deleted at the source: reconciliation soft-deletes it
            yield call_record(call)


def _local_call_states(
    table: MirrorTable, ids: list[str]
) -> dict[str, tuple[str | None, bool, datetime | None]]:
    rows = table.conn.execute(
        "SELECT id, status, coalesce(raw->'call_analysis', 'null'::jsonb) <> 'null'::jsonb, ends_at"
        " FROM dataguard.retell_calls WHERE company_id = %s AND deleted_at IS NULL AND id = ANY(%s)",
        (table.company_id, ids),
    )
    return {row[0]: (row[1], bool(row[2]), row[3]) for row in rows}


def _moving_call_ids(table: MirrorTable) -> list[str]:
    """Calls we hold that were still moving (long calls, late analysis): refetched whatever the window."""
    rows = table.conn.execute(
        "SELECT id FROM dataguard.retell_calls WHERE company_id = %s AND deleted_at IS NULL"
        " AND coalesce(status, '') <> ALL(%s)",
        (table.company_id, sorted(TERMINAL_CALL_STATUSES)),
    )
    return [row[0] for row in rows]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
