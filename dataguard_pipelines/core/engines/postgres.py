"""PostgreSQL: connections, server identity, consistent snapshots, and the pg_dump / pg_restore processes.

Passwords travel to client tools through PGPASSWORD, never on a command line, in a log line or an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from dataguard_pipelines.core.engines.pgtools import ClientTools, tools_for_server
from dataguard_pipelines.core.errors import BusyError, ConfigError, SourceError
from dataguard_pipelines.core.settings import redact_url

log = logging.getLogger(__name__)

BACKUP_LOCK_KEY = 0x64617461677561  # "dataguard" as an advisory lock key: one backup per database at a time
PIPE_BYTES = 1 << 20
# Session settings pg_dump itself uses, plus a fixed time zone, so COPY text is byte-identical on re-read.
DUMP_SESSION_SETTINGS = {
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "synchronize_seqscans": "off",
    "TimeZone": "UTC",
    "row_security": "off",
    "statement_timeout": "0",
}


@dataclass(frozen=True)
class ServerInfo:
    """Who the database is: enough to tell the source apart from a restore target."""

    major: int
    version: str
    system_identifier: str
    database: str
    encoding: str
    host: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "engine": "postgresql",
            "major": self.major,
            "server_version": self.version,
            "system_identifier": self.system_identifier,
            "database": self.database,
            "encoding": self.encoding,
            "host": self.host,
        }


@dataclass(frozen=True)
class Snapshot:
    """A consistency point that pg_dump can share: every later change is outside it."""

    name: str
    lsn: str
    txid: int
    taken_at: datetime
    kind: str = "exported"
    slot_name: str | None = None

    def as_consistency(self) -> dict:
        """The manifest's record of the cut: where it is, and when."""
        return {
            "kind": self.kind,
            "snapshot": self.name,
            "lsn": self.lsn,
            "txid": self.txid,
            "taken_at": self.taken_at.isoformat(),
        }


class PostgresDatabase:
    """One database, addressed by URL. The URL may hold a password: it is never shown."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"database URL {redact_url(url)!r} is not a postgresql:// URL")
        self._url = url

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.display})"

    @property
    def url(self) -> str:
        return self._url

    @property
    def display(self) -> str:
        return redact_url(self._url)

    def connect(self, *, autocommit: bool = True, dbname: str | None = None, **kwargs):
        import psycopg

        try:
            if dbname:
                kwargs["dbname"] = dbname
            return psycopg.connect(self._url, autocommit=autocommit, connect_timeout=10, **kwargs)
        except psycopg.Error as exc:
            raise SourceError(f"cannot connect to {self.display}: {_first_line(exc)}") from exc

    def server_info(self) -> ServerInfo:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version'),"
                " current_database(), pg_encoding_to_char(encoding) FROM pg_database"
                " WHERE datname = current_database()"
            ).fetchone()
            try:
                sysid = str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
            except Exception:  # not allowed for every role; identity then falls back to host + name
                sysid = ""
        return ServerInfo(
            major=row[0] // 10000,
            version=row[1],
            system_identifier=sysid,
            database=row[2],
            encoding=row[3],
            host=_host_of(self._url),
        )

    def tools(self, info: ServerInfo | None = None) -> ClientTools:
        return tools_for_server((info or self.server_info()).major)

    @contextlib.contextmanager
    def backup_lock(self) -> Iterator[None]:
        """Hold the database's backup lock; a second backup of the same database fails fast."""
        with self.connect() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (BACKUP_LOCK_KEY,)).fetchone()[0]
            if not got:
                raise BusyError(
                    f"another dataguard backup of {self.display} is running; wait for it to finish"
                )
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (BACKUP_LOCK_KEY,))

    @contextlib.contextmanager
    def exported_snapshot(self) -> Iterator[tuple[Snapshot, object]]:
        """A REPEATABLE READ transaction whose snapshot pg_dump shares; yields it and its connection."""
        conn = self.connect(autocommit=False)
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            name, lsn, txid = conn.execute(
                "SELECT pg_export_snapshot(), pg_current_wal_lsn()::text, txid_current_snapshot()::text"
            ).fetchone()
            snapshot = Snapshot(name=name, lsn=lsn, txid=int(txid.split(":")[0]), taken_at=datetime.now(UTC))
            yield snapshot, conn
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
            conn.close()

    def client_env(self) -> tuple[list[str], dict[str, str]]:
        """--dbname argument without the password, and an environment that carries it."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self._url)
        password = params.pop("password", None)
        # a URL without a password keeps an inherited PGPASSWORD, as psycopg (libpq) itself does
        env = {**os.environ, "PGTZ": "UTC", "PGCONNECT_TIMEOUT": "10"}
        if password:
            env["PGPASSWORD"] = str(password)
        return [f"--dbname={make_conninfo(**{k: str(v) for k, v in params.items()})}"], env

    def start_dump(self, tools: ClientTools, snapshot: Snapshot, *args: str) -> ToolProcess:
        """Run pg_dump on the shared snapshot with stdout as a pipe (large pipe buffer: fewer wakeups)."""
        dbname, env = self.client_env()
        cmd = [tools.path("pg_dump"), *dbname, f"--snapshot={snapshot.name}", "--no-sync", *args]
        tool = ToolProcess.start(cmd, env, stdout=subprocess.PIPE)
        with contextlib.suppress(OSError):
            fcntl.fcntl(tool.stdout.fileno(), 1031, PIPE_BYTES)  # F_SETPIPE_SZ
        return tool


@dataclass
class ToolProcess:
    """A client tool (pg_dump, pg_restore, psql) whose stderr goes to a file: an unread pipe could fill up
    with warnings and stall the tool."""

    proc: subprocess.Popen
    errors: BinaryIO

    @classmethod
    def start(cls, cmd: list[str], env: dict[str, str], *, stdout: int = subprocess.DEVNULL) -> ToolProcess:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish() or kill()
        return cls(subprocess.Popen(cmd, stdout=stdout, stderr=errors, env=env), errors)

    @property
    def stdout(self) -> BinaryIO:
        return self.proc.stdout

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.errors.close()

    def finish(self, what: str, display: str) -> None:
        """Wait for the tool and turn a non-zero exit into one clear SourceError."""
        code = self.proc.wait()
        self.errors.seek(0)
        stderr = self.errors.read().decode(errors="replace")
        self.errors.close()
        if code != 0:
            raise SourceError(f"{what} failed for {display} (exit {code}): {_last_error_line(stderr)}")


def session_settings_sql() -> str:
    return "; ".join(f"SET {k} = '{v}'" for k, v in DUMP_SESSION_SETTINGS.items())


def _last_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
    return (errors or lines or ["no error output"])[-1][:300]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


def _host_of(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    return f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
