"""One shipping cycle: decode what the slot holds, seal it into segments, then let the slot forget it.

Exactly once, without trusting the slot's memory: the store is the truth. A cycle peeks (never consumes),
skips every transaction whose commit the store already holds, publishes new segments, and only then
advances the slot. A crash anywhere in between repeats work; it never loses or duplicates a transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..audit.blocked import BlockedAttempt, blocked_attempt, record_blocked_attempts
from ..engines.postgres import PostgresDatabase, _first_line
from ..errors import BusyError, SlotLostError, SourceError
from ..keys import Keyring
from ..store import Store
from .decoding import Commit, parse_event
from .lsn import format_lsn, lsn_key, parse_lsn
from .segments import (
    Heartbeat,
    Segment,
    SegmentWriter,
    list_chains,
    read_heartbeat,
    record_chain,
    segment_ranges,
    write_heartbeat,
)
from .slot import (
    DECODING_SESSION,
    check_logical_decoding,
    create_slot,
    ddl_trigger_installed,
    prepare_capture,
    slot_status,
)

log = logging.getLogger(__name__)

SEGMENT_BYTES = 64 * 1024 * 1024
"""Start a new segment after this much decoded text (at a transaction boundary)."""
SPOOL_BYTES = 16 * 1024 * 1024
"""A transaction larger than this waits for its COMMIT in a temporary file instead of memory."""
COMMIT_MARGIN = timedelta(seconds=1)
"""A commit's timestamp is taken just before its WAL record; the heartbeat claims a little less than it saw."""
FETCH_ROWS = 5000


@dataclass
class ShipResult:
    slot: str
    segments: list[Segment] = field(default_factory=list)
    through_lsn: str = ""
    through_at: datetime | None = None
    created_slot: bool = False
    duration_s: float = 0.0

    @property
    def transactions(self) -> int:
        return sum(s.transactions for s in self.segments)

    @property
    def changes(self) -> int:
        return sum(s.changes for s in self.segments)

    @property
    def sealed_bytes(self) -> int:
        return sum(s.sealed_bytes for s in self.segments)


def ship_changes(
    db: PostgresDatabase,
    store: Store,
    keyring: Keyring,
    slot: str,
    *,
    level: int = 1,
    segment_bytes: int = SEGMENT_BYTES,
    lock_wait_s: float = 120.0,
    on_segment: Callable[[Segment], None] | None = None,
) -> ShipResult:
    """Ship every transaction committed so far; creates the slot (and starts a chain) when there is none."""
    started = time.monotonic()
    result = ShipResult(slot=slot)
    with _capture_lock(db, slot, lock_wait_s) as conn:
        status = slot_status(db, slot)
        if status.lost:
            raise SlotLostError(
                f"replication slot {slot!r} on {db.display} lost WAL it still needed (max_slot_wal_keep_size); "
                "changes are missing: run `dataguard capture --recreate-slot`, then a full backup"
            )
        if not status.exists:
            check_logical_decoding(db)  # before touching the schema: capture may be impossible here
            prepare_capture(db)
            created = create_slot(db, slot)
            record_chain(store, slot, created.lsn, created.created_at)
            result.created_slot = True
            log.info(
                "created replication slot %s at %s: a new gap-free chain starts there", slot, created.lsn
            )
            status = slot_status(db, slot)
        elif not ddl_trigger_installed(db):
            log.warning(
                "the DDL capture trigger was dropped or disabled: DDL since then is missing; reinstalling"
            )
            prepare_capture(db)
        position, chain_lsn = _shipped_position(store, slot, status)
        flush_lsn, server_now = _flushed_position(conn)
        blocked: list[BlockedAttempt] = []
        writer: SegmentWriter | None = None
        try:
            for records, commit_lsn, committed_at in _transactions(conn, slot, flush_lsn, position, blocked):
                if writer is None:
                    writer = SegmentWriter(store, keyring, slot, position, level=level)
                writer.write_transaction(records, commit_lsn, committed_at)
                if writer.content_bytes >= segment_bytes:
                    position = _publish(writer, result, on_segment)
                    writer = None
            if writer is not None:
                position = _publish(writer, result, on_segment)
                writer = None
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        _record_blocked(db, store, blocked)  # before the slot moves past the messages
        through_at = (server_now - COMMIT_MARGIN).astimezone(UTC)
        write_heartbeat(  # before the slot moves: a crash in between must not look like a gap
            store,
            Heartbeat(
                slot=slot,
                chain_lsn=chain_lsn,
                through_lsn=flush_lsn,
                through_at=through_at.isoformat(),
                written_at=datetime.now(UTC).isoformat(),
                stream_end_lsn=format_lsn(position),
            ),
        )
        _advance(conn, slot, flush_lsn)
        result.through_lsn, result.through_at = flush_lsn, through_at
    result.duration_s = time.monotonic() - started
    return result


