"""Checking the chain: every row hashes to its sha256, names its predecessor's, and matches its store anchor.

What each kind of tampering looks like here:
- an edited row: its fields no longer hash to its sha256 (or, re-hashed, it no longer matches its anchor);
- a deleted row: a gap in seq, and an anchor without a row;
- reordered or inserted rows: prev_sha256 does not name the row before, and the anchor differs or is missing;
- a truncated tail: anchors beyond the table's last seq;
- a missing anchor (the store write failed, or the row was forged): reported as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dataguard_pipelines.core.audit.entry import GENESIS_SHA256, AuditEntry
from dataguard_pipelines.core.audit.log import ANCHOR_PREFIX, TABLE, TRIGGER, anchor_key, read_log
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.store import Store


@dataclass(frozen=True)
class AuditProblem:
    """One finding: the entry it concerns (None for the table as a whole) and what differs."""

    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}" if self.seq is not None else self.problem


@dataclass(frozen=True)
class AuditReport:
    entries: int
    anchors: int
    head_seq: int | None
    head_sha256: str | None
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "anchors": self.anchors,
            "head_seq": self.head_seq,
            "head_sha256": self.head_sha256,
            "problems": [{"seq": p.seq, "problem": p.problem} for p in self.problems],
        }


def verify_chain(db: PostgresDatabase, store: Store) -> AuditReport:
    """Compare the table with itself (hashes, links, seq) and with the store's write-once anchors."""
    rows = read_log(db)
    anchors = _anchors(store)
    problems: list[AuditProblem] = [*_protection_problems(db, bool(rows))]
    previous: AuditEntry | None = None
    for row in rows:
        expected_seq = previous.seq + 1 if previous else 1
        for missing in range(expected_seq, row.seq):
            problems.append(_missing_row(missing, anchors.get(missing)))
        if row.computed_sha256() != row.sha256:
            problems.append(
                AuditProblem(
                    row.seq,
                    f"its fields do not hash to its sha256 (edited row){_diff(row, anchors.get(row.seq))}",
                )
            )
        expected_prev = previous.sha256 if previous and previous.seq == row.seq - 1 else None
        if row.seq == 1 and row.prev_sha256 != GENESIS_SHA256:
            problems.append(
                AuditProblem(
                    row.seq, "the first entry does not start the chain (prev_sha256 is not 64 zeros)"
                )
            )
        elif expected_prev is not None and row.prev_sha256 != expected_prev:
            problems.append(
                AuditProblem(
                    row.seq,
                    f"prev_sha256 {row.prev_sha256[:12]}… does not name entry {row.seq - 1} "
                    f"({expected_prev[:12]}…): rows were reordered, inserted or rewritten",
                )
            )
        anchor = anchors.get(row.seq)
        if anchor is None:
            problems.append(
                AuditProblem(
                    row.seq, f"no store anchor {anchor_key(row.seq)} (forged row, or the anchor write failed)"
                )
            )
        elif anchor.get("sha256") != row.sha256:
            problems.append(AuditProblem(row.seq, f"differs from its store anchor{_diff(row, anchor)}"))
        previous = row
    last = rows[-1].seq if rows else 0
    beyond = sorted(seq for seq in anchors if seq > last)
    if beyond:
        problems.append(
            AuditProblem(
                beyond[0],
                f"the store anchors entries {beyond[0]}..{beyond[-1]} but the table ends at {last}: "
                f"the tail was truncated ({len(beyond)} entries gone)",
            )
        )
    head = rows[-1] if rows else None
    return AuditReport(
        entries=len(rows),
        anchors=len(anchors),
        head_seq=head.seq if head else None,
        head_sha256=head.sha256 if head else None,
        problems=tuple(problems),
    )


def _anchors(store: Store) -> dict[int, dict[str, Any]]:
    found = {}
    for key in store.glob(f"{ANCHOR_PREFIX}/*.json"):
        stem = key.rsplit("/", 1)[-1].removesuffix(".json")
        if stem.isdigit():
            try:
                found[int(stem)] = json.loads(store.get_bytes(key))
            except ValueError:
                found[int(stem)] = {"sha256": None, "unreadable": True}
    return found


def _missing_row(seq: int, anchor: dict[str, Any] | None) -> AuditProblem:
    if anchor is None:
        return AuditProblem(seq, "missing from the table and from the store (seq gap)")
    return AuditProblem(
        seq,
        f"deleted from the table (seq gap); the store anchor records {anchor.get('operation')!r} "
        f"at {anchor.get('at')} by {anchor.get('os_user')}",
    )


def _diff(row: AuditEntry, anchor: dict[str, Any] | None) -> str:
    """': operation 'restore' in the table, 'backup.full' in the store' — the fields that differ."""
    if anchor is None:
        return ""
    if anchor.get("unreadable"):
        return ": the anchor is not valid JSON"
    current = row.as_dict()
    changed = [
        f"{name} {_short(current.get(name))} in the table, {_short(anchor.get(name))} in the store"
        for name in sorted(set(current) | set(anchor))
        if name != "sha256" and current.get(name) != anchor.get(name)
    ]
    return ": " + "; ".join(changed) if changed else ": only the stored sha256 differs"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "…"


def _protection_problems(db: PostgresDatabase, has_rows: bool) -> list[AuditProblem]:
    """The append-only trigger must exist and be enabled (a superuser can disable it; the anchors still hold)."""
    if not has_rows:
        return []
    with db.connect() as conn:
        state = conn.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = %s",
            (TABLE, TRIGGER),
        ).fetchone()
    if state is None:
        return [AuditProblem(None, f"the append-only trigger {TRIGGER} on {TABLE} is missing")]
    if state[0] == "D":
        return [AuditProblem(None, f"the append-only trigger {TRIGGER} on {TABLE} is disabled")]
    return []
