"""Point-in-time recovery: the newest full backup cut before the target, then the captured changes up to it.

A full backup counts here only if its snapshot came from a replication slot (an exact cut); the chain of
segments from that cut to the target must have no gap. Every refusal says why and what is possible.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from .database import protected_database
from .engines.postgres import PostgresDatabase
from .errors import ConfigError, RestoreError, SourceError, VerificationError
from .keys import Keyring
from .manifest import Manifest, list_manifests
from .progress import Progress, ProgressFn, Throttle
from .restore import RestoreResult, restore_backup
from .settings import Settings
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


@dataclass(frozen=True)
class ResolvedTime:
    """A --to-time as the operator meant it: the UTC instant, the zone it was read in, both renderings.

    Callers print `local` and `utc` before a restore starts, so a wrong zone is seen before it costs an hour."""

    instant: datetime  # UTC
    zone: str  # an IANA name, or the offset written in the time ("UTC", "+02:00")
    zone_source: str  # "written in the time" | "DATAGUARD_TIMEZONE" | "the server's TimeZone"
    local: str  # the instant in `zone`: '2025-06-17 14:00:00+02:00 (CEST)'
    utc: str  # '2025-06-17 12:00:00+00:00'
    note: str | None = None  # set when a local time occurred twice (DST end): which one was taken

    def describe(self) -> str:
        text = f"{self.local} in {self.zone} ({self.zone_source}) = {self.utc}"
        return f"{text}; {self.note}" if self.note else text

    def as_dict(self) -> dict:
        return {**asdict(self), "instant": self.instant.isoformat()}


ZONE_FROM_SETTING = "DATAGUARD_TIMEZONE"
ZONE_FROM_SERVER = "the server's TimeZone"
ZONE_FROM_TEXT = "written in the time"


def resolve_target_time(text: str, *, zone: str | None, db: PostgresDatabase | None) -> ResolvedTime:
    """'YYYY-MM-DD HH:MM:SS[.ffffff][+TZ]' as an instant. A time without an offset is wall-clock time in
    `zone` (DATAGUARD_TIMEZONE), or when that is None in the protected server's own TimeZone (asked with
    SHOW TimeZone on `db`), as PostgreSQL's recovery_target_time reads it.

    At daylight-saving changes a wall-clock time that never happened (clocks jumped over it) is refused; one
    that happened twice (clocks went back) means the earlier of the two, and `note` says so."""
    value = _parse_time(text)
    if value.tzinfo is not None:
        instant = value.astimezone(UTC)
        offset = _format_offset(value.utcoffset())
        return ResolvedTime(
            instant=instant,
            zone="UTC" if offset == "+00:00" else offset,
            zone_source=ZONE_FROM_TEXT,
            local=value.isoformat(sep=" "),
            utc=instant.isoformat(sep=" "),
        )
    if zone is not None:
        name, source = zone, ZONE_FROM_SETTING
    elif db is not None:
        name, source = _server_zone(db), ZONE_FROM_SERVER
    else:
        raise ConfigError(
            f"{text!r} has no offset and no zone is known; give one such as '{text.strip()}+02:00' "
            "or set DATAGUARD_TIMEZONE"
        )
    tz = _zone(name, source)
    earlier = value.replace(tzinfo=tz, fold=0)
    if earlier.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
        raise ConfigError(
            f"{text.strip()!r} never happened in {name}: the clocks jumped over it when daylight saving time "
            "began; give a time before or after the jump, or one with an offset"
        )
    note = None
    later = value.replace(tzinfo=tz, fold=1)
    if later.utcoffset() != earlier.utcoffset():
        note = (
            f"{text.strip()} happened twice in {name} (daylight saving time ended); the earlier one "
            f"({_format_offset(earlier.utcoffset())}) is used, give {_format_offset(later.utcoffset())} "
            "to mean the later one"
        )
    instant = earlier.astimezone(UTC)
    return ResolvedTime(
        instant=instant,
        zone=name,
        zone_source=source,
        local=f"{earlier.isoformat(sep=' ')} ({earlier.tzname()})",
        utc=instant.isoformat(sep=" "),
        note=note,
    )


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ConfigError(f"{text!r} is not a time like '2025-06-17 14:00:00+02:00'") from None


def _server_zone(db: PostgresDatabase) -> str:
    """The TimeZone a session on the protected database starts with (database and role settings apply)."""
    try:
        with db.connect() as conn:
            return conn.execute("SHOW TimeZone").fetchone()[0]
    except SourceError as exc:
        raise ConfigError(
            f"a time without an offset means the protected server's TimeZone, but the server does not answer "
            f"({exc}); set DATAGUARD_TIMEZONE or give the time with an offset such as +02:00"
        ) from exc


def resolve_configured_time(text: str, settings: Settings) -> ResolvedTime:
    """resolve_target_time for a deployment: the protected server is asked for its zone only when the time
    has no offset and DATAGUARD_TIMEZONE is unset (in a disaster the server may be gone)."""
    if settings.timezone is not None or _parse_time(text).tzinfo is not None:
        return resolve_target_time(text, zone=settings.timezone, db=None)
    with protected_database(settings.database_url, settings.home) as db:
        return resolve_target_time(text, zone=None, db=db)


def _zone(name: str, source: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time zone {name!r} ({source}) is not an IANA zone this machine knows; set DATAGUARD_TIMEZONE "
            "to one such as Europe/Berlin, or give the time with an offset"
        ) from None


def _format_offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def pitr_bases(store: Store, slot: str) -> list[Manifest]:
    """Full backups cut at a snapshot of `slot`'s change stream, oldest first: the only possible starts."""
    return [
        m
        for m in list_manifests(store, "full")
        if m.consistency.get("kind") == "replication_slot" and m.consistency.get("slot_name") == slot
    ]


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
    backups = pitr_bases(store, slot)
    if not backups:
        raise RestoreError(
            f"no full backup was cut at a replication slot snapshot of {slot!r}: run `dataguard backup`, which "
            "sets change capture up where the server allows it (`dataguard backup-status` says why not)"
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
