"""Which critical tables exist, and their columns: read inside the snapshot, so they match its data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class TableShape:
    """One existing table: its qualified name, its columns (name, type, not_null) and primary key."""

    name: str  # schema.table, quoted where PostgreSQL needs it (format('%I.%I'))
    schema: str
    table: str
    columns: tuple[dict, ...]
    primary_key: tuple[str, ...]

    @property
    def column_types(self) -> dict[str, str]:
        return {c["name"]: c["type"] for c in self.columns}

    def select(self, relation: sql.Composable | None = None) -> sql.Composed:
        """The SELECT whose COPY CSV text is the content hash's input."""
        return sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(sql.Identifier(c["name"]) for c in self.columns),
            relation or sql.Identifier(self.schema, self.table),
        )


def resolve_tables(conn, names: Sequence[str]) -> tuple[list[TableShape], list[str]]:
    """The listed tables that exist (a bare name: the first match on the search_path) and those that don't.

    User types come out schema-qualified (format_type under search_path pg_catalog), so the column list
    can create the table anywhere in the same database."""
    schemas = conn.execute("SELECT current_schemas(false)").fetchone()[0]
    if "public" not in schemas:
        schemas = [*schemas, "public"]
    conn.execute("SET LOCAL search_path = pg_catalog")
    found: dict[int, TableShape] = {}
    missing = []
    for name in names:
        candidates = [name] if "." in name else [f"{_quote(schema)}.{name}" for schema in schemas]
        row = None
        for candidate in candidates:
            row = conn.execute(
                "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND c.oid = to_regclass(%s)",
                (candidate,),
            ).fetchone()
            if row:
                break
        if row is None:
            missing.append(name)
        elif row[0] not in found:
            found[row[0]] = _shape(conn, *row)
    return list(found.values()), missing


def _shape(conn, oid: int, schema: str, table: str) -> TableShape:
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = %s"
        " AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (oid,),
    ).fetchall()
    primary_key = conn.execute(
        "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.n",
        (oid,),
    ).fetchall()
    name = conn.execute("SELECT format('%%I.%%I', %s::text, %s::text)", (schema, table)).fetchone()[0]
    return TableShape(
        name=name,
        schema=schema,
        table=table,
        columns=tuple({"name": c, "type": t, "not_null": bool(n)} for c, t, n in columns),
        primary_key=tuple(r[0] for r in primary_key),
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
