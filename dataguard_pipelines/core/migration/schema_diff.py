"""What a migration did to a database: a snapshot of tables, column types and row counts, and their diff.

Row counts are exact (`count(*)`) for tables up to EXACT_COUNT_MAX_BYTES of heap, and the planner's estimate
(`pg_class.reltuples`) above: the snapshot runs twice on the live database, and counting a 100-million-row
table twice would hold the gate for minutes. Whether a table is empty is always exact (`EXISTS`), so an
emptied table is caught at any size; an estimated count is marked and shown as `~N`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dataguard_pipelines.core.engines.postgres import PostgresDatabase

EXACT_COUNT_MAX_BYTES = 1 << 30
# not the application's: the system catalogs, and dataguard's own bookkeeping (mirrors, audit trail, guards),
# which a migration does not touch and whose rows change while the gate runs (its own audit entries)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "dataguard", "dataguard_guard")

DROPPED_TABLE = "table dropped"
EMPTIED_TABLE = "table emptied"
DROPPED_COLUMN = "column dropped"
REWRITING_TYPE = "type change rewrites data"
ADDED_TABLE = "table added"
RENAMED_TABLE = "table renamed"
ADDED_COLUMN = "column added"
RENAMED_COLUMN = "column renamed"
WIDENED_TYPE = "type widened"
ROWS_CHANGED = "row count changed"
DESTRUCTIVE_KINDS = frozenset({DROPPED_TABLE, EMPTIED_TABLE, DROPPED_COLUMN, REWRITING_TYPE})


@dataclass(frozen=True)
class TableState:
    """One table: its columns (name -> type as format_type prints it) and its rows."""

    name: str  # schema.table, quoted where needed (format('%I.%I'))
    oid: int
    columns: dict[str, str]
    column_numbers: dict[int, str]  # attnum -> name: a renamed column keeps its number
    rows: int | None  # None: a partitioned parent (its rows are its partitions')
    rows_exact: bool
    is_empty: bool


@dataclass(frozen=True)
class SchemaSnapshot:
    tables: dict[str, TableState] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t.rows or 0 for t in self.tables.values())


@dataclass(frozen=True)
class Change:
    """One difference between two snapshots; `destructive` ones stop the gate unless `allowed`."""

    kind: str
    table: str
    column: str | None = None
    detail: str = ""
    rows: int | None = None  # rows the table held before (or the change in rows for ROWS_CHANGED)
    rows_exact: bool = True
    allowed: bool = False

    @property
    def destructive(self) -> bool:
        return self.kind in DESTRUCTIVE_KINDS

    @property
    def blocks(self) -> bool:
        return self.destructive and not self.allowed

    @property
    def structural(self) -> tuple[str, str, str | None, str]:
        """What must be identical between the scratch run and the real run (row numbers may differ)."""
        return (self.kind, self.table, self.column, self.detail)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "table": self.table,
            "column": self.column,
            "detail": self.detail,
            "rows": self.rows,
            "rows_exact": self.rows_exact,
            "destructive": self.destructive,
            "allowed": self.allowed,
        }


def snapshot_schema(
    db: PostgresDatabase, *, exact_count_max_bytes: int = EXACT_COUNT_MAX_BYTES
) -> SchemaSnapshot:
    """Every ordinary and partitioned table outside the system schemas, read in one REPEATABLE READ snapshot."""
    with db.connect(autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rows = conn.execute(
            "SELECT c.oid, format('%%I.%%I', n.nspname, c.relname), c.relkind::text,"
            " pg_relation_size(c.oid), c.reltuples::bigint"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_toast%%'"
            " AND n.nspname NOT LIKE 'pg_temp%%' ORDER BY 2",
            (list(SYSTEM_SCHEMAS),),
        ).fetchall()
        columns: dict[int, list[tuple[int, str, str]]] = {}
        for oid, attnum, name, type_name in conn.execute(
            "SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
        ):
            columns.setdefault(oid, []).append((attnum, name, type_name))
        tables = {}
        for oid, name, relkind, heap_bytes, estimate in rows:
            if relkind == "p":
                count, exact, empty = None, False, False
            elif heap_bytes <= exact_count_max_bytes:
                count, exact = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0], True
                empty = count == 0
            else:
                empty = not conn.execute(f"SELECT EXISTS (SELECT 1 FROM {name})").fetchone()[0]
                count, exact = (0, True) if empty else (max(estimate, 1), False)
            cols = sorted(columns.get(oid, []))
            tables[name] = TableState(
                name=name,
                oid=oid,
                columns={c: t for _, c, t in cols},
                column_numbers={n: c for n, c, _ in cols},
                rows=count,
                rows_exact=exact,
                is_empty=empty,
            )
        conn.rollback()
    return SchemaSnapshot(tables)


def diff_snapshots(
    before: SchemaSnapshot, after: SchemaSnapshot, allow_drop: tuple[str, ...] = ()
) -> list[Change]:
    """Every change from `before` to `after`, destructive ones first; renames are told apart from drops by
    the table's oid and the column's number, which a rename keeps (valid within one database)."""
    allowed = {_normal(name) for name in allow_drop}
    after_by_oid = {t.oid: t for t in after.tables.values()}
    changes: list[Change] = []
    seen_after: set[str] = set()
    for old in before.tables.values():
        new = after.tables.get(old.name)
        if new is None or new.oid != old.oid:
            renamed = after_by_oid.get(old.oid)
            if renamed is None:  # gone, or dropped and created again under the same name: its rows are lost
                detail = "created again" if new is not None else ""
                changes.append(Change(DROPPED_TABLE, old.name, None, detail, old.rows, old.rows_exact))
                continue
            changes.append(Change(RENAMED_TABLE, old.name, detail=f"-> {renamed.name}", rows=old.rows))
            new = renamed
        seen_after.add(new.name)
        changes.extend(_column_changes(old, new))
        if not old.is_empty and new.is_empty:
            changes.append(Change(EMPTIED_TABLE, old.name, rows=old.rows, rows_exact=old.rows_exact))
        elif old.rows is not None and new.rows is not None and old.rows != new.rows:
            changes.append(
                Change(
                    ROWS_CHANGED,
                    old.name,
                    detail=f"{old.rows:,} -> {new.rows:,}",
                    rows=new.rows - old.rows,
                    rows_exact=old.rows_exact and new.rows_exact,
                )
            )
    for table in after.tables.values():
        if table.name not in seen_after:
            changes.append(Change(ADDED_TABLE, table.name, rows=table.rows, rows_exact=table.rows_exact))
    marked = [
        Change(**{**c.__dict__, "allowed": True}) if c.destructive and _normal(c.table) in allowed else c
        for c in changes
    ]
    return sorted(marked, key=lambda c: (not c.destructive, c.table, c.column or ""))


def _column_changes(old: TableState, new: TableState) -> list[Change]:
    changes = []
    for number, name in old.column_numbers.items():
        new_name = new.column_numbers.get(number)
        if new_name is None:
            changes.append(
                Change(DROPPED_COLUMN, old.name, name, old.columns[name], old.rows, old.rows_exact)
            )
            continue
        if new_name != name:
            changes.append(Change(RENAMED_COLUMN, old.name, name, f"-> {new_name}"))
        old_type, new_type = old.columns[name], new.columns[new_name]
        if old_type != new_type:
            kind = WIDENED_TYPE if is_widening(old_type, new_type) else REWRITING_TYPE
            changes.append(
                Change(kind, old.name, new_name, f"{old_type} -> {new_type}", old.rows, old.rows_exact)
            )
    for number, name in new.column_numbers.items():
        if number not in old.column_numbers:
            changes.append(Change(ADDED_COLUMN, old.name, name, new.columns[name]))
    return changes


_TYPE = re.compile(r"^(?P<base>[a-z][a-z0-9 ]*?)(?:\((?P<a>\d+)(?:,(?P<b>\d+))?\))?(?P<array>\[\])?$")
_TEXT_LIKE = {"text", "character varying"}
_INTEGER_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


def is_widening(old: str, new: str) -> bool:
    """True when every value of type `old` converts to `new` unchanged (varchar(10) -> varchar(50) or text,
    integer -> bigint, numeric(10,2) -> numeric(12,2)); anything else may rewrite or reject data."""
    o, n = _TYPE.match(old), _TYPE.match(new)
    if not o or not n or bool(o["array"]) != bool(n["array"]):
        return False
    ob, nb = o["base"], n["base"]
    if ob in _TEXT_LIKE and nb in _TEXT_LIKE:
        if n["a"] is None:
            return True  # text or unbounded varchar holds anything a bounded one did
        return ob == "character varying" and o["a"] is not None and int(n["a"]) >= int(o["a"])
    if ob in _INTEGER_WIDTH and nb in _INTEGER_WIDTH:
        return _INTEGER_WIDTH[nb] >= _INTEGER_WIDTH[ob]
    if ob in _INTEGER_WIDTH and nb == "numeric":
        return n["a"] is None or int(n["a"]) - int(n["b"] or 0) >= {2: 5, 4: 10, 8: 19}[_INTEGER_WIDTH[ob]]
    if ob == nb == "numeric":
        if n["a"] is None:
            return True
        if o["a"] is None:
            return False
        old_scale, new_scale = int(o["b"] or 0), int(n["b"] or 0)
        return new_scale >= old_scale and int(n["a"]) - new_scale >= int(o["a"]) - old_scale
    if (ob, nb) == ("real", "double precision"):
        return True
    return ob == nb == "character" and n["a"] is not None and o["a"] is not None and n["a"] == o["a"]


def _normal(name: str) -> str:
    """'t', 'public.t' and '"public"."t"' name the same table."""
    bare = name.replace('"', "")
    return bare if "." in bare else f"public.{bare}"
