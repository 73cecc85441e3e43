"""Is capture alive, and is its slot harmless? The answers behind the capture asset checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..engines.postgres import PostgresDatabase
from ..store import Store
from .segments import list_chains, list_segments, read_heartbeat, segment_ranges
from .slot import slot_status

MAX_SHIPPING_AGE_S = 120


@dataclass(frozen=True)
class Freshness:
    configured: bool
    passed: bool
    message: str
    shipped_through: datetime | None = None
    age_s: float | None = None
    newest_segment_at: datetime | None = None


@dataclass(frozen=True)
class SlotHygiene:
    passed: bool
    message: str
    retained_bytes: int = 0
    limit_bytes: int = 0
    active: bool = False
    wal_status: str | None = None


def capture_freshness(
    store: Store, slot: str, *, max_age_s: float = MAX_SHIPPING_AGE_S, now: datetime | None = None
) -> Freshness:
    """Fails when capture is set up (a chain exists) but nothing was shipped for `max_age_s`."""
    now = now or datetime.now(UTC)
    if not list_chains(store, slot):
        return Freshness(
            False, True, "change capture is not set up (no chain in the store); nothing to check"
        )
    heartbeat = read_heartbeat(store, slot)
    ranges = segment_ranges(store, slot)
    newest = list_segments(store, slot, ending_after=ranges[-1][1] - 1)[-1].last_commit if ranges else None
    if heartbeat is None:
        return Freshness(True, False, "capture is set up but has never shipped", newest_segment_at=newest)
    age = (now - datetime.fromisoformat(heartbeat.written_at)).total_seconds()
    passed = age <= max_age_s
    message = (
        f"shipped {age:.0f} s ago, through {heartbeat.through_time.isoformat(timespec='seconds')}"
        if passed
        else f"nothing shipped for {age:.0f} s (limit {max_age_s:.0f} s): is `dataguard capture` running?"
    )
    return Freshness(True, passed, message, heartbeat.through_time, age, newest)


def slot_hygiene(db: PostgresDatabase, slot: str, *, max_wal_bytes: int, configured: bool) -> SlotHygiene:
    """An abandoned slot pins WAL until the protected server's disk is full: fail well before that."""
    status = slot_status(db, slot)
    if not status.exists:
        if configured:
            return SlotHygiene(
                False, f"slot {slot!r} is missing while capture is set up: changes are not being captured"
            )
        return SlotHygiene(True, f"no slot {slot!r}: change capture is not set up", limit_bytes=max_wal_bytes)
    if status.lost:
        return SlotHygiene(
            False,
            f"slot {slot!r} lost WAL it needed; run `dataguard capture --recreate-slot`, then a full backup",
            status.retained_bytes,
            max_wal_bytes,
            status.active,
            status.wal_status,
        )
    passed = status.retained_bytes <= max_wal_bytes
    message = (
        f"slot {slot!r} retains {status.retained_bytes / 2**20:.1f} MiB of WAL (limit {max_wal_bytes / 2**20:.0f} MiB)"
        + ("" if passed else ": is `dataguard capture` running? If the slot is abandoned, drop it")
    )
    return SlotHygiene(
        passed, message, status.retained_bytes, max_wal_bytes, status.active, status.wal_status
    )
