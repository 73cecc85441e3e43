"""critical_tables_intact: compare a critical snapshot with the one before it.

A snapshot's row counts and columns are the live tables' at its cut, so comparing two consecutive snapshots
is exact (no count(*) racing the application). It fails when a table that the previous snapshot held is gone,
lost or retyped a column, or lost more than `max_shrink` of its rows. Added columns pass (migrations add
columns; the guards allow it). A listed table that never existed is a warning, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataguard_pipelines.core.manifest import Manifest, list_manifests
from dataguard_pipelines.core.store import Store

FAILING = ("dropped", "columns_changed", "shrank")


@dataclass(frozen=True)
class TableFinding:
    """One table compared with the previous snapshot; `status` is ok, added, or one of FAILING."""

    table: str
    status: str
    baseline_rows: int | None
    rows: int | None
    detail: str = ""

    @property
    def shrink(self) -> float | None:
        if not self.baseline_rows or self.rows is None:
            return None
        return round((self.baseline_rows - self.rows) / self.baseline_rows, 4)

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass(frozen=True)
class IntactReport:
    backup_id: str
    baseline_id: str | None
    max_shrink: float
    findings: tuple[TableFinding, ...]
    missing: tuple[str, ...]  # listed but not existing: a warning

    @property
    def failures(self) -> list[TableFinding]:
        return [f for f in self.findings if f.failed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """One sentence per failure, for logs and the check's description."""
        if self.passed:
            return f"all critical tables intact since {self.baseline_id or 'the first snapshot'}"
        return "; ".join(f"{f.table}: {f.detail}" for f in self.failures)


def previous_snapshot(store: Store, current: Manifest) -> Manifest | None:
    """The newest critical snapshot finished before `current`."""
    earlier = [
        m
        for m in list_manifests(store, "critical")
        if m.backup_id != current.backup_id and m.finished_at < current.finished_at
    ]
    return earlier[-1] if earlier else None


def check_intact(current: Manifest, baseline: Manifest | None, max_shrink: float) -> IntactReport:
    now = current.extra["critical"]["tables"]
    before = baseline.extra["critical"]["tables"] if baseline else {}
    findings = []
    for name, old in before.items():
        new = now.get(name)
        if new is None:
            findings.append(
                TableFinding(name, "dropped", old["rows"], None, "exists no more (or was renamed)")
            )
            continue
        findings.append(_compare(name, old, new, max_shrink))
    findings += [
        TableFinding(name, "added", None, new["rows"]) for name, new in now.items() if name not in before
    ]
    return IntactReport(
        backup_id=current.backup_id,
        baseline_id=baseline.backup_id if baseline else None,
        max_shrink=max_shrink,
        findings=tuple(sorted(findings, key=lambda f: f.table)),
        missing=tuple(current.extra["critical"]["missing"]),
    )


def _compare(name: str, old: dict, new: dict, max_shrink: float) -> TableFinding:
    old_types = {c["name"]: c["type"] for c in old["columns"]}
    new_types = {c["name"]: c["type"] for c in new["columns"]}
    dropped = [c for c in old_types if c not in new_types]
    retyped = [
        f"{c} {old_types[c]} -> {new_types[c]}"
        for c in old_types
        if c in new_types and new_types[c] != old_types[c]
    ]
    if dropped or retyped:
        parts = ([f"dropped column(s) {', '.join(dropped)}"] if dropped else []) + (
            [f"changed type {', '.join(retyped)}"] if retyped else []
        )
        return TableFinding(name, "columns_changed", old["rows"], new["rows"], "; ".join(parts))
    finding = TableFinding(name, "ok", old["rows"], new["rows"])
    if finding.shrink is not None and finding.shrink > max_shrink:
        return TableFinding(
            name,
            "shrank",
            old["rows"],
            new["rows"],
            f"{old['rows']:,} -> {new['rows']:,} rows ({finding.shrink:.0%} fewer; at most {max_shrink:.0%} allowed)",
        )
    return finding
