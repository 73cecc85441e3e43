"""Streaming over the container: the threaded writer (content hash, zstd, sealing and the store overlap on
two cores, bounded queues keep memory flat) and the streaming reader that decompresses what
`archive` authenticates. The byte layout itself lives in `archive` only."""

from __future__ import annotations

import hashlib
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import zstandard

from dataguard_pipelines.core.archive import (
    DEFAULT_CHUNK_BYTES,
    ArchiveInfo,
    SealedInfo,
    Sealer,
    Sink,
    Source,
    iter_chunks,
    read_parsed_header,
)
from dataguard_pipelines.core.errors import FormatError
from dataguard_pipelines.core.keys import Keyring

_BATCH_BYTES = 256 << 10  # small writes are batched so queue hand-offs stay rare
_POLL_S = 0.05
_OUT_BYTES = 1 << 20
_END = object()


class _Stopped(Exception):
    """A worker saw the pipeline stop (abort or another stage's error)."""


class _Pipeline:
    """State the caller and both workers share; it never refers to the ArchiveWriter, so GC can stop it."""

    def __init__(self, depth: int) -> None:
        self.to_compress: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.to_seal: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.sealed: SealedInfo | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def put(self, q: queue.Queue[Any], item: object) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue[Any]) -> Any:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    def drain(self) -> None:
        for q in (self.to_compress, self.to_seal):
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break


def _run_stage(pipeline: _Pipeline, body: Callable[[], None]) -> None:
    try:
        body()
    except _Stopped:
        pass
    except BaseException as exc:  # recorded and re-raised in the caller's thread
        pipeline.fail(exc)


def _compress_stage(pipeline: _Pipeline, compressor: zstandard.ZstdCompressor, chunk_bytes: int) -> None:
    chunker = compressor.chunker(chunk_size=chunk_bytes)  # output comes in whole chunks, as the Sealer wants
    while True:
        item = pipeline.get(pipeline.to_compress)
        if item is _END:
            for out in chunker.finish():
                pipeline.put(pipeline.to_seal, out)
            pipeline.put(pipeline.to_seal, _END)
            return
        for out in chunker.compress(item):
            pipeline.put(pipeline.to_seal, out)


def _seal_stage(pipeline: _Pipeline, sealer: Sealer) -> None:
    while True:
        item = pipeline.get(pipeline.to_seal)
        if item is _END:
            pipeline.sealed = sealer.close()
            return
        sealer.write(item)


