"""Change segments in the store: tampering is refused, gaps are named, the chain of LSN ranges has no holes.

Point-in-time restore trusts that the segments from a cut to the target form one unbroken, untouched run;
these tests break that run in the ways a store, an operator or a re-created slot can, on real servers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
import pytest

from dataguard_pipelines.core.backup import run_full_backup
from dataguard_pipelines.core.capture.decoding import Commit, RowChange, parse_event
from dataguard_pipelines.core.capture.lsn import parse_lsn
from dataguard_pipelines.core.capture.replay import iter_transactions
from dataguard_pipelines.core.capture.segments import (
    Segment,
    data_key,
    list_chains,
    list_segments,
    read_heartbeat,
    read_segment,
    sweep_unpublished,
)
from dataguard_pipelines.core.capture.shipper import ship_changes
from dataguard_pipelines.core.capture.slot import drop_slot
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.errors import FormatError, RestoreError, VerificationError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.pitr import RecoveryTarget, plan_recovery, recover
from dataguard_pipelines.core.store import Store
from tests.fixtures.postgres import table_fingerprints


@pytest.fixture
def keyring(keyring_path) -> Keyring:
    return Keyring.load(keyring_path)


@pytest.fixture
def slot() -> str:
    """Replication slot names are unique per cluster, not per database: concurrent runs must not collide."""
    return f"dg_segments_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def source(pg15_server: str, new_database: Callable[[str], str]) -> str:
    url = new_database(pg15_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    return url


def _write(url: str, *bodies: str) -> None:
    """One transaction inserting a row per body."""
    with psycopg.connect(url) as conn:
        for body in bodies:
            conn.execute("INSERT INTO notes (body) VALUES (%s)", (body,))


def _server_now(url: str) -> datetime:
    with psycopg.connect(url) as conn:
        now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    return now if now.microsecond else now + timedelta(microseconds=1)  # a whole second would include itself


def _wal_lsn(url: str) -> int:
    with psycopg.connect(url) as conn:
        return parse_lsn(conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])


def _ship_one(db: PostgresDatabase, store: Store, keyring: Keyring, slot: str) -> Segment:
    result = ship_changes(db, store, keyring, slot)
    assert len(result.segments) == 1, result
    return result.segments[0]


def _bodies(store: Store, keyring: Keyring, segment: Segment) -> list[str]:
    return [
        dict(event.new)["body"]
        for _, _, data in read_segment(store, keyring, segment)
        if isinstance(event := parse_event(data), RowChange)
    ]


# --- sealed segments: what comes back is what was written, or a clear refusal ----------------------------------


def test_consecutive_cycles_chain_their_lsn_ranges(
    any_store: Store, keyring: Keyring, slot: str, source: str
):
    """The first segment starts at the chain, each next one where the previous ended; records lie inside."""
    db = PostgresDatabase(source)
    assert ship_changes(db, any_store, keyring, slot).created_slot
    (chain,) = list_chains(any_store, slot)
    _write(source, "a1", "a2", "a3")
    _write(source, "b1")
    first = _ship_one(db, any_store, keyring, slot)
    _write(source, "c1", "c2")
    second = _ship_one(db, any_store, keyring, slot)

    assert first.start == chain.start
    assert second.start == first.end
    assert first.start < first.end < second.end
    assert (first.transactions, first.changes) == (2, 4)
    assert (second.transactions, second.changes) == (1, 2)
    assert list_segments(any_store, slot) == [first, second]
    assert _bodies(any_store, keyring, first) == ["a1", "a2", "a3", "b1"]
    assert _bodies(any_store, keyring, second) == ["c1", "c2"]
    for segment in (first, second):
        commits = [(lsn, parse_event(data)) for lsn, _, data in read_segment(any_store, keyring, segment)]
        commits = [(lsn, event) for lsn, event in commits if isinstance(event, Commit)]
        assert all(segment.start < lsn <= segment.end for lsn, _ in commits)
        assert commits[-1][0] == segment.end
        assert commits[-1][1].committed_at == segment.last_commit
        assert commits[0][1].committed_at == segment.first_commit
    assert [tx.changes for tx in iter_transactions(any_store, keyring, [first, second], after_lsn=0)] == [
        3,
        1,
        2,
    ]
    heartbeat = read_heartbeat(any_store, slot)
    assert heartbeat is not None and heartbeat.chain_lsn == chain.lsn and heartbeat.through >= second.end

    # one cycle with a tiny segment size: a segment per transaction, still one unbroken run
    for body in ("d1", "d2", "d3"):
        _write(source, body)
    rotated = ship_changes(db, any_store, keyring, slot, segment_bytes=1).segments
    assert [_bodies(any_store, keyring, s) for s in rotated] == [["d1"], ["d2"], ["d3"]]
    assert [s.start for s in rotated] == [second.end, rotated[0].end, rotated[1].end]
    assert list_segments(any_store, slot) == [first, second, *rotated]


def test_cycles_without_writes_publish_nothing(any_store: Store, keyring: Keyring, slot: str, source: str):
    """Nothing to ship is no segment, also when a transaction took an xid but changed no row."""
    db = PostgresDatabase(source)
    ship_changes(db, any_store, keyring, slot)
    _write(source, "only")
    segment = _ship_one(db, any_store, keyring, slot)
    assert ship_changes(db, any_store, keyring, slot).segments == []
    with psycopg.connect(source) as conn:
        conn.execute("SELECT txid_current()")  # an xid, BEGIN and COMMIT, but no change
    again = ship_changes(db, any_store, keyring, slot)
    assert again.segments == [] and again.transactions == 0
    assert not again.created_slot
    assert list_segments(any_store, slot) == [segment]
    assert len(list_chains(any_store, slot)) == 1
    assert read_heartbeat(any_store, slot).through >= segment.end


@pytest.mark.parametrize("where", ["header", "middle", "last byte"])
def test_flipped_byte_in_a_sealed_segment_is_refused(
    any_store: Store, keyring: Keyring, slot: str, source: str, where: str
):
    db = PostgresDatabase(source)
    ship_changes(db, any_store, keyring, slot)
    _write(source, *[f"row {i}" for i in range(50)])
    segment = _ship_one(db, any_store, keyring, slot)
    assert len(_bodies(any_store, keyring, segment)) == 50
    sealed = bytearray(any_store.get_bytes(segment.data_key))
    position = {"header": 5, "middle": len(sealed) // 2, "last byte": len(sealed) - 1}[where]
    sealed[position] ^= 0x01
    any_store.put_bytes(segment.data_key, bytes(sealed))

    with pytest.raises((FormatError, VerificationError)) as info:
        list(read_segment(any_store, keyring, segment))
    assert segment.data_key in str(info.value)
    with pytest.raises((FormatError, VerificationError)):
        list(iter_transactions(any_store, keyring, [segment], after_lsn=0))


def test_segment_swapped_for_another_is_refused(local_store: Store, keyring: Keyring, slot: str, source: str):
    """A whole, validly sealed object under the wrong name authenticates; the index entry's hash catches it."""
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    _write(source, "first")
    first = _ship_one(db, local_store, keyring, slot)
    _write(source, "second")
    second = _ship_one(db, local_store, keyring, slot)
    local_store.put_bytes(first.data_key, local_store.get_bytes(second.data_key))
    with pytest.raises(VerificationError, match="does not match its index entry") as info:
        list(read_segment(local_store, keyring, first))
    assert first.data_key in str(info.value)