def _record_blocked(db: PostgresDatabase, store: Store, blocked: list[BlockedAttempt]) -> None:
    """Blocked guard violations into the audit trail (once each: keyed by the message's LSN). A failure is
    logged and retried next cycle while the slot still holds the message; it never stops shipping."""
    if not blocked:
        return
    try:
        entries = record_blocked_attempts(db, store, blocked)
    except Exception as exc:
        log.warning("could not record %d blocked guard violations in the audit trail: %s", len(blocked), exc)
        return
    for entry in entries:
        log.warning(
            "table guard blocked: %s", entry.parameters.get("command"), extra={"audit_seq": entry.seq}
        )


def _flushed_position(conn) -> tuple[str, datetime]:
    """A WAL position that every commit acknowledged before the returned time lies behind, flushed.

    Decoding reads only flushed WAL, and with synchronous_commit=off a commit is acknowledged before it is
    flushed; committing a transaction of our own synchronously flushes the WAL of everything before it."""
    server_now = conn.execute("SELECT statement_timestamp()").fetchone()[0]
    conn.commit()
    conn.execute("SET synchronous_commit = on")
    # An xid makes the commit write a record; a WAL write of our own makes that commit wait for the flush
    # (a transaction that wrote no WAL commits asynchronously). The message is outside every transaction:
    # the stream ignores it.
    conn.execute("SELECT txid_current(), pg_logical_emit_message(false, 'dataguard.flush', '')")
    conn.commit()
    flush_lsn = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0]
    conn.commit()
    return flush_lsn, server_now


def _publish(writer: SegmentWriter, result: ShipResult, on_segment) -> int:
    segment = writer.publish()
    result.segments.append(segment)
    log.info(
        "segment %s..%s: %d transactions, %d changes, %d bytes sealed",
        segment.start_lsn,
        segment.end_lsn,
        segment.transactions,
        segment.changes,
        segment.sealed_bytes,
    )
    if on_segment is not None:
        on_segment(segment)
    return segment.end


def _shipped_position(store: Store, slot: str, status) -> tuple[int, str]:
    """Where the store's stream ends (the newest segment's end, or the current chain's start) and the
    current chain's start LSN.

    A slot that was advanced past what the store covers (another shipper with another store, a wiped
    store) means changes in between are gone: a new chain starts at the slot's position, and the gap
    stays visible."""
    chains = list_chains(store, slot)
    confirmed = parse_lsn(status.confirmed_lsn)
    if not chains:
        return confirmed, record_chain(store, slot, status.confirmed_lsn, datetime.now(UTC)).lsn
    chain = chains[-1]
    heartbeat = read_heartbeat(store, slot)
    current = heartbeat is not None and heartbeat.chain_lsn == chain.lsn
    if current and heartbeat.stream_end_lsn:
        position = max(chain.start, parse_lsn(heartbeat.stream_end_lsn))
    else:  # no heartbeat of this chain yet: one full listing
        position = max(
            [chain.start, *(end for _, end, _ in segment_ranges(store, slot) if end > chain.start)]
        )
    while True:  # segments published after the heartbeat was written (a crash in between) still count
        following = segment_ranges(store, slot, f"{lsn_key(position)}-*")
        if not following:
            break
        position = max(end for _, end, _ in following)
    covered = max(position, heartbeat.through) if current else position
    if confirmed > covered:
        log.warning(
            "slot %s is at %s but the store's stream ends at %s: starting a new chain (a gap)",
            slot,
            status.confirmed_lsn,
            format_lsn(position),
        )
        return confirmed, record_chain(store, slot, status.confirmed_lsn, datetime.now(UTC)).lsn
    return position, chain.lsn


