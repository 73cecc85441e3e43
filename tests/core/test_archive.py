"""The container format and the threaded ArchiveWriter, on real bytes: every damage gets its own error."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from dataguard_pipelines.core.archive import (
    DEFAULT_CHUNK_BYTES,
    FORMAT_VERSION,
    Sealer,
    iter_unsealed,
    open_sealed,
    read_header,
    seal,
)
from dataguard_pipelines.core.archive_stream import ArchiveWriter, iter_archive
from dataguard_pipelines.core.errors import (
    ChunkOrderError,
    FormatError,
    KeyNotFoundError,
    TamperedError,
    TruncatedError,
    UnknownVersionError,
    WrongKeyError,
)
from dataguard_pipelines.core.keys import Keyring

KEY_ID = "k20261127-3fa1b2c9"
KEYRING = Keyring(active_id=KEY_ID, keys={KEY_ID: bytes(range(32))})
OTHER_KEY = Keyring(active_id=KEY_ID, keys={KEY_ID: bytes(range(1, 33))})
CHUNK = 16
PAYLOAD = bytes(random.Random(7).randbytes(100))  # 6 full chunks + a final chunk of 4 bytes
SEALED = seal(PAYLOAD, KEYRING, chunk_bytes=CHUNK)
HEADER_BYTES = 17 + 1 + len(KEY_ID) + 60
RECORD = CHUNK + 16
CHUNK_COUNT = 7
TRAILER_AT = len(SEALED) - 16


def flip_bit(blob: bytes, bit: int) -> bytes:
    out = bytearray(blob)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def records(blob: bytes) -> list[bytes]:
    """The chunk records of SEALED-shaped objects (all full but the last)."""
    body = blob[HEADER_BYTES:-16]
    return [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


def trailer(count: int) -> bytes:
    return b"DGEND\x00\x00\x00" + count.to_bytes(8, "little")


def csv_rows(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    cities = ["Berlin", "Hamburg", "München", "Köln", "Leipzig"]
    return b"".join(
        f"{i},2026-11-{rng.randint(1, 28):02d},customer_{rng.randint(1, 99999)},{rng.random() * 500:.2f},"
        f"{rng.choice(cities)},booked\n".encode()
        for i in range(n)
    )


class ShortReads:
    """A source that returns at most ``step`` bytes per read, like a pipe or a socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, size: int) -> bytes:
        out = self._data[self._pos : self._pos + min(size, self._step)]
        self._pos += len(out)
        return out


class FailingSink:
    """Accepts ``limit`` bytes, then fails like a full disk."""

    def __init__(self, limit: int) -> None:
        self.limit, self.written = limit, 0

    def write(self, data: bytes) -> int:
        if self.written + len(data) > self.limit:
            raise OSError(28, "No space left on device")
        self.written += len(data)
        return len(data)


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dataguard-") and t.is_alive()]


# --- round trips -----------------------------------------------------------------------------------------


@given(payload=st.binary(max_size=1 << 14), chunk_bytes=st.integers(1, 4096))
def test_container_round_trips_any_payload(payload: bytes, chunk_bytes: int) -> None:
    assert open_sealed(seal(payload, KEYRING, chunk_bytes=chunk_bytes), KEYRING) == payload


