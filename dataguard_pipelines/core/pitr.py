"""Point-in-time recovery: the newest full backup cut before the target, then the captured changes up to it.

A full backup counts here only if its snapshot came from a replication slot (an exact cut); the chain of
segments from that cut to the target must have no gap. Every refusal says why and what is possible.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .capture.lsn import format_lsn, parse_lsn
from .capture.replay import Replayer, iter_transactions, sync_sequences
from .capture.segments import (
    Segment,
    list_chains,
    list_segments,
    read_heartbeat,
    read_segment,
    sealed_mismatch,
)
from .engines.postgres import PostgresDatabase
from .errors import ConfigError, RestoreError, VerificationError
from .keys import Keyring
from .manifest import Manifest, list_manifests
from .progress import Progress, ProgressFn, Throttle
from .restore import RestoreResult, restore_backup
from .store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryTarget:
    """Exactly one of: a time (inclusive), a commit LSN (inclusive), a transaction id (stop just before it)."""

    time: datetime | None = None
    lsn: int | None = None
    xid: int | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.time, self.lsn, self.xid)) != 1:
            raise ConfigError("give exactly one of --to-time, --to-lsn and --to-xid")

    @property
    def stop_before_time(self) -> datetime | None:
        """Commits at or after this instant are not replayed: a whole-second target includes its second."""
        if self.time is None:
            return None
        return self.time + (timedelta(seconds=1) if self.time.microsecond == 0 else timedelta(microseconds=1))

    def describe(self) -> str:
        if self.time is not None:
            return f"time {self.time.isoformat()}"
        if self.lsn is not None:
            return f"LSN {format_lsn(self.lsn)}"
        return f"just before transaction {self.xid}"


def parse_target_time(text: str) -> datetime:
    """'YYYY-MM-DD HH:MM:SS[.ffffff][+TZ]'; without a zone the time is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ConfigError(f"{text!r} is not a time like '2025-06-17 14:00:00+02:00'") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class RecoveryPlan:
    backup: Manifest
    cut_lsn: int
    segments: tuple[Segment, ...]
    target: RecoveryTarget
    slot: str

    @property
    def changes_upper_bound(self) -> int:
        return sum(s.changes for s in self.segments)


@dataclass(frozen=True)
class RecoveryResult:
    plan: RecoveryPlan
    restore: RestoreResult
    transactions: int
    changes: int
    ddl: int
    last_commit_at: datetime | None
    last_commit_lsn: int | None
    replay_s: float
    duration_s: float

    @property
    def changes_per_s(self) -> float:
        return self.changes / self.replay_s if self.replay_s > 0 else 0.0


def plan_recovery(
    store: Store, keyring: Keyring, slot: str, target: RecoveryTarget, *, now: datetime | None = None
) -> RecoveryPlan:
    now = now or datetime.now(UTC)
    if target.time is not None and target.time > now:
        raise ConfigError(
            f"{target.time.isoformat()} is in the future (now is {now.isoformat(timespec='seconds')})"
        )
    backups = [
        m
        for m in list_manifests(store, "full")
        if m.consistency.get("kind") == "replication_slot" and m.consistency.get("slot_name") == slot
    ]
    if not backups:
        raise RestoreError(
            f"no full backup was cut at a replication slot snapshot of {slot!r}: point-in-time restore needs a "
            "full backup taken while change capture runs (start `dataguard capture`, then `dataguard backup`)"
        )
    stop_lsn = target.lsn
    if target.xid is not None:
        oldest_cut = min(parse_lsn(m.consistency["lsn"]) for m in backups)
        stop_lsn = (
            _commit_lsn_of(store, keyring, list_segments(store, slot, ending_after=oldest_cut), target.xid)
            - 1
        )
    backup = _choose_backup(backups, target, stop_lsn)
    cut = parse_lsn(backup.consistency["lsn"])
    segments = list_segments(store, slot, ending_after=cut)  # only the index entries after the cut are read
    chains = [c for c in list_chains(store, slot) if c.start <= cut]
    if not chains:
        raise RestoreError(f"change capture had not started when backup {backup.backup_id} was taken")
    needed = _needed_segments(store, slot, segments, cut, target, stop_lsn, chains[-1].lsn)
    return RecoveryPlan(backup=backup, cut_lsn=cut, segments=tuple(needed), target=target, slot=slot)


def recover(
    plan: RecoveryPlan,
    store: Store,
    keyring: Keyring,
    target_url: str,
    *,
    jobs: int = 2,
    source_url: str | None = None,
    force_overwrite_source: bool = False,
    progress: ProgressFn | None = None,
) -> RecoveryResult:
    """Restore the plan's full backup into `target_url`, then replay its changes up to the target."""
    started = time.monotonic()
    _check_sealed(store, plan.segments)
    restored = restore_backup(
        plan.backup,
        store,
        keyring,
        target_url,
        jobs=jobs,
        source_url=source_url,
        force_overwrite_source=force_overwrite_source,
        progress=progress,
    )
    report = Throttle(progress)
    replay_started = time.monotonic()
    stop_time = plan.target.stop_before_time
    last_at, last_lsn = None, None
    target = PostgresDatabase(target_url)
    with target.connect(autocommit=False) as conn:
        replayer = Replayer(conn)
        for tx in iter_transactions(store, keyring, plan.segments, after_lsn=plan.cut_lsn):
            if stop_time is not None and tx.committed_at >= stop_time:
                break
            if plan.target.lsn is not None and tx.commit_lsn > plan.target.lsn:
                break
            if plan.target.xid is not None and tx.xid == plan.target.xid:
                break
            replayer.apply(tx)
            last_at, last_lsn = tx.committed_at, tx.commit_lsn
            report(
                Progress("replay", replayer.changes, plan.changes_upper_bound, tx.committed_at.isoformat())
            )
        replayer.finish()
        sync_sequences(conn)
    replay_s = time.monotonic() - replay_started
    report(Progress("done", replayer.changes, replayer.changes, plan.target.describe()), force=True)
    log.info(
        "replayed %d transactions (%d changes, %d DDL) in %.1f s up to %s",
        replayer.transactions,
        replayer.changes,
        replayer.ddl,
        replay_s,
        plan.target.describe(),
    )
    return RecoveryResult(
        plan=plan,
        restore=restored,
        transactions=replayer.transactions,
        changes=replayer.changes,
        ddl=replayer.ddl,
        last_commit_at=last_at,
        last_commit_lsn=last_lsn,
        replay_s=replay_s,
        duration_s=time.monotonic() - started,
    )


