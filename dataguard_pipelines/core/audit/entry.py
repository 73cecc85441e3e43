"""One audit entry, who made it, and the canonical encoding its SHA-256 is computed over.

Encoding (version 1): the UTF-8 bytes of a JSON object holding exactly the fields of `HASHED_FIELDS`, keys
sorted, no whitespace (`separators=(",", ":")`), non-ASCII characters as themselves; `seq` an integer, `at` the
server time in UTC as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, absent actor fields as null, `parameters` the
redacted object with its keys sorted too, `prev_sha256` the previous entry's `sha256` (64 zeros for seq 1).
`sha256` is the lower-case hex SHA-256 of those bytes.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

GENESIS_SHA256 = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "operation",
    "parameters",
    "outcome",
    "os_user",
    "host",
    "db_role",
    "db_session_user",
    "client_ip",
    "dagster_run_id",
    "launched_by",
    "prev_sha256",
)


@dataclass(frozen=True)
class Actor:
    """Who and where: the OS user and host of the process, the Dagster run and what launched it.

    The database roles and the client address are the server's view, filled in when the entry is written."""

    os_user: str
    host: str
    dagster_run_id: str | None = None
    launched_by: str | None = None
    db_role: str | None = None
    db_session_user: str | None = None
    client_ip: str | None = None

    @classmethod
    def current(cls, dagster_run_id: str | None = None, launched_by: str | None = None) -> Actor:
        return cls(
            os_user=_os_user(),
            host=socket.gethostname(),
            dagster_run_id=dagster_run_id,
            launched_by=launched_by or "user",
        )

    def on_server(self, db_role: str, db_session_user: str, client_ip: str | None) -> Actor:
        return replace(self, db_role=db_role, db_session_user=db_session_user, client_ip=client_ip)


@dataclass(frozen=True)
class AuditEntry:
    """One row of dataguard.audit_log (and of its store anchor)."""

    seq: int
    at: datetime
    operation: str
    parameters: dict[str, Any]
    outcome: str
    actor: Actor
    prev_sha256: str
    sha256: str = field(default="")

    def hashed_document(self) -> dict[str, Any]:
        actor = asdict(self.actor)
        return {
            "seq": self.seq,
            "at": format_at(self.at),
            "operation": self.operation,
            "parameters": self.parameters,
            "outcome": self.outcome,
            **{name: actor[name] for name in HASHED_FIELDS if name in actor},
            "prev_sha256": self.prev_sha256,
        }

    def computed_sha256(self) -> str:
        return hashlib.sha256(canonical(self.hashed_document())).hexdigest()

    def sealed(self) -> AuditEntry:
        return replace(self, sha256=self.computed_sha256())

    def as_dict(self) -> dict[str, Any]:
        """The anchor's document and the CLI's JSON: every hashed field plus the hash."""
        return {**self.hashed_document(), "sha256": self.sha256}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> AuditEntry:
        actor = Actor(**{name: document.get(name) for name in Actor.__dataclass_fields__})
        return cls(
            seq=int(document["seq"]),
            at=datetime.fromisoformat(document["at"]),
            operation=document["operation"],
            parameters=document["parameters"],
            outcome=document["outcome"],
            actor=actor,
            prev_sha256=document["prev_sha256"],
            sha256=document.get("sha256", ""),
        )


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def format_at(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
