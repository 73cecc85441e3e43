"""Change segments in the store: sealed JSON lines of decoded changes, each naming the LSN range it covers.

Layout under `changes/<slot>/`:
  chains/<lsn>.json              one per slot creation: where a gap-free stream starts
  segments/<start>.jsonl.dgar    sealed JSON lines [lsn, xid, text], one per decoded row
  segments/<start>-<end>.json    the segment's index entry, published after its data object
  heartbeat.json                 how far the stream is shipped, rewritten every cycle

A segment covers the transactions whose commit ends in (start, end]; the next one starts where it ended,
so a missing or foreign segment shows up as `start != previous end`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from ..archive_stream import ArchiveWriter, iter_archive
from ..errors import FormatError, StoreError, VerificationError
from ..keys import Keyring
from ..store import Store
from .lsn import format_lsn, lsn_key, parse_lsn

Record = tuple[int, int, str]  # (lsn, xid, test_decoding text)


@dataclass(frozen=True)
class Segment:
    slot: str
    start_lsn: str
    end_lsn: str
    first_commit_at: str | None
    last_commit_at: str | None
    transactions: int
    changes: int
    content_bytes: int
    content_sha256: str
    sealed_bytes: int
    sealed_sha256: str
    key_id: str
    written_at: str

    @property
    def start(self) -> int:
        return parse_lsn(self.start_lsn)

    @property
    def end(self) -> int:
        return parse_lsn(self.end_lsn)

    @property
    def key(self) -> str:
        return f"{segments_prefix(self.slot)}/{lsn_key(self.start)}-{lsn_key(self.end)}"

    @property
    def data_key(self) -> str:
        return data_key(self.slot, self.start)

    @property
    def last_commit(self) -> datetime | None:
        return datetime.fromisoformat(self.last_commit_at) if self.last_commit_at else None

    @property
    def first_commit(self) -> datetime | None:
        return datetime.fromisoformat(self.first_commit_at) if self.first_commit_at else None


@dataclass(frozen=True)
class Chain:
    """A slot creation: the stream is gap-free from `lsn` on, as long as this slot lives."""

    slot: str
    lsn: str
    created_at: str

    @property
    def start(self) -> int:
        return parse_lsn(self.lsn)


@dataclass(frozen=True)
class Heartbeat:
    """Every transaction committed before `through_lsn` (and at least until `through_at`) is shipped."""

    slot: str
    chain_lsn: str
    through_lsn: str
    through_at: str
    written_at: str
    stream_end_lsn: str | None = None  # the newest segment's end when the heartbeat was written

    @property
    def through(self) -> int:
        return parse_lsn(self.through_lsn)

    @property
    def through_time(self) -> datetime:
        return datetime.fromisoformat(self.through_at)


def changes_prefix(slot: str) -> str:
    return f"changes/{slot}"


def segments_prefix(slot: str) -> str:
    return f"changes/{slot}/segments"


def data_key(slot: str, start: int) -> str:
    """Named by the start alone: the end is known only when the segment is finished."""
    return f"{segments_prefix(slot)}/{lsn_key(start)}.jsonl.dgar"


def segment_ranges(store: Store, slot: str, pattern: str = "*") -> list[tuple[int, int, str]]:
    """(start, end, index key) of published segments, from the key names alone (one listing, no reads)."""
    ranges = []
    for key in store.glob(f"{segments_prefix(slot)}/{pattern}.json"):
        name = key.rsplit("/", 1)[-1][: -len(".json")]
        try:
            start, end = (int(part, 16) for part in name.split("-"))
        except ValueError:
            continue  # not a segment index entry
        ranges.append((start, end, key))
    return sorted(ranges)


def list_segments(store: Store, slot: str, *, ending_after: int = -1) -> list[Segment]:
    """Published segments of the slot in LSN order; only those ending after `ending_after` are read."""
    segments = []
    for _start, end, key in segment_ranges(store, slot):
        if end <= ending_after:
            continue
        try:
            segments.append(Segment(**json.loads(store.get_bytes(key))))
        except (ValueError, TypeError) as exc:
            raise FormatError(
                f"segment index {store.uri(key)} is not valid ({exc.__class__.__name__})"
            ) from exc
    return sorted(segments, key=lambda s: (s.start, s.end))


def list_chains(store: Store, slot: str) -> list[Chain]:
    chains = []
    for key in store.glob(f"{changes_prefix(slot)}/chains/*.json"):
        try:
            chains.append(Chain(**json.loads(store.get_bytes(key))))
        except (ValueError, TypeError) as exc:
            raise FormatError(
                f"chain record {store.uri(key)} is not valid ({exc.__class__.__name__})"
            ) from exc
    return sorted(chains, key=lambda c: c.start)


def record_chain(store: Store, slot: str, lsn: str, created_at: datetime) -> Chain:
    chain = Chain(slot=slot, lsn=lsn, created_at=created_at.isoformat())
    store.put_bytes(f"{changes_prefix(slot)}/chains/{lsn_key(chain.start)}.json", _json(asdict(chain)))
    return chain


def read_heartbeat(store: Store, slot: str) -> Heartbeat | None:
    key = f"{changes_prefix(slot)}/heartbeat.json"
    if not store.exists(key):
        return None
    try:
        return Heartbeat(**json.loads(store.get_bytes(key)))
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{store.uri(key)} is not valid ({exc.__class__.__name__})") from exc


def write_heartbeat(store: Store, heartbeat: Heartbeat) -> None:
    store.put_bytes(f"{changes_prefix(heartbeat.slot)}/heartbeat.json", _json(asdict(heartbeat)))


def sweep_unpublished(store: Store, slot: str) -> int:
    """Delete data objects whose index entry was never published (a killed shipper); returns how many."""
    published = {data_key(slot, start) for start, _end, _key in segment_ranges(store, slot)}
    orphans = [k for k in store.glob(f"{segments_prefix(slot)}/*.jsonl.dgar") if k not in published]
    for key in orphans:
        store.delete_prefix(key)
    return len(orphans)


class SegmentWriter:
    """Streams records of whole transactions into one sealed object; `publish` writes the index last."""

    def __init__(self, store: Store, keyring: Keyring, slot: str, start_lsn: int, *, level: int = 1) -> None:
        self.store, self.keyring, self.slot, self.start = store, keyring, slot, start_lsn
        self._cm = store.open_write(data_key(slot, start_lsn))
        self._writer = ArchiveWriter(self._cm.__enter__(), keyring, level=level)
        self.transactions = 0
        self.changes = 0
        self.first_commit: datetime | None = None
        self.last_commit: datetime | None = None
        self.end = start_lsn

    @property
    def content_bytes(self) -> int:
        return self._writer.content_bytes

    def write_transaction(self, records: list[Record], commit_lsn: int, committed_at: datetime) -> None:
        self._writer.write(b"".join(_encode(r) for r in records))
        self.transactions += 1
        self.changes += len(records) - 2  # BEGIN and COMMIT are not changes
        self.first_commit = self.first_commit or committed_at
        self.last_commit = committed_at
        self.end = commit_lsn

    def abort(self) -> None:
        self._writer.abort()
        with contextlib.suppress(RuntimeError):  # the temporary object is removed, nothing is published
            self._cm.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def publish(self) -> Segment:
        """Close the data object under its final name, then publish the index entry."""
        info = self._writer.close()
        self._cm.__exit__(None, None, None)
        segment = Segment(
            slot=self.slot,
            start_lsn=format_lsn(self.start),
            end_lsn=format_lsn(self.end),
            first_commit_at=self.first_commit.isoformat() if self.first_commit else None,
            last_commit_at=self.last_commit.isoformat() if self.last_commit else None,
            transactions=self.transactions,
            changes=self.changes,
            content_bytes=info.content_bytes,
            content_sha256=info.content_sha256,
            sealed_bytes=info.sealed.sealed_bytes,
            sealed_sha256=info.sealed.sealed_sha256,
            key_id=info.sealed.key_id,
            written_at=datetime.now(UTC).isoformat(),
        )
        self.store.put_bytes(f"{segment.key}.json", _json(asdict(segment)))
        return segment


def sealed_mismatch(store: Store, segment: Segment) -> str | None:
    """Why the stored object does not hash as its index entry says (None: it does); no key needed."""
    try:
        digest, size = store.sha256(segment.data_key)
    except StoreError as exc:
        return str(exc)
    if (digest, size) != (segment.sealed_sha256, segment.sealed_bytes):
        return "SHA-256 or size differs from the segment index"
    return None


def read_segment(store: Store, keyring: Keyring, segment: Segment) -> Iterator[Record]:
    """The segment's records; the content hash is checked at the end, before the last record is given out."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    pending = b""
    held: Record | None = None
    with store.open_read(segment.data_key) as source:
        for block in iter_archive(source, keyring, name=store.uri(segment.data_key)):
            digest.update(block)
            size += len(block)
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if held is not None:
                    yield held
                held = _decode(line)
    if pending:
        raise FormatError(f"segment {store.uri(segment.data_key)} ends inside a record")
    if digest.hexdigest() != segment.content_sha256 or size != segment.content_bytes:
        raise VerificationError(f"segment {store.uri(segment.data_key)} does not match its index entry")
    if held is not None:
        yield held


def _encode(record: Record) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _decode(line: bytes) -> Record:
    lsn, xid, data = json.loads(line)
    return int(lsn), int(xid), data


def _json(data: dict) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()
