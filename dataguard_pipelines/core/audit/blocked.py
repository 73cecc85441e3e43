"""Blocked guard violations into the audit trail, although the blocked statement's transaction rolled back.

The guard function (part G) emits, before it raises,
    pg_logical_emit_message(false, 'dataguard.guard_blocked', json_build_object(...)::text)
A non-transactional message is written to WAL at once and survives the rollback. The capture slot's stream
carries it; the shipper (or a sweep over the slot) hands the messages it sees to `record_blocked_attempts`,
which appends one `guard.blocked` entry per message, once (the message's LSN is the key)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dataguard_pipelines.core.audit.entry import Actor, AuditEntry
from dataguard_pipelines.core.audit.log import TABLE, ensure_table, record
from dataguard_pipelines.core.engines.postgres import PostgresDatabase
from dataguard_pipelines.core.store import Store

BLOCKED_PREFIX = "dataguard.guard_blocked"
# test_decoding's rendering of a logical message
_MESSAGE = re.compile(
    r"^message: transactional: [01] prefix: (?P<prefix>[^,]*), sz: \d+ content:(?P<content>.*)$", re.S
)


@dataclass(frozen=True)
class BlockedAttempt:
    """One message from the stream: where it is (its LSN) and the guard's JSON."""

    lsn: str
    content: str


def blocked_attempt(lsn: str, decoded: str) -> BlockedAttempt | None:
    """The attempt in one test_decoding row, or None when the row is anything else."""
    match = _MESSAGE.match(decoded)
    if not match or match["prefix"] != BLOCKED_PREFIX:
        return None
    return BlockedAttempt(lsn=lsn, content=match["content"])


def record_blocked_attempts(
    db: PostgresDatabase,
    store: Store | None,
    attempts: Iterable[BlockedAttempt],
    *,
    actor: Actor | None = None,
) -> list[AuditEntry]:
    """Append a `guard.blocked` entry for each attempt not recorded yet; returns the new entries."""
    attempts = list(attempts)
    if not attempts:
        return []
    with db.connect() as conn:
        ensure_table(conn)
        seen = {
            row[0]
            for row in conn.execute(
                f"SELECT parameters->>'message_lsn' FROM {TABLE} WHERE operation = 'guard.blocked'"
            )
        }
    entries = []
    for attempt in attempts:
        if attempt.lsn in seen:
            continue
        try:
            details = json.loads(attempt.content)
        except ValueError:
            details = {"raw": attempt.content[:500]}
        if not isinstance(details, dict):
            details = {"raw": str(details)[:500]}
        parameters = {**details, "message_lsn": attempt.lsn}
        entries.append(
            record(
                db,
                operation="guard.blocked",
                parameters=parameters,
                outcome="blocked",
                store=store,
                actor=actor,
            )
        )
        seen.add(attempt.lsn)
    return entries