def _check_sealed(store: Store, segments: tuple[Segment, ...]) -> None:
    """Every segment hashes as its index says before anything is restored: a damaged or swapped segment
    must stop the restore before the target holds half a replay."""
    for segment in segments:
        if problem := sealed_mismatch(store, segment):
            raise VerificationError(
                f"segment {store.uri(segment.data_key)} does not match its index entry ({problem}); "
                "nothing was restored"
            )


def _choose_backup(backups: list[Manifest], target: RecoveryTarget, stop_lsn: int | None) -> Manifest:
    def cut_time(m: Manifest) -> datetime:
        return datetime.fromisoformat(m.consistency["taken_at"])

    if target.time is not None:
        usable = [m for m in backups if cut_time(m) <= target.time]
        if not usable:
            oldest = min(backups, key=cut_time)
            raise ConfigError(
                f"{target.time.isoformat()} is before the oldest full backup usable for point-in-time restore "
                f"({oldest.backup_id}, cut at {cut_time(oldest).isoformat(timespec='seconds')})"
            )
        return max(usable, key=cut_time)
    usable = [m for m in backups if parse_lsn(m.consistency["lsn"]) <= stop_lsn]
    if not usable:
        what = "transaction" if target.xid is not None else "LSN"
        raise ConfigError(
            f"the target {what} lies before the oldest full backup usable for point-in-time restore"
        )
    return max(usable, key=lambda m: parse_lsn(m.consistency["lsn"]))


def _needed_segments(
    store: Store,
    slot: str,
    segments: list[Segment],
    cut: int,
    target: RecoveryTarget,
    stop_lsn: int | None,
    chain_lsn: str,
) -> list[Segment]:
    """The gap-free run of segments from the cut to the first one that reaches the target."""
    needed: list[Segment] = []
    position = cut
    for segment in (s for s in segments if s.end > cut):
        if segment.start > position:
            raise RestoreError(_gap_message(position, segment, needed, target))
        needed.append(segment)
        position = segment.end
        if _reaches(segment, target, stop_lsn):
            return needed
    heartbeat = read_heartbeat(store, slot)
    current = heartbeat is not None and heartbeat.chain_lsn == chain_lsn and heartbeat.through >= position
    if heartbeat is not None and heartbeat.chain_lsn != chain_lsn:
        raise RestoreError(
            f"the change stream has a gap after LSN {format_lsn(position)}: the capture slot was re-created at "
            f"{heartbeat.chain_lsn}; {target.describe()} lies after the last change captured before it "
            "(a full backup taken after the re-creation covers later times)"
        )
    if target.time is not None:
        if current and heartbeat.through_time >= target.time:
            return needed
        shipped = heartbeat.through_time.isoformat(timespec="seconds") if current else "an earlier point"
        raise RestoreError(
            f"changes are shipped up to {shipped}; {target.time.isoformat()} is later "
            "(is `dataguard capture` running? `dataguard backup --type incremental` ships what is pending)"
        )
    if current and stop_lsn is not None and heartbeat.through >= stop_lsn:
        return needed
    raise RestoreError(f"changes are not shipped up to the target {target.describe()} yet")


def _reaches(segment: Segment, target: RecoveryTarget, stop_lsn: int | None) -> bool:
    if target.time is not None:
        return segment.last_commit is not None and segment.last_commit >= target.stop_before_time
    return stop_lsn is not None and segment.end > stop_lsn


def _gap_message(position: int, segment: Segment, before: list[Segment], target: RecoveryTarget) -> str:
    last = before[-1].last_commit_at if before else None
    return (
        f"the change stream has a gap between LSN {format_lsn(position)} and {segment.start_lsn} "
        f"(changes there were never captured: the slot was re-created or a segment is missing); "
        f"{target.describe()} lies after it"
        + (f"; the latest restorable point before the gap is {last}" if last else "")
    )


def _commit_lsn_of(store: Store, keyring: Keyring, segments: list[Segment], xid: int) -> int:
    """The commit LSN of a captured transaction, searching the newest segments first."""
    marker = f"COMMIT {xid} "
    for segment in reversed(segments):
        for lsn, record_xid, data in read_segment(store, keyring, segment):
            if record_xid == xid and data.startswith(marker):
                return lsn
    raise ConfigError(
        f"transaction {xid} is not in the captured changes (it wrote nothing, or never committed)"
    )