def test_sweep_removes_only_unpublished_data(any_store: Store, keyring: Keyring, slot: str, source: str):
    """A shipper killed between the data object and its index entry leaves an orphan; published data stays."""
    db = PostgresDatabase(source)
    ship_changes(db, any_store, keyring, slot)
    _write(source, "kept")
    segment = _ship_one(db, any_store, keyring, slot)
    orphan = data_key(slot, segment.end)  # where the next cycle would have started
    any_store.copy(segment.data_key, orphan)
    assert sweep_unpublished(any_store, slot) == 1
    assert not any_store.exists(orphan)
    assert any_store.exists(segment.data_key)
    assert list_segments(any_store, slot) == [segment]
    assert _bodies(any_store, keyring, segment) == ["kept"]
    assert sweep_unpublished(any_store, slot) == 0
    # the next cycle writes the same key again, and publishes it this time
    _write(source, "next")
    following = _ship_one(db, any_store, keyring, slot)
    assert following.data_key == orphan
    assert _bodies(any_store, keyring, following) == ["next"]
    assert sweep_unpublished(any_store, slot) == 0


# --- gaps: point-in-time restore refuses to cross them and says so ---------------------------------------------


def test_missing_segment_is_a_gap_for_later_targets_only(
    pg15_server: str,
    new_database: Callable[[str], str],
    any_store: Store,
    keyring: Keyring,
    slot: str,
    source: str,
):
    db = PostgresDatabase(source)
    ship_changes(db, any_store, keyring, slot)
    run_full_backup(db, any_store, keyring, partition="p", capture_slot=slot)
    _write(source, "s1 first")
    inside_lsn, inside_time = _wal_lsn(source), _server_now(source)
    reference = table_fingerprints(source)
    _write(source, "s1 second")
    first = _ship_one(db, any_store, keyring, slot)
    _write(source, "s2")
    missing = _ship_one(db, any_store, keyring, slot)
    _write(source, "s3")
    after_time = _server_now(source)
    last = _ship_one(db, any_store, keyring, slot)
    any_store.delete_prefix(f"{missing.key}.json")
    any_store.delete_prefix(missing.data_key)
    assert list_segments(any_store, slot) == [first, last]

    for target in (RecoveryTarget(time=after_time), RecoveryTarget(lsn=last.end)):
        with pytest.raises(RestoreError, match="gap") as info:
            plan_recovery(any_store, keyring, slot, target)
        message = str(info.value)
        assert missing.start_lsn in message and missing.end_lsn in message
        assert first.last_commit_at in message  # the latest point that can still be restored
    for target in (RecoveryTarget(time=inside_time), RecoveryTarget(lsn=inside_lsn)):
        plan = plan_recovery(any_store, keyring, slot, target)
        assert plan.segments == (first,)

    restored = new_database(pg15_server)
    result = recover(
        plan_recovery(any_store, keyring, slot, RecoveryTarget(time=inside_time)),
        any_store,
        keyring,
        restored,
    )
    assert result.transactions == 1
    assert table_fingerprints(restored) == reference


