"""Guards that were tampered with go into the audit trail, once.

An event trigger cannot stop a superuser from dropping or disabling the event triggers themselves; the
`guards_installed` check sees it every 15 minutes. Each distinct set of problems is recorded once as a
`guards.tampered` entry, not on every evaluation: the same problems are recorded again only after a
`guards.install` (the guards were restored, then broken again)."""

from __future__ import annotations

from dataguard_pipelines.core.audit import Actor, AuditEntry, read_log, record
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.protection.guards import GuardStatus
from dataguard_pipelines.core.store import Store

TAMPERED = "guards.tampered"
INSTALLED = "guards.install"
UNINSTALLED = "guards.uninstall"


def record_tampering(
    db: PostgresDatabase, status: GuardStatus, *, store: Store | None, actor: Actor | None = None
) -> AuditEntry | None:
    """Append a `guards.tampered` entry naming `status.problems`, unless it is already recorded; returns the
    new entry, or None when there is nothing new (healthy, already recorded, or never installed or
    uninstalled on purpose). Raises SourceError when the entry cannot be written."""
    problems = status.problems
    if not problems:
        return None
    entries = read_log(db, operation="guards")
    last_change = _newest(entries, INSTALLED, UNINSTALLED)
    if not status.installed and (last_change is None or last_change.operation != INSTALLED):
        return None  # never installed, or removed with guards uninstall: absent on purpose, not tampered
    last = _newest(entries, TAMPERED, INSTALLED)
    if last is not None and last.operation == TAMPERED and last.parameters.get("problems") == problems:
        return None
    return record(
        db,
        operation=TAMPERED,
        parameters={"database": status.database, "problems": problems},
        outcome="detected",
        store=store,
        actor=actor,
    )


def _newest(entries: list[AuditEntry], *operations: str) -> AuditEntry | None:
    return next((e for e in reversed(entries) if e.operation in operations), None)
