"""Run a migration command against one database, the way the application's own tooling expects it.

The command finds its database in `DATABASE_URL` (Rails, Alembic setups, Prisma, …), in Laravel's `DB_*`
variables and in libpq's `PG*` variables (psql, scripts); every inherited variable of those names is
replaced, so a command can never reach another database by accident. The password travels only in the
environment, never on a command line. Output goes to a file and, line by line, to a callback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dataguard_pipelines.core.errors import ConfigError

log = logging.getLogger(__name__)
TAIL_LINES = 20
# libpq variables that would send a command elsewhere than PGHOST/PGDATABASE say: never inherited
REDIRECTING_VARIABLES = frozenset({"PGHOSTADDR", "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE"})


@dataclass(frozen=True)
class CommandResult:
    """How one run of the command ended; `output_tail` has the password (if any) replaced by ***."""

    database: str  # the database name it ran against
    exit_code: int
    duration_s: float
    output_path: str
    output_tail: tuple[str, ...]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def as_dict(self) -> dict:
        return {
            "database": self.database,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 2),
            "output_path": self.output_path,
            "output_tail": list(self.output_tail),
            "timed_out": self.timed_out,
        }


def describe_command(command: Sequence[str] | str) -> str:
    """The command as a person would type it."""
    return command if isinstance(command, str) else shlex.join(command)


def database_environment(url: str) -> dict[str, str]:
    """DATABASE_URL, Laravel's DB_* and libpq's PG* variables for the database at `url`."""
    from psycopg.conninfo import conninfo_to_dict

    parts = urlsplit(url)
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or 5432)
    database = str(params.get("dbname") or "")
    user = str(params.get("user") or (unquote(parts.username) if parts.username else "postgres"))
    password = str(params.get("password") or os.environ.get("PGPASSWORD") or "")
    if not database:
        raise ConfigError("the database URL names no database; end it with /<database>")
    env = {
        "DATABASE_URL": url,
        "DB_CONNECTION": "pgsql",
        "DB_HOST": host,
        "DB_PORT": port,
        "DB_DATABASE": database,
        "DB_USERNAME": user,
        "DB_PASSWORD": password,
        "PGHOST": host,
        "PGPORT": port,
        "PGDATABASE": database,
        "PGUSER": user,
    }
    if password:
        env["PGPASSWORD"] = password
    return env


def run_command(
    command: Sequence[str] | str,
    url: str,
    *,
    output_path: Path,
    timeout_s: float,
    extra_env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> CommandResult:
    """Run `command` (argv list, or one shell string) against the database at `url` and wait for it.

    A command still running after `timeout_s` is killed with its whole process group."""
    inherited = {k: v for k, v in os.environ.items() if k not in REDIRECTING_VARIABLES}
    env = {**inherited, **database_environment(url), **(extra_env or {})}
    password = env["DB_PASSWORD"]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if not argv:
        raise ConfigError("the migration command is empty; give it with --command or after --")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills the children too
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot start the migration command {argv[0]!r} ({exc.strerror}); check the command and PATH"
        ) from exc
    timed_out = threading.Event()

    def kill_group() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill_group)
    timer.start()
    try:
        with open(output_path, "wb") as out:
            for raw in proc.stdout:
                out.write(raw)
                line = raw.decode(errors="replace").rstrip("\n")
                if password:
                    line = line.replace(password, "***")
                tail.append(line)
                if on_line:
                    on_line(line)
        code = proc.wait()
    finally:
        timer.cancel()
    duration = time.monotonic() - started
    database = env["DB_DATABASE"]
    log.info("migration command on %s: exit %d after %.1f s", database, code, duration)
    return CommandResult(database, code, duration, str(output_path), tuple(tail), timed_out.is_set())
