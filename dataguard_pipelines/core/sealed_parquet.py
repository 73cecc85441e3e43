"""Parquet inside the archive format: written in batches through ArchiveWriter (zstd + AES-256-GCM), so
mirrors and billing snapshots are encrypted at rest and memory stays flat."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from dataguard_pipelines.core.archive import ArchiveInfo
from dataguard_pipelines.core.archive_stream import ArchiveWriter, iter_archive
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.store import Store


class SealedParquet:
    """The open writer and, once the block has ended, what was stored."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self.writer = writer
        self.rows = 0
        self.info: ArchiveInfo | None = None

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)
        self.rows += batch.num_rows


@contextlib.contextmanager
def sealed_parquet(
    store: Store,
    key: str,
    keyring: Keyring,
    schema: pa.Schema,
    lock_until: datetime | None = None,
    *,
    level: int = 1,
    **options,
) -> Iterator[SealedParquet]:
    """Write one sealed Parquet object; it is published only if the block ends without an exception."""
    with (
        store.open_write(key, lock_until=lock_until) as sink,
        ArchiveWriter(sink, keyring, level=level) as archive,
    ):
        with pq.ParquetWriter(_WriteOnly(archive), schema, compression="none", **options) as writer:
            handle = SealedParquet(writer)
            yield handle
        handle.info = archive.close()


def read_sealed_parquet(store: Store, keyring: Keyring, key: str) -> pa.Table:
    """Decrypt and read one object (verification and tests: objects are bounded by one company or month)."""
    with store.open_read(key) as handle:
        data = b"".join(iter_archive(handle, keyring, name=store.uri(key)))
    return pq.read_table(pa.BufferReader(data))


class _WriteOnly:
    """The file-like surface pyarrow needs, in front of an ArchiveWriter (zstd does the compressing)."""

    def __init__(self, archive: ArchiveWriter) -> None:
        self.archive, self.position, self.closed = archive, 0, False

    def write(self, data) -> int:
        chunk = bytes(data)
        self.archive.write(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False