class ArchiveWriter:
    """Plaintext in, sealed zstd object out: hashing, compression and encryption each on their own thread.

    The bounded queues keep memory flat; a failure in any stage stops the others and is raised by the next
    ``write()`` or by ``close()``, so a short object is never mistaken for a finished one.
    """

    def __init__(
        self,
        sink: Sink,
        keyring: Keyring,
        *,
        level: int = 1,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        queue_depth: int = 8,
    ) -> None:
        if queue_depth < 1:
            raise ValueError(f"queue_depth must be at least 1, not {queue_depth} (0 would be unbounded)")
        # Built here so a bad level fails now; write_checksum lets a plain `zstd -d` check the stream too.
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        sealer = Sealer(sink, keyring, chunk_bytes=chunk_bytes, compression="zstd")
        self._pipeline = pipeline = _Pipeline(queue_depth)
        self._content_sha = hashlib.sha256()
        self._content_bytes = 0
        self._pending = bytearray()
        self._state = "open"
        self._threads = [
            threading.Thread(
                target=_run_stage,
                args=(pipeline, lambda: _compress_stage(pipeline, compressor, chunk_bytes)),
                name="dataguard-zstd",
                daemon=True,
            ),
            threading.Thread(
                target=_run_stage,
                args=(pipeline, lambda: _seal_stage(pipeline, sealer)),
                name="dataguard-seal",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        # If the caller drops the writer without close/abort, stop the workers instead of leaving them parked.
        weakref.finalize(self, pipeline.stop.set)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.close()

    @property
    def content_bytes(self) -> int:
        """Plaintext written so far (callers cut objects by size)."""
        return self._content_bytes

    def write(self, data: bytes) -> None:
        """Hash and enqueue content; blocks while the queues are full, raises a worker's error."""
        if self._state != "open":
            raise ValueError(f"write to an ArchiveWriter that is {self._state}")
        self._raise_if_failed()
        self._content_sha.update(data)
        self._content_bytes += len(data)
        if len(data) >= _BATCH_BYTES and not self._pending:
            self._enqueue(bytes(data))
            return
        self._pending += data
        if len(self._pending) >= _BATCH_BYTES:
            batch, self._pending = self._pending, bytearray()
            self._enqueue(batch)

    def close(self) -> ArchiveInfo:
        """Flush, wait for both stages, and return what was stored; raises the first error of any stage."""
        if self._state != "open":
            raise ValueError(f"close of an ArchiveWriter that is {self._state}")
        self._state = "closed"
        try:
            if self._pending:
                batch, self._pending = self._pending, bytearray()
                self._enqueue(batch)
            self._enqueue(_END)
        finally:
            for thread in self._threads:
                thread.join()
        self._raise_if_failed()
        sealed = self._pipeline.sealed
        if sealed is None:  # a stage stopped without an error: never report a short object as stored
            raise FormatError("archive writer stopped before sealing the object; the object is incomplete")
        return ArchiveInfo(self._content_bytes, self._content_sha.hexdigest(), sealed)

    def abort(self) -> None:
        """Stop both stages without writing a trailer: the partial object reads as truncated."""
        if self._state == "aborted":
            return
        self._state = "aborted"
        self._pipeline.stop.set()
        for thread in self._threads:
            thread.join()
        self._pipeline.drain()
        self._pending = bytearray()

    def _enqueue(self, item: object) -> None:
        try:
            self._pipeline.put(self._pipeline.to_compress, item)
        except _Stopped:
            self._raise_if_failed()
            raise ValueError("ArchiveWriter was aborted") from None

    def _raise_if_failed(self) -> None:
        error = self._pipeline.error
        if error is not None:
            raise error


class _ZstdFrameWalker:
    """Follows zstd frame and block headers (RFC 8878) to know whether the stream ends on a frame boundary.

    zstandard's streaming readers end quietly on a cut frame; this turns that into an error.
    """

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._field = bytearray()
        self._skip = 0
        self._has_checksum = False

    @property
    def at_frame_end(self) -> bool:
        return self._state == "magic" and not self._field and not self._skip

    def feed(self, data: bytes) -> None:
        view, pos, size = memoryview(data), 0, len(data)
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._need - len(self._field), size - pos)
            self._field += view[pos : pos + take]
            pos += take
            if len(self._field) == self._need:
                field = int.from_bytes(self._field, "little")
                self._field.clear()
                self._advance(field)

    def _advance(self, field: int) -> None:
        if self._state == "magic":
            if field == 0xFD2FB528:
                self._state, self._need = "descriptor", 1
            elif field & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                raise zstandard.ZstdError("unknown frame magic")
        elif self._state == "skippable":
            self._state, self._need, self._skip = "magic", 4, field
        elif self._state == "descriptor":
            single_segment = (field >> 5) & 1
            self._has_checksum = bool(field & 0x04)
            content_size_bytes = (single_segment, 2, 4, 8)[field >> 6]
            dict_id_bytes = (0, 1, 2, 4)[field & 0x03]
            self._state, self._need = "block", 3
            self._skip = (0 if single_segment else 1) + dict_id_bytes + content_size_bytes
        else:  # block header: last(1) type(2) size(21)
            block_type, block_size = (field >> 1) & 0x03, field >> 3
            if block_type == 3:
                raise zstandard.ZstdError("reserved block type")
            self._skip = 1 if block_type == 1 else block_size
            if field & 1:
                self._skip += 4 if self._has_checksum else 0
                self._state, self._need = "magic", 4


class _ChunkReader:
    """A read(n) view over an iterator of byte chunks, feeding the frame walker as bytes pass."""

    def __init__(self, chunks: Iterator[bytes], walker: _ZstdFrameWalker) -> None:
        self._chunks = chunks
        self._walker = walker
        self._current = b""
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._current):
            nxt = next(self._chunks, None)
            if nxt is None:
                return b""
            self._current, self._pos = nxt, 0
        end = len(self._current) if size < 0 else self._pos + size
        out = self._current[self._pos : end]
        self._pos += len(out)
        self._walker.feed(out)
        return out


def iter_archive(source: Source, keyring: Keyring, *, name: str = "object") -> Iterator[bytes]:
    """Yield an object's content, decrypted and (if the header says zstd) decompressed, in constant memory.

    Like iter_unsealed, the stream is untrusted until the iterator finishes.
    """
    header = read_parsed_header(source, name)
    chunks = iter_chunks(source, header, keyring, name)
    if header.compression == "none":
        yield from chunks
        return
    walker = _ZstdFrameWalker()
    reader = _ChunkReader(chunks, walker)
    try:
        stream = zstandard.ZstdDecompressor().stream_reader(reader, read_across_frames=True)
        while out := stream.read(_OUT_BYTES):
            yield out
        if reader.read(1):  # normally already drained; this also runs the end-of-object checks
            raise zstandard.ZstdError("data after the last frame")
        if not walker.at_frame_end:
            raise zstandard.ZstdError("the stream ends inside a frame")
    except zstandard.ZstdError as exc:
        raise FormatError(
            f"{name}: its zstd stream does not decompress ({exc}); the writer was faulty, use another backup"
        ) from exc