@given(pieces=st.lists(st.binary(max_size=300), max_size=20), chunk_bytes=st.integers(1, 64))
def test_sealer_round_trips_any_write_split_and_reports_what_it_wrote(
    pieces: list[bytes], chunk_bytes: int
) -> None:
    sink = io.BytesIO()
    sealer = Sealer(sink, KEYRING, chunk_bytes=chunk_bytes)
    for piece in pieces:
        sealer.write(memoryview(piece))
    info = sealer.close()
    payload, blob = b"".join(pieces), sink.getvalue()
    assert open_sealed(blob, KEYRING) == payload
    assert info.chunks == max(1, -(-len(payload) // chunk_bytes))  # no empty final chunk unless empty
    assert (info.plain_bytes, info.plain_sha256) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert (info.sealed_bytes, info.sealed_sha256) == (len(blob), hashlib.sha256(blob).hexdigest())
    assert info.key_id == KEY_ID


def test_container_empty_payload_is_one_empty_final_chunk() -> None:
    blob = seal(b"", KEYRING, chunk_bytes=CHUNK)
    assert len(blob) == HEADER_BYTES + 16 + 16
    assert blob[-8:] == (1).to_bytes(8, "little")
    assert open_sealed(blob, KEYRING) == b""


@pytest.mark.parametrize("chunks", [1, 2, 5])
def test_container_payload_of_whole_chunks_has_no_extra_chunk(chunks: int) -> None:
    payload = os.urandom(chunks * CHUNK)
    blob = seal(payload, KEYRING, chunk_bytes=CHUNK)
    assert len(blob) == HEADER_BYTES + chunks * RECORD + 16
    assert open_sealed(blob, KEYRING) == payload


def test_container_overhead_is_header_plus_16_per_chunk_plus_trailer() -> None:
    assert len(SEALED) == HEADER_BYTES + len(PAYLOAD) + 16 * CHUNK_COUNT + 16
    assert HEADER_BYTES == 96


def test_read_header_reports_version_compression_chunk_size_and_key() -> None:
    blob = seal(b"x", KEYRING, chunk_bytes=4096, compression="zstd")
    header = read_header(io.BytesIO(blob))
    assert (header.version, header.compression, header.chunk_bytes) == (FORMAT_VERSION, "zstd", 4096)
    assert (header.key_id, header.size) == (KEY_ID, HEADER_BYTES)


def test_iter_unsealed_handles_short_reads() -> None:
    assert b"".join(iter_unsealed(ShortReads(SEALED, 5), KEYRING)) == PAYLOAD


def test_iter_unsealed_yields_chunk_by_chunk() -> None:
    assert list(iter_unsealed(io.BytesIO(SEALED), KEYRING)) == [
        PAYLOAD[i : i + CHUNK] for i in range(0, len(PAYLOAD), CHUNK)
    ]


def test_iter_unsealed_yields_nothing_of_a_tampered_chunk() -> None:
    damaged = flip_bit(SEALED, 8 * (HEADER_BYTES + 2 * RECORD + 3))
    got: list[bytes] = []
    with pytest.raises(TamperedError, match="chunk 2 failed authentication"):
        for piece in iter_unsealed(io.BytesIO(damaged), KEYRING):
            got.append(piece)
    assert got == [PAYLOAD[:CHUNK], PAYLOAD[CHUNK : 2 * CHUNK]]


def test_sealer_second_close_and_late_write_raise() -> None:
    sealer = Sealer(io.BytesIO(), KEYRING)
    sealer.close()
    with pytest.raises(ValueError, match="closed"):
        sealer.close()
    with pytest.raises(ValueError, match="closed"):
        sealer.write(b"more")


def test_sealer_uses_the_key_id_it_is_given() -> None:
    rotated = KEYRING.with_new_active_key()
    blob = seal(b"new key", rotated)
    assert read_header(io.BytesIO(blob)).key_id == rotated.active_id
    sink = io.BytesIO()
    sealer = Sealer(sink, rotated, key_id=KEY_ID)
    sealer.write(b"old key")
    assert sealer.close().key_id == KEY_ID
    assert open_sealed(sink.getvalue(), KEYRING) == b"old key"


def test_sealer_rejects_out_of_range_chunk_size_and_unknown_compression() -> None:
    for chunk_bytes in (0, (1 << 24) + 1):
        with pytest.raises(ValueError, match="chunk_bytes"):
            Sealer(io.BytesIO(), KEYRING, chunk_bytes=chunk_bytes)
    with pytest.raises(ValueError, match="compression"):
        Sealer(io.BytesIO(), KEYRING, compression="gzip")


def test_sealer_two_objects_of_the_same_payload_differ() -> None:
    assert seal(PAYLOAD, KEYRING, chunk_bytes=CHUNK) != SEALED


# --- damage: every change is detected, each kind with its own error ---------------------------------------


@given(bit=st.integers(0, 8 * len(SEALED) - 1))
def test_container_rejects_any_single_bit_flip(bit: int) -> None:
    with pytest.raises(FormatError):
        open_sealed(flip_bit(SEALED, bit), KEYRING)


def test_container_names_the_damage_for_every_bit_flip() -> None:
    for bit in range(8 * len(SEALED)):
        at = bit // 8
        expected: type[FormatError]
        if HEADER_BYTES <= at < TRAILER_AT:
            expected = TamperedError
        elif at >= TRAILER_AT:
            expected = TruncatedError  # end marker gone, or a chunk count that does not match
        else:
            expected = FormatError  # header: bad magic, version, key id, or a wrap that no longer opens
        with pytest.raises(expected):
            open_sealed(flip_bit(SEALED, bit), KEYRING)


def test_container_flip_in_chunk_is_tampered() -> None:
    with pytest.raises(TamperedError, match="object: chunk 0 failed authentication: the object was modified"):
        open_sealed(flip_bit(SEALED, 8 * HEADER_BYTES), KEYRING)


def test_container_flip_in_wrapped_key_is_wrong_key() -> None:
    with pytest.raises(WrongKeyError):
        open_sealed(flip_bit(SEALED, 8 * (HEADER_BYTES - 1)), KEYRING)


def test_container_flip_in_chunk_size_field_is_wrong_key() -> None:
    with pytest.raises(WrongKeyError, match="modified header"):
        open_sealed(flip_bit(SEALED, 8 * 6 + 1), KEYRING)


def test_container_swapped_chunks_raise_chunk_order() -> None:
    parts = records(SEALED)
    swapped = SEALED[:HEADER_BYTES] + b"".join([parts[1], parts[0], *parts[2:]]) + SEALED[-16:]
    with pytest.raises(ChunkOrderError, match="object: chunk 1 sits at position 0: chunks were reordered"):
        open_sealed(swapped, KEYRING)


def test_container_dropped_middle_chunk_raises_chunk_order() -> None:
    parts = records(SEALED)
    dropped = SEALED[:HEADER_BYTES] + b"".join(parts[:2] + parts[3:]) + trailer(CHUNK_COUNT - 1)
    with pytest.raises(ChunkOrderError, match="chunk 3 sits at position 2"):
        open_sealed(dropped, KEYRING)


def test_container_final_chunk_moved_forward_raises_chunk_order() -> None:
    blob = seal(os.urandom(4 * CHUNK), KEYRING, chunk_bytes=CHUNK)  # 4 full chunks, the last one final
    parts = records(blob)
    moved = blob[:HEADER_BYTES] + b"".join([parts[3], parts[1], parts[2], parts[0]]) + blob[-16:]
    with pytest.raises(ChunkOrderError, match="chunk 3 sits at position 0"):
        open_sealed(moved, KEYRING)


@given(cut=st.integers(0, len(SEALED) - 1))
def test_container_cut_at_any_length_is_truncated(cut: int) -> None:
    with pytest.raises(TruncatedError):
        open_sealed(SEALED[:cut], KEYRING)


def test_container_cut_message_says_where_it_ends() -> None:
    with pytest.raises(
        TruncatedError, match=r"object ends without its end marker after 150 bytes: truncated"
    ):
        open_sealed(SEALED[:150], KEYRING)


@pytest.mark.parametrize("kept", range(CHUNK_COUNT))
def test_container_cut_at_chunk_boundary_with_forged_trailer_is_truncated(kept: int) -> None:
    forged = SEALED[: HEADER_BYTES + kept * RECORD] + trailer(kept)
    with pytest.raises(TruncatedError):
        open_sealed(forged, KEYRING)


def test_container_forged_trailer_after_whole_chunks_names_the_chunk_boundary() -> None:
    forged = SEALED[: HEADER_BYTES + 3 * RECORD] + trailer(3)
    with pytest.raises(TruncatedError, match="ends after chunk 2 at a chunk boundary"):
        open_sealed(forged, KEYRING)


def test_container_wrong_chunk_count_in_trailer_is_truncated() -> None:
    with pytest.raises(TruncatedError, match="end marker counts 9 chunks but 7 were read"):
        open_sealed(SEALED[:-16] + trailer(9), KEYRING)


def test_container_data_appended_after_final_chunk_is_tampered() -> None:
    blob = seal(os.urandom(4 * CHUNK), KEYRING, chunk_bytes=CHUNK)  # the final chunk is a full one
    appended = blob[:-16] + records(blob)[0] + trailer(5)
    with pytest.raises(TamperedError, match="chunk 3 is the final chunk but more data follows"):
        open_sealed(appended, KEYRING)


def test_container_chunk_from_another_object_is_tampered() -> None:
    other = seal(PAYLOAD, KEYRING, chunk_bytes=CHUNK)
    spliced = SEALED[: HEADER_BYTES + RECORD] + records(other)[1] + SEALED[HEADER_BYTES + 2 * RECORD :]
    with pytest.raises(TamperedError, match="chunk 1 failed authentication"):
        open_sealed(spliced, KEYRING)


def test_container_header_from_another_object_is_tampered() -> None:
    other = seal(PAYLOAD, KEYRING, chunk_bytes=CHUNK)
    with pytest.raises(TamperedError, match="chunk 0 failed authentication"):
        open_sealed(other[:HEADER_BYTES] + SEALED[HEADER_BYTES:], KEYRING)


def test_container_wrong_key_with_same_id_is_wrong_key() -> None:
    message = f"object: key {KEY_ID} does not open this object (wrong key or modified header)"
    with pytest.raises(WrongKeyError, match=re.escape(message)):
        open_sealed(SEALED, OTHER_KEY)


def test_container_keyring_without_the_key_id_is_key_not_found() -> None:
    keyring = Keyring.generate()
    with pytest.raises(KeyNotFoundError, match=f"keyring has no key '{KEY_ID}'"):
        open_sealed(SEALED, keyring)


def test_container_newer_version_is_unknown_version() -> None:
    newer = SEALED[:4] + b"\x02" + SEALED[5:]
    message = (
        "object: container version 2 is newer than this build reads (1); upgrade dataguard to restore it"
    )
    with pytest.raises(UnknownVersionError, match=re.escape(message)):
        open_sealed(newer, KEYRING)


def test_container_version_zero_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="container version 0 does not exist"):
        open_sealed(SEALED[:4] + b"\x00" + SEALED[5:], KEYRING)


def test_container_bad_magic_is_a_format_error_naming_the_object() -> None:
    with pytest.raises(
        FormatError, match=r"s3://bucket/x\.dgar is not a dataguard archive \(bad magic\)"
    ) as caught:
        open_sealed(b"PK\x03\x04" + SEALED[4:], KEYRING, name="s3://bucket/x.dgar")
    assert type(caught.value) is FormatError


def test_container_errors_never_contain_key_material() -> None:
    kek = KEYRING.kek(KEY_ID)
    for damaged in (SEALED[:150], flip_bit(SEALED, 8 * 200), SEALED[:4] + b"\x07" + SEALED[5:]):
        with pytest.raises(FormatError) as caught:
            open_sealed(damaged, KEYRING)
        assert kek.hex() not in str(caught.value) and repr(kek) not in str(caught.value)
    with pytest.raises(WrongKeyError) as caught:
        open_sealed(SEALED, OTHER_KEY)
    assert OTHER_KEY.kek(KEY_ID).hex() not in str(caught.value)


# --- zstd inside the container ------------------------------------------------------------------------------


def test_iter_archive_reads_concatenated_and_skippable_zstd_frames() -> None:
    cctx = zstandard.ZstdCompressor()
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    stream = cctx.compress(b"first ") + skippable + cctx.compress(b"second")
    blob = seal(stream, KEYRING, chunk_bytes=7, compression="zstd")
    assert b"".join(iter_archive(io.BytesIO(blob), KEYRING)) == b"first second"


def test_iter_archive_rejects_a_cut_zstd_frame_inside_a_valid_container() -> None:
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(csv_rows(200))
    blob = seal(frame[:-3], KEYRING, compression="zstd")
    with pytest.raises(FormatError, match="ends inside a frame"):
        b"".join(iter_archive(io.BytesIO(blob), KEYRING))


def test_iter_archive_rejects_data_that_is_not_zstd() -> None:
    blob = seal(b"this was never compressed", KEYRING, compression="zstd")
    with pytest.raises(FormatError, match="zstd stream does not decompress"):
        b"".join(iter_archive(io.BytesIO(blob), KEYRING))


def test_iter_archive_of_uncompressed_object_is_the_plaintext() -> None:
    assert b"".join(iter_archive(io.BytesIO(SEALED), KEYRING)) == PAYLOAD


# --- ArchiveWriter ----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_archive_writer_round_trips_a_few_megabytes_with_zstd() -> None:
    content = csv_rows(60_000)  # about 3.5 MB
    sink = io.BytesIO()
    with ArchiveWriter(sink, KEYRING, level=3) as writer:
        pos, rng = 0, random.Random(3)
        while pos < len(content):  # uneven writes: tiny ones get batched, big ones pass straight through
            step = rng.choice([1, 100, 5000, 300_000, 2_000_000])
            writer.write(content[pos : pos + step])
            pos += step
        info = writer.close()
    blob = sink.getvalue()
    assert (info.content_bytes, info.content_sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert (info.sealed.sealed_bytes, info.sealed.sealed_sha256) == (
        len(blob),
        hashlib.sha256(blob).hexdigest(),
    )
    assert info.sealed.plain_bytes < len(content) / 2
    assert read_header(io.BytesIO(blob)).compression == "zstd"
    assert b"".join(iter_archive(io.BytesIO(blob), KEYRING)) == content
    assert zstandard.ZstdDecompressor().decompressobj().decompress(open_sealed(blob, KEYRING)) == content


@pytest.mark.timeout(30)
def test_archive_writer_empty_content_round_trips() -> None:
    sink = io.BytesIO()
    info = ArchiveWriter(sink, KEYRING).close()
    assert info.content_bytes == 0
    assert b"".join(iter_archive(io.BytesIO(sink.getvalue()), KEYRING)) == b""


@pytest.mark.timeout(60)
def test_archive_writer_bounds_the_pieces_iter_archive_yields() -> None:
    sink = io.BytesIO()
    with ArchiveWriter(sink, KEYRING) as writer:
        for _ in range(64):
            writer.write(bytes(1 << 20))  # 64 MiB of zeros compress to a few kB
        writer.close()
    assert len(sink.getvalue()) < 1 << 16
    sizes = [len(piece) for piece in iter_archive(io.BytesIO(sink.getvalue()), KEYRING)]
    assert sum(sizes) == 64 << 20
    assert max(sizes) <= DEFAULT_CHUNK_BYTES


@pytest.mark.timeout(60)
def test_archive_writer_sink_error_surfaces_and_threads_end() -> None:
    sink = FailingSink(limit=300_000)
    writer = ArchiveWriter(sink, KEYRING, chunk_bytes=64 << 10, queue_depth=2)
    block = os.urandom(1 << 20)  # incompressible, so the sink fills quickly
    with pytest.raises(OSError, match="No space left"):
        for _ in range(64):
            writer.write(block)
        writer.close()
    with pytest.raises(OSError, match="No space left"):  # and every later call says so too
        writer.close() if writer._state == "open" else writer.write(block)
    writer.abort()
    assert worker_threads() == []


@pytest.mark.timeout(60)
def test_archive_writer_sink_error_on_trailer_surfaces_from_close() -> None:
    probe = io.BytesIO()
    with ArchiveWriter(probe, KEYRING) as writer:
        writer.write(b"small")
        writer.close()
    sink = FailingSink(limit=len(probe.getvalue()) - 1)  # everything fits but the last byte of the trailer
    writer = ArchiveWriter(sink, KEYRING)
    writer.write(b"small")
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert worker_threads() == []


def test_archive_writer_sink_error_on_header_raises_at_once() -> None:
    with pytest.raises(OSError):
        ArchiveWriter(FailingSink(limit=10), KEYRING)


def test_archive_writer_rejects_bad_level_and_queue_depth_before_writing() -> None:
    sink = io.BytesIO()
    with pytest.raises(ValueError, match="level"):
        ArchiveWriter(sink, KEYRING, level=99)
    with pytest.raises(ValueError, match="queue_depth"):
        ArchiveWriter(sink, KEYRING, queue_depth=0)
    assert sink.getvalue() == b""


@pytest.mark.timeout(60)
def test_archive_writer_abort_leaves_an_object_that_reads_as_truncated() -> None:
    sink = io.BytesIO()
    writer = ArchiveWriter(sink, KEYRING, chunk_bytes=64 << 10)
    for _ in range(8):
        writer.write(os.urandom(1 << 20))
    writer.abort()
    assert worker_threads() == []
    with pytest.raises(TruncatedError):
        b"".join(iter_archive(io.BytesIO(sink.getvalue()), KEYRING))
    with pytest.raises(ValueError, match="aborted"):
        writer.write(b"late")


@pytest.mark.timeout(60)
def test_archive_writer_exception_in_with_block_aborts_instead_of_closing() -> None:
    sink = io.BytesIO()
    with pytest.raises(RuntimeError, match="pg_dump died"), ArchiveWriter(sink, KEYRING) as writer:
        writer.write(csv_rows(1000))
        raise RuntimeError("pg_dump died")
    assert worker_threads() == []
    with pytest.raises(TruncatedError):
        b"".join(iter_archive(io.BytesIO(sink.getvalue()), KEYRING))


@pytest.mark.timeout(60)
def test_archive_writer_with_block_without_close_closes_on_exit() -> None:
    sink = io.BytesIO()
    with ArchiveWriter(sink, KEYRING) as writer:
        writer.write(b"closed by __exit__")
    assert b"".join(iter_archive(io.BytesIO(sink.getvalue()), KEYRING)) == b"closed by __exit__"


@pytest.mark.timeout(60)
def test_archive_writer_dropped_without_close_stops_its_threads() -> None:
    writer = ArchiveWriter(io.BytesIO(), KEYRING)
    writer.write(b"abandoned")
    del writer
    gc.collect()
    deadline = time.monotonic() + 10
    while worker_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker_threads() == []


@pytest.mark.timeout(60)
def test_iter_archive_reports_tampering_inside_compressed_object() -> None:
    sink = io.BytesIO()
    with ArchiveWriter(sink, KEYRING, chunk_bytes=4096) as writer:
        writer.write(os.urandom(50_000))
        writer.close()
    damaged = flip_bit(sink.getvalue(), 8 * (HEADER_BYTES + 3 * (4096 + 16) + 10))
    with pytest.raises(TamperedError, match="chunk 3 failed authentication"):
        b"".join(iter_archive(io.BytesIO(damaged), KEYRING))


# --- memory stays flat on a 1 GiB stream --------------------------------------------------------------------

_MEMORY_SNIPPET = textwrap.dedent(
    """
    import hashlib, json, queue, random, threading
    from dataguard_pipelines.core.archive_stream import ArchiveWriter, iter_archive
    from dataguard_pipelines.core.keys import Keyring

    GIB_BLOCKS = 1024
    BASE = random.Random(42).randbytes(1 << 20)

    def hwm_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

    def blocks():
        for i in range(GIB_BLOCKS):
            yield i.to_bytes(8, "little") + BASE[8:]

    class HashSink:
        def __init__(self):
            self.sha = hashlib.sha256()
        def write(self, data):
            self.sha.update(data)

    class QueueSink:
        def __init__(self, q):
            self.q = q
        def write(self, data):
            self.q.put(bytes(data))

    class GeneratorReader:
        def __init__(self, gen):
            self.gen, self.buf = gen, b""
        def read(self, n):
            while len(self.buf) < n:
                piece = next(self.gen, None)
                if piece is None:
                    break
                self.buf += piece
            out, self.buf = self.buf[:n], self.buf[n:]
            return out

    keyring = Keyring.generate()
    with ArchiveWriter(HashSink(), keyring) as warm:  # load every library before the baseline
        warm.write(BASE)
        warm.close()
    baseline = hwm_kib()

    writer = ArchiveWriter(HashSink(), keyring)
    for block in blocks():
        writer.write(block)
    info = writer.close()
    after_write = hwm_kib()

    q = queue.Queue(maxsize=8)
    def produce():
        with ArchiveWriter(QueueSink(q), keyring) as w:
            for block in blocks():
                w.write(block)
            w.close()
        q.put(None)
    threading.Thread(target=produce, daemon=True).start()
    sealed = iter(q.get, None)
    content = hashlib.sha256()
    total = 0
    for piece in iter_archive(GeneratorReader(sealed), keyring):
        content.update(piece)
        total += len(piece)
    after_read = hwm_kib()
    print(json.dumps({
        "baseline_kib": baseline, "write_growth_kib": after_write - baseline,
        "read_growth_kib": after_read - baseline, "content_bytes": total,
        "round_trip_ok": content.hexdigest() == info.content_sha256 and total == info.content_bytes,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_archive_memory_stays_flat_on_a_1_gib_stream() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_SNIPPET], capture_output=True, text=True, check=True, timeout=590
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["round_trip_ok"]
    assert report["content_bytes"] == 1 << 30
    assert report["write_growth_kib"] < 150 * 1024, report
    assert report["read_growth_kib"] < 150 * 1024, report
