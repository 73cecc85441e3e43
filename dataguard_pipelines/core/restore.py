"""Restore a full backup into a database: the one code path for real restores and for restore drills.

Order, as pg_restore -j does it: schema pre-data, table data in parallel (largest first), sequence values
and other data-section SQL, then post-data (indexes, constraints, triggers) with pg_restore -j, then
materialized views are refreshed.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from dataguard_pipelines.core.archive_stream import iter_archive
from dataguard_pipelines.core.engines.pgtools import ClientTools, tools_for_restore
from dataguard_pipelines.core.engines.postgres import PostgresDatabase, ToolProcess, session_settings_sql
from dataguard_pipelines.core.errors import ConfigError, DataguardError, RestoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import Manifest, StoredObject, TableEntry
from dataguard_pipelines.core.progress import Progress, ProgressFn, Throttle
from dataguard_pipelines.core.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """What was restored where, and the measured restore time (the RTO of this backup)."""

    backup_id: str
    target: str
    tables: int
    rows: int
    content_bytes: int
    duration_s: float
    skipped_foreign_keys: int = 0
    # event triggers (table guards, DDL capture) left out: only a superuser may create them
    skipped_event_triggers: int = 0

    @property
    def throughput_mb_s(self) -> float:
        return self.content_bytes / 1e6 / max(self.duration_s, 1e-6)


def restore_backup(
    manifest: Manifest,
    store: Store,
    keyring: Keyring,
    target_url: str,
    *,
    jobs: int = 2,
    tables: list[str] | None = None,
    source_url: str | None = None,
    force_overwrite_source: bool = False,
    progress: ProgressFn | None = None,
) -> RestoreResult:
    """Restore `manifest` into the database at `target_url`, creating it if absent."""
    if manifest.backup_type != "full":
        raise ConfigError(
            f"backup {manifest.backup_id} is a {manifest.backup_type} snapshot of a few tables; restore them "
            "into a side schema with --tables … --into-schema NAME"
        )
    report = Throttle(progress)
    started = time.monotonic()
    target = PostgresDatabase(target_url)
    selected = _select_tables(manifest, tables)
    report(Progress("prepare", 0, None, target.display), force=True)
    target_major = _prepare_target(manifest, target, source_url, force_overwrite_source)
    tools = tools_for_restore(int(manifest.tool.get("pg_dump_major", manifest.source["major"])), target_major)
    total = sum(t.object.content_bytes for t in selected)
    with tempfile.TemporaryDirectory(prefix="dataguard-restore-") as tmp:
        schema_file = Path(tmp) / "schema.pgdump"
        _unseal_to_file(store, keyring, manifest, manifest.schema, schema_file)
        report(Progress("schema", 0, total, "pre-data"), force=True)
        _pg_restore(tools, target, schema_file, "--section=pre-data")
        _load_tables(store, keyring, manifest, target, selected, jobs, report, total)
        misc_file = Path(tmp) / "misc.sql"
        _unseal_to_file(store, keyring, manifest, manifest.misc, misc_file)
        _psql_file(tools, target, misc_file)
        report(Progress("indexes", total, total, "post-data"), force=True)
        skipped, skipped_event_triggers = _restore_post_data(
            tools, target, schema_file, jobs, partial=tables is not None, tmp=Path(tmp)
        )
    _refresh_matviews(target, manifest.materialized_views)
    duration = time.monotonic() - started
    rows = sum(t.rows for t in selected)
    log.info(
        "restored %s into %s: %d tables, %d rows in %.1f s",
        manifest.backup_id,
        target.display,
        len(selected),
        rows,
        duration,
    )
    return RestoreResult(
        backup_id=manifest.backup_id,
        target=target.display,
        tables=len(selected),
        rows=rows,
        content_bytes=total,
        duration_s=duration,
        skipped_foreign_keys=skipped,
        skipped_event_triggers=skipped_event_triggers,
    )


def _select_tables(manifest: Manifest, names: list[str] | None) -> list[TableEntry]:
    if names is None:
        return list(manifest.tables)
    by_name = {t.name: t for t in manifest.tables}
    by_name.update({t.name.split(".", 1)[1]: t for t in manifest.tables if t.name.startswith("public.")})
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(f"backup {manifest.backup_id} has no table(s) {', '.join(unknown)}")
    return list({by_name[n].name: by_name[n] for n in names}.values())


def _prepare_target(manifest: Manifest, target: PostgresDatabase, source_url: str | None, force: bool) -> int:
    """Refuse the source (unless forced) and non-empty targets; create the database if absent."""
    from psycopg import sql

    dbname = _dbname(target.url)
    with target.connect(dbname="postgres") as admin:
        major = admin.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()[0]
        source_major = int(manifest.source["major"])
        if major < source_major:
            raise RestoreError(
                f"backup {manifest.backup_id} comes from PostgreSQL {source_major}; the target runs {major}, and "
                f"restoring into an older major version is not supported; restore into PostgreSQL {source_major}+"
            )
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        is_source = exists and _is_source(manifest, target, source_url)
        if is_source and not force:
            raise RestoreError(
                f"{target.display} is the database this backup was taken from; restore into another database, "
                "or pass --force-overwrite-source to replace it"
            )
        if exists and is_source:
            log.warning("overwriting the source database %s as requested", target.display)
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return major
    with target.connect() as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN"
            " ('r','p','v','m','S') AND n.nspname NOT IN ('pg_catalog','information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%'"
        ).fetchone()[0]
    if count:
        raise RestoreError(
            f"target database {target.display} already holds {count} relations; restore into a "
            "new or empty database"
        )
    return major


def _is_source(manifest: Manifest, target: PostgresDatabase, source_url: str | None) -> bool:
    if source_url and _same_address(source_url, target.url):
        return True
    info = target.server_info()
    sysid = manifest.source.get("system_identifier")
    return bool(sysid) and info.system_identifier == sysid and info.database == manifest.source["database"]


def _same_address(a: str, b: str) -> bool:
    from psycopg.conninfo import conninfo_to_dict

    def key(url: str) -> tuple:
        p = conninfo_to_dict(url)
        host = str(p.get("host", "localhost")).replace("localhost", "127.0.0.1")
        return host, str(p.get("port", 5432)), p.get("dbname")

    return key(a) == key(b)


def _dbname(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise ConfigError("--target-url names no database; end it with /<database>")
    return str(name)


@contextlib.contextmanager
def opened_object(
    store: Store, keyring: Keyring, manifest: Manifest, obj: StoredObject
) -> Iterator[Iterator[bytes]]:
    """The plaintext of one object of a backup set, streamed and authenticated chunk by chunk."""
    key = f"{manifest.prefix}/{obj.key}"
    with store.open_read(key) as handle:
        yield iter_archive(handle, keyring, name=store.uri(key))


def _unseal_to_file(store, keyring, manifest, obj: StoredObject, path: Path) -> None:
    with opened_object(store, keyring, manifest, obj) as chunks, open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)


def _load_tables(store, keyring, manifest, target: PostgresDatabase, tables, jobs, report, total) -> None:
    lock = threading.Lock()
    done = [0]

    def load(entry: TableEntry) -> None:
        with target.connect() as conn, conn.cursor() as cur:
            cur.execute(session_settings_sql())
            statement = entry.copy_header.removesuffix(" FROM stdin;") + " FROM STDIN"
            with opened_object(store, keyring, manifest, entry.object) as chunks, cur.copy(statement) as copy:
                for chunk in chunks:
                    copy.write(chunk)
                    with lock:
                        done[0] += len(chunk)
                        report(Progress("data", done[0], total, entry.name))

    ordered = sorted(tables, key=lambda t: t.object.content_bytes, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="restore") as pool:
        futures = [pool.submit(load, t) for t in ordered]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
        failed = [f.exception() for f in futures if f.done() and not f.cancelled() and f.exception()]
    if failed:
        exc = failed[0]
        if isinstance(exc, DataguardError):
            raise exc
        raise RestoreError(
            f"loading table data into {target.display} failed: {str(exc).strip().splitlines()[0][:300]}"
        ) from exc


def _pg_restore(tools: ClientTools, target: PostgresDatabase, archive: Path, *args: str) -> None:
    dbname, env = target.client_env()
    cmd = [
        tools.path("pg_restore"),
        *dbname,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        *args,
        str(archive),
    ]
    ToolProcess.start(cmd, env).finish(f"pg_restore {' '.join(args)}", target.display)


def _restore_post_data(
    tools, target, schema_file: Path, jobs: int, *, partial: bool, tmp: Path
) -> tuple[int, int]:
    """Indexes and constraints in parallel; returns the foreign keys and event triggers left out.

    A partial restore skips foreign keys (their targets are empty). A role that is not a superuser cannot
    create event triggers (the table guards, the DDL capture): they are left out with a warning rather than
    failing the whole restore; `dataguard guards install` as a superuser puts the guards back."""
    skip_event_triggers = not _is_superuser(target)
    if not partial and not skip_event_triggers:
        _pg_restore(tools, target, schema_file, "--section=post-data", f"--jobs={jobs}")
        return 0, 0
    listing = subprocess.run(
        [tools.path("pg_restore"), "--list", str(schema_file)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    foreign_keys = [line for line in listing if partial and " FK CONSTRAINT " in line]
    event_triggers = [line for line in listing if skip_event_triggers and " EVENT TRIGGER " in line]
    left_out = set(foreign_keys) | set(event_triggers)
    toc = tmp / "post-data.toc"
    toc.write_text("\n".join(line for line in listing if line not in left_out) + "\n")
    _pg_restore(tools, target, schema_file, "--section=post-data", f"--jobs={jobs}", f"--use-list={toc}")
    if event_triggers:
        log.warning(
            "%d event triggers (table guards, DDL capture) were not restored into %s: only a superuser may "
            "create them; run `dataguard guards install` there as a superuser if it needs its guards",
            len(event_triggers),
            target.display,
        )
    return len(foreign_keys), len(event_triggers)


def _is_superuser(target: PostgresDatabase) -> bool:
    with target.connect() as conn:
        return bool(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])


def _psql_file(tools: ClientTools, target: PostgresDatabase, path: Path) -> None:
    dbname, env = target.client_env()
    cmd = [tools.path("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *dbname, "-f", str(path)]
    ToolProcess.start(cmd, env).finish("psql (sequence values and other data)", target.display)


def _refresh_matviews(target: PostgresDatabase, views: tuple[str, ...]) -> None:
    if not views:
        return
    with target.connect() as conn:
        for view in views:
            conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
