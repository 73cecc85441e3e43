"""The tamper-evident audit trail: who changed or could have lost data, when, how it ended.

Append-only, hash-chained rows in `dataguard.audit_log` of the protected database, each also written
write-once to the store (`audit/<seq>.json`); `verify_chain` finds any edited, deleted, reordered, inserted
or truncated entry."""

from dataguard_pipelines.core.audit.blocked import (
    BLOCKED_PREFIX,
    BlockedAttempt,
    blocked_attempt,
    record_blocked_attempts,
)
from dataguard_pipelines.core.audit.entry import GENESIS_SHA256, Actor, AuditEntry
from dataguard_pipelines.core.audit.log import (
    ANCHOR_PREFIX,
    TABLE,
    Audited,
    anchor_key,
    audited,
    ensure_table,
    read_log,
    record,
)
from dataguard_pipelines.core.audit.redact import redact_parameters, redact_text
from dataguard_pipelines.core.audit.verify import AuditProblem, AuditReport, verify_chain

__all__ = [
    "ANCHOR_PREFIX",
    "BLOCKED_PREFIX",
    "GENESIS_SHA256",
    "TABLE",
    "Actor",
    "AuditEntry",
    "AuditProblem",
    "AuditReport",
    "Audited",
    "BlockedAttempt",
    "anchor_key",
    "audited",
    "blocked_attempt",
    "ensure_table",
    "read_log",
    "record",
    "record_blocked_attempts",
    "redact_parameters",
    "redact_text",
    "verify_chain",
]