def _transactions(conn, slot: str, upto: str, shipped: int, blocked: list | None = None):
    """(records, commit_lsn, committed_at) of each non-empty transaction committed after `shipped`.

    Guard refusals (non-transactional messages outside every transaction) are collected into `blocked`."""
    with conn.cursor(name=f"dataguard_peek_{slot}") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            "SELECT (lsn - '0/0'::pg_lsn)::bigint, xid::text::bigint, data"
            " FROM pg_logical_slot_peek_changes(%s, %s::pg_lsn, NULL,"
            " 'include-xids', '1', 'include-timestamp', '1')",
            (slot, upto),
        )
        spool = _Spool()
        in_transaction = False
        for lsn, xid, data in cur:
            if data.startswith("BEGIN "):
                spool.reset()
                in_transaction = True
                spool.add((lsn, xid, data))
            elif data.startswith("COMMIT "):
                spool.add((lsn, xid, data))
                in_transaction = False
                if lsn > shipped and spool.count > 2:
                    event = parse_event(data)
                    assert isinstance(event, Commit)
                    yield spool.records(), lsn, event.committed_at
                spool.reset()
            elif in_transaction:
                spool.add((lsn, xid, data))
            elif blocked is not None and (attempt := blocked_attempt(format_lsn(lsn), data)) is not None:
                blocked.append(attempt)
        spool.reset()
    conn.commit()


class _Spool:
    """The records of the open transaction: in memory while small, in a temporary file when large."""

    def __init__(self) -> None:
        self._records: list = []
        self._bytes = 0
        self._file = None
        self.count = 0

    def add(self, record) -> None:
        self.count += 1
        if self._file is None:
            self._records.append(record)
            self._bytes += len(record[2])
            if self._bytes > SPOOL_BYTES:
                import pickle

                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by reset()
                for item in self._records:
                    pickle.dump(item, self._file)
                self._records = []
        else:
            import pickle

            pickle.dump(record, self._file)

    def records(self):
        if self._file is None:
            return self._records
        import pickle

        self._file.seek(0)
        out = []
        with contextlib.suppress(EOFError):
            while True:
                out.append(pickle.load(self._file))
        return out

    def reset(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._records = []
        self._bytes = 0
        self.count = 0


def _advance(conn, slot: str, lsn: str) -> None:
    """Let the slot release WAL before `lsn`; everything before it is in the store now."""
    try:
        conn.execute(
            "SELECT pg_replication_slot_advance(slot_name, %s::pg_lsn) FROM pg_replication_slots"
            " WHERE slot_name = %s AND confirmed_flush_lsn < %s::pg_lsn",
            (lsn, slot, lsn),
        )
        conn.commit()
    except Exception as exc:
        raise SourceError(f"cannot advance replication slot {slot!r}: {_first_line(exc)}") from exc


@contextlib.contextmanager
def _capture_lock(db: PostgresDatabase, slot: str, wait_s: float):
    """One shipper per slot: the daemon and an hourly seal take turns instead of racing."""
    conn = db.connect(autocommit=False)
    try:
        for name, value in DECODING_SESSION.items():
            conn.execute(f"SET {name} = '{value}'")
        conn.execute(f"SET lock_timeout = '{int(wait_s * 1000)}ms'")
        key = int.from_bytes(
            hashlib.sha256(f"dataguard-capture:{slot}".encode()).digest()[:8], "big", signed=True
        )
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except Exception as exc:
            raise BusyError(
                f"another dataguard shipper holds slot {slot!r}; it did not finish within {wait_s:.0f} s"
            ) from exc
        conn.execute("SET lock_timeout = 0")
        conn.commit()
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()