def test_recreated_slot_starts_a_new_chain_and_its_gap_is_refused(
    pg15_server: str,
    new_database: Callable[[str], str],
    local_store: Store,
    keyring: Keyring,
    slot: str,
    source: str,
):
    """Changes made while no slot existed are lost; a target among them, or past them, must be refused."""
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    _write(source, "before 1")
    before_time = _server_now(source)
    reference = table_fingerprints(source)
    _write(source, "before 2")
    old = _ship_one(db, local_store, keyring, slot)
    _write(source, "never shipped")
    gap_time = _server_now(source)
    assert drop_slot(db, slot)
    _write(source, "while no slot existed")

    recreated = ship_changes(db, local_store, keyring, slot)
    assert recreated.created_slot and recreated.segments == []
    first_chain, second_chain = list_chains(local_store, slot)
    assert second_chain.start > old.end
    assert read_heartbeat(local_store, slot).chain_lsn == second_chain.lsn
    with pytest.raises(RestoreError, match=r"gap after LSN .*re-created"):
        plan_recovery(local_store, keyring, slot, RecoveryTarget(time=gap_time))

    _write(source, "after")
    after_time = _server_now(source)
    new = _ship_one(db, local_store, keyring, slot)
    assert new.start == second_chain.start
    assert _bodies(local_store, keyring, new) == ["after"]  # nothing of the gap reappears
    for target in (RecoveryTarget(time=gap_time), RecoveryTarget(time=after_time)):
        with pytest.raises(RestoreError, match="gap") as info:
            plan_recovery(local_store, keyring, slot, target)
        assert "re-created" in str(info.value) and old.end_lsn in str(info.value)

    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=before_time))
    assert plan.segments == (old,)
    restored = new_database(pg15_server)
    recover(plan, local_store, keyring, restored)
    assert table_fingerprints(restored) == reference

    # a full backup after the re-creation makes the new chain restorable
    run_full_backup(db, local_store, keyring, partition="q", capture_slot=slot)
    _write(source, "latest 1")
    latest_time = _server_now(source)
    _write(source, "latest 2")
    latest = _ship_one(db, local_store, keyring, slot)
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(time=latest_time))
    assert parse_lsn(plan.backup.consistency["lsn"]) >= second_chain.start > first_chain.start
    assert plan.segments[-1] == latest


def test_restore_refuses_a_swapped_segment_before_touching_the_target(
    local_store: Store, keyring: Keyring, slot: str, source: str, pg15_server: str
):
    db = PostgresDatabase(source)
    ship_changes(db, local_store, keyring, slot)
    run_full_backup(db, local_store, keyring, partition="p", capture_slot=slot)
    _write(source, "first")
    first = _ship_one(db, local_store, keyring, slot)
    _write(source, "second")
    second = _ship_one(db, local_store, keyring, slot)
    local_store.put_bytes(first.data_key, local_store.get_bytes(second.data_key))
    plan = plan_recovery(local_store, keyring, slot, RecoveryTarget(lsn=second.end))
    target = pg15_server.rsplit("/", 1)[0] + f"/dg_never_{uuid.uuid4().hex[:8]}"
    with pytest.raises(VerificationError, match="nothing was restored"):
        recover(plan, local_store, keyring, target)
    with psycopg.connect(pg15_server) as conn:
        name = target.rsplit("/", 1)[1]
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0
