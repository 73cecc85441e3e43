"""The one row encoding of critical snapshots: PostgreSQL's own CSV COPY text, hashed as it streams.

Why COPY CSV and not a cursor of Python values: the server formats every value exactly (numeric precision,
timestamptz, jsonb, arrays, bytea, NULL vs empty text), pyarrow's C++ reader turns it into record batches
without a Python object per value, and the same bytes come back out of a restored table, so the content
hash is re-checkable: SHA-256 over `COPY (SELECT <columns> FROM <table>) TO STDOUT (FORMAT csv)` under
pg_dump's session settings (UTC, ISO dates, extra_float_digits 3). Integer and boolean columns are typed in
Parquet; every other column keeps the server's text, which loads back into the same type losslessly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

BLOCK_BYTES = 4 << 20  # one CSV block of this size becomes one record batch: memory stays flat
ARROW_TYPES = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64(), "boolean": pa.bool_()}


def arrow_type(pg_type: str) -> pa.DataType:
    return ARROW_TYPES.get(pg_type, pa.string())


def arrow_schema(columns: Sequence[dict]) -> pa.Schema:
    """Parquet schema of one table; each field remembers its PostgreSQL type."""
    return pa.schema(
        [pa.field(c["name"], arrow_type(c["type"]), metadata={"pg_type": c["type"]}) for c in columns]
    )


class HashingReader:
    """A read-only file over psycopg COPY TO blocks that hashes and counts every byte pyarrow reads."""

    def __init__(self, copy) -> None:
        self._copy = copy
        self._buffer = bytearray()
        self._done = False
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            block = self._copy.read()
            if not block:
                self._done = True
                break
            self._buffer += block
            self.digest.update(block)
            self.bytes += len(block)
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def record_batches(reader: HashingReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Parse CSV COPY text into batches of `schema`: unquoted empty is NULL, quoted empty is ''."""
    try:
        stream = _open(reader, schema)
    except pa.ArrowInvalid:
        if reader.bytes == 0:  # an empty table: pyarrow refuses an empty CSV file
            return
        raise
    for batch in stream:
        yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)  # with each field's pg_type


def _open(reader: HashingReader, schema: pa.Schema) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        reader,
        read_options=pacsv.ReadOptions(column_names=schema.names, use_threads=True, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


def csv_bytes(batch: pa.RecordBatch) -> bytes:
    """One batch as CSV for COPY FROM: every non-NULL value quoted, so '' and the `\\.` marker stay data."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return sink.getvalue().to_pybytes()
