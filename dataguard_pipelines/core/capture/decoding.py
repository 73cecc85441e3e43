"""Parse the output of PostgreSQL's `test_decoding` plugin into typed changes.

The segments keep the plugin's text exactly as PostgreSQL produced it; parsing happens when the text is
replayed or summarised, so a parser fix never needs the data to be captured again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import FormatError

UNCHANGED = object()
"""A TOASTed value that the UPDATE did not touch: test_decoding does not print it, replay leaves it alone."""

Value = str | None | object
Column = tuple[str, Value]


@dataclass(frozen=True)
class Begin:
    xid: int


@dataclass(frozen=True)
class Commit:
    xid: int
    committed_at: datetime


@dataclass(frozen=True)
class RowChange:
    """INSERT, UPDATE or DELETE of one row; `old` is the replica identity (key or whole row) when logged."""

    op: str
    table: str
    new: tuple[Column, ...] = ()
    old: tuple[Column, ...] | None = None


@dataclass(frozen=True)
class Truncate:
    tables: tuple[str, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class Message:
    transactional: bool
    prefix: str
    content: str


Event = Begin | Commit | RowChange | Truncate | Message

_IDENT = r'(?:"(?:[^"]|"")*"|[^\s"\[\]:,.]+)'
# A tuple with no printed column (REPLICA IDENTITY FULL skips NULLs in the old row) leaves no space after ":".
_TABLE = re.compile(rf"table ({_IDENT}(?:\.{_IDENT})?): (INSERT|UPDATE|DELETE):(?: |\Z)")
_TRUNCATE = re.compile(r"table (.+): TRUNCATE: (.*)", re.DOTALL)
_TABLE_NAME = re.compile(rf"({_IDENT}(?:\.{_IDENT})?)(?:, |$)")
_COLUMN = re.compile(
    rf"({_IDENT})\[((?:[^\[\]\"]|\"(?:[^\"]|\"\")*\"|\[\])*)\]:"
    r"(?:'([^']*(?:''[^']*)*)'|B'([01]*)'|([^\s']+))"  # bare: numbers, true/false, null, unchanged-toast-datum
)
_COMMIT = re.compile(r"COMMIT (\d+) \(at (.+)\)$")
_MESSAGE = re.compile(r"message: transactional: ([01]) prefix: (.*?), sz: (\d+) content:(.*)", re.DOTALL)


def parse_event(data: str) -> Event:
    """One row of `pg_logical_slot_peek_changes(..., 'include-xids', '1', 'include-timestamp', '1')`."""
    try:
        if data.startswith("table "):
            match = _TABLE.match(data)
            if match:
                return _row_change(match.group(1), match.group(2), data, match.end())
            match = _TRUNCATE.match(data)
            if match:
                return _truncate(match.group(1), match.group(2))
        elif data.startswith("BEGIN "):
            return Begin(int(data[6:]))
        elif data.startswith("COMMIT "):
            match = _COMMIT.match(data)
            if match:
                return Commit(int(match.group(1)), _timestamp(match.group(2)))
        elif data.startswith("message: "):
            match = _MESSAGE.match(data)
            if match:
                return Message(match.group(1) == "1", match.group(2), match.group(4))
    except (ValueError, IndexError) as exc:
        raise FormatError(f"cannot parse decoded change {_excerpt(data)}: {exc}") from exc
    raise FormatError(f"cannot parse decoded change {_excerpt(data)}")


def unquote_identifier(text: str) -> str:
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text


def _row_change(table: str, op: str, data: str, pos: int) -> RowChange:
    if op == "INSERT":
        return RowChange(op, table, new=_columns(data, pos, data_end=len(data)))
    if op == "DELETE":
        if data.startswith("(no-tuple-data)", pos):
            return RowChange(op, table, old=None)
        return RowChange(op, table, old=_columns(data, pos, data_end=len(data)))
    if data.startswith("old-key:", pos):
        split = _find_new_tuple(data, pos + 8)
        old = _columns(data, pos + 9, data_end=split)  # empty when every old value was NULL
        new_start = split + len(" new-tuple:")
        if data.startswith(" ", new_start):
            new_start += 1
        return RowChange(op, table, new=_columns(data, new_start, len(data)), old=old)
    return RowChange(op, table, new=_columns(data, pos, data_end=len(data)))


def _find_new_tuple(data: str, pos: int) -> int:
    """The ' new-tuple:' marker after the old key; found by walking columns, never by searching text.

    `pos` is just after 'old-key:'; every old column, like the marker, is preceded by one space."""
    while pos < len(data):
        if data.startswith(" new-tuple:", pos):
            return pos
        if data[pos] != " ":
            break
        match = _COLUMN.match(data, pos + 1)
        if not match:
            break
        pos = match.end()
    raise ValueError("UPDATE with old-key but no new-tuple")


def _columns(data: str, pos: int, data_end: int) -> tuple[Column, ...]:
    columns: list[Column] = []
    while pos < data_end:
        match = _COLUMN.match(data, pos)
        if not match or match.end() > data_end:
            raise ValueError(f"unexpected text at offset {pos}")
        name = unquote_identifier(match.group(1))
        quoted, bits, bare = match.group(3), match.group(4), match.group(5)
        if quoted is not None:
            value: Value = quoted.replace("''", "'")
        elif bits is not None:
            value = bits
        elif bare == "null":
            value = None
        elif bare == "unchanged-toast-datum":
            value = UNCHANGED
        else:
            value = bare
        columns.append((name, value))
        pos = match.end()
        if pos < data_end:
            if data[pos] != " ":
                raise ValueError(f"expected a space at offset {pos}")
            pos += 1
    return tuple(columns)


def _truncate(names: str, flags: str) -> Truncate:
    tables: list[str] = []
    pos = 0
    while pos < len(names):
        match = _TABLE_NAME.match(names, pos)
        if not match:
            raise ValueError(f"bad table list {names!r}")
        tables.append(match.group(1))
        pos = match.end()
    return Truncate(tuple(tables), cascade="cascade" in flags, restart_identity="restart_seqs" in flags)


def _timestamp(text: str) -> datetime:
    """test_decoding prints the commit time in the decoding session's zone, which capture pins to UTC."""
    value = datetime.fromisoformat(text.replace(" ", "T", 1))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _excerpt(data: str) -> str:
    return repr(data[:120] + ("…" if len(data) > 120 else ""))
