"""Sealing an hour of changes: drain the slot, re-read the hour's segments, prove the chain has no gap.

The capture daemon ships continuously; the hourly seal is the audit on top. It works without the daemon
too (then it is the hourly incremental backup itself: RPO one hour instead of N seconds).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..engines.postgres import PostgresDatabase
from ..keys import Keyring
from ..pitr import pitr_bases
from ..store import Store
from .decoding import Commit, parse_event
from .lsn import parse_lsn
from .segments import Segment, changes_prefix, list_chains, list_segments, read_heartbeat, read_segment
from .shipper import ShipResult, ship_changes
from .slot import capture_blocker

if TYPE_CHECKING:
    from ..backup import BackupResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gap:
    """Changes between two LSNs that no segment holds."""

    after_lsn: str
    before_lsn: str
    after_commit_at: str | None
    before_commit_at: str | None

    def describe(self) -> str:
        return (
            f"no changes captured between LSN {self.after_lsn} ({self.after_commit_at or 'start'}) "
            f"and {self.before_lsn} ({self.before_commit_at or 'later'})"
        )


@dataclass
class HourSeal:
    hour: str
    start: datetime
    end: datetime
    segments: int = 0
    transactions: int = 0
    changes: int = 0
    sealed_bytes: int = 0
    first_lsn: str | None = None
    last_lsn: str | None = None
    shipped_through: datetime | None = None
    complete: bool = False
    gaps: list[Gap] = field(default_factory=list)
    drained: ShipResult | None = None
    base_backup: BackupResult | None = None  # taken by this seal: there was no point-in-time base
    pitr_reason: str | None = None  # why no base could be taken (the server does not allow a slot cut)

    @property
    def took_base_backup(self) -> bool:
        return self.base_backup is not None

    @property
    def lag_s(self) -> float | None:
        """How far behind now the shipped stream is: the RPO at this moment."""
        if self.shipped_through is None:
            return None
        return max(0.0, (datetime.now(UTC) - self.shipped_through).total_seconds())


def find_gaps(segments: list[Segment]) -> list[Gap]:
    """Every place where a segment does not start where the previous one ended."""
    gaps = []
    for previous, segment in itertools.pairwise(segments):
        if segment.start != previous.end:
            gaps.append(
                Gap(previous.end_lsn, segment.start_lsn, previous.last_commit_at, segment.first_commit_at)
            )
    return gaps


def seal_hour(
    db: PostgresDatabase | None,
    store: Store,
    keyring: Keyring,
    slot: str,
    start: datetime,
    *,
    level: int = 1,
    take_base_backup: Callable[[], BackupResult] | None = None,
) -> HourSeal:
    """Drain the slot (when `db` is given), then verify and count the hour [start, start + 1 h).

    Changes are useless without a full backup cut on their chain: when there is none (capture just started,
    or the slot was re-created) and `take_base_backup` is given, the seal takes one, as pgBackRest promotes
    an incremental without a prior full to a full, and drains again so the base is restorable right away."""
    end = start + timedelta(hours=1)
    seal = HourSeal(hour=start.strftime("%Y-%m-%d-%H:%M"), start=start, end=end)
    if db is not None:
        seal.drained = ship_changes(db, store, keyring, slot, level=level)
        if take_base_backup is not None and not has_pitr_base(store, slot):
            _take_base_backup(db, store, keyring, slot, level, seal, take_base_backup)
    segments = list_segments(store, slot, ending_after=_previous_hour_start_lsn(store, slot, start))
    in_hour = [
        s
        for s in segments
        if s.first_commit is not None
        and s.first_commit < end
        and s.last_commit is not None
        and s.last_commit >= start
    ]
    for segment in in_hour:
        seal.segments += 1
        seal.sealed_bytes += segment.sealed_bytes
        transactions, changes = _count_in_hour(store, keyring, segment, start, end)  # checks the hash too
        seal.transactions += transactions
        seal.changes += changes
        seal.first_lsn = seal.first_lsn or segment.start_lsn
        seal.last_lsn = segment.end_lsn
    window_start = start - timedelta(hours=1)
    seal.gaps = [
        g
        for g in find_gaps(segments)
        if _within(g.before_commit_at, window_start, end) or _within(g.after_commit_at, window_start, end)
    ]
    chains = list_chains(store, slot)
    heartbeat = read_heartbeat(store, slot)
    if heartbeat is not None and chains and heartbeat.chain_lsn == chains[-1].lsn:
        seal.shipped_through = heartbeat.through_time
        seal.complete = heartbeat.through_time >= end
    _record(store, slot, seal)
    return seal


def has_pitr_base(store: Store, slot: str) -> bool:
    """A full backup is cut on the current chain: point-in-time restore can start after its cut."""
    chains = list_chains(store, slot)
    if not chains:
        return False
    return any(parse_lsn(m.consistency["lsn"]) >= chains[-1].start for m in pitr_bases(store, slot))


def _take_base_backup(
    db, store, keyring, slot, level, seal: HourSeal, take: Callable[[], BackupResult]
) -> None:
    if reason := capture_blocker(db, slot):
        seal.pitr_reason = reason  # a backup now could not be a base either
        return
    seal.base_backup = take()
    log.info(
        "no point-in-time base on the current chain: took full backup %s", seal.base_backup.manifest.backup_id
    )
    if not seal.base_backup.pitr_available:
        seal.pitr_reason = seal.base_backup.pitr_reason
        return
    again = ship_changes(db, store, keyring, slot, level=level)  # the heartbeat passes the cut now
    seal.drained.segments.extend(again.segments)
    seal.drained.through_lsn, seal.drained.through_at = again.through_lsn, again.through_at
    seal.drained.duration_s += again.duration_s


def _previous_hour_start_lsn(store: Store, slot: str, start: datetime) -> int:
    """Where the previous hour's segments began (from its seal), so an hour reads only recent index entries."""
    key = f"{changes_prefix(slot)}/hours/{(start - timedelta(hours=1)).strftime('%Y-%m-%d-%H:%M')}.json"
    if store.exists(key):
        first = json.loads(store.get_bytes(key)).get("first_lsn")
        if first:
            return parse_lsn(first) - 1
    return -1


def _count_in_hour(
    store: Store, keyring: Keyring, segment: Segment, start: datetime, end: datetime
) -> tuple[int, int]:
    """Transactions and row changes committed inside the hour (a segment may straddle its edges)."""
    transactions = changes = pending = 0
    for _lsn, _xid, data in read_segment(store, keyring, segment):
        if data.startswith("BEGIN "):
            pending = 0
        elif data.startswith("COMMIT "):
            commit = parse_event(data)
            assert isinstance(commit, Commit)
            if start <= commit.committed_at < end:
                transactions += 1
                changes += pending
        elif not data.startswith("message: "):
            pending += 1
    return transactions, changes


def _within(moment: str | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= datetime.fromisoformat(moment) < end


def _record(store: Store, slot: str, seal: HourSeal) -> None:
    document = {
        k: v
        for k, v in asdict(seal).items()
        if k not in ("drained", "gaps", "start", "end", "shipped_through")
    }
    document.update(
        start=seal.start.isoformat(),
        end=seal.end.isoformat(),
        shipped_through=seal.shipped_through.isoformat() if seal.shipped_through else None,
        gaps=[asdict(g) for g in seal.gaps],
        sealed_at=datetime.now(UTC).isoformat(),
    )
    store.put_bytes(f"{changes_prefix(slot)}/hours/{seal.hour}.json", json.dumps(document, indent=2).encode())
