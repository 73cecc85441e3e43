"""Verification at two depths: stored objects against their manifest hashes (cheap, no key needed), and a
restored database against the manifest's per-table row counts and COPY-text SHA-256 (the drill's check)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dataguard_pipelines.core.engines.postgres import PostgresDatabase, session_settings_sql
from dataguard_pipelines.core.errors import StoreError
from dataguard_pipelines.core.manifest import Manifest, TableEntry
from dataguard_pipelines.core.progress import Progress, ProgressFn, Throttle
from dataguard_pipelines.core.store import Store

HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class ObjectCheck:
    key: str
    ok: bool
    problem: str = ""


@dataclass(frozen=True)
class StoreReport:
    """Result of hashing every object of some backups."""

    backups: int
    objects: int
    stored_bytes: int
    problems: tuple[ObjectCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_objects(
    store: Store, manifests: list[Manifest], progress: ProgressFn | None = None
) -> StoreReport:
    """Re-read every object and compare size and SHA-256 with the manifest."""
    report = Throttle(progress)
    total = sum(m.stored_bytes for m in manifests)
    done, count, problems = 0, 0, []
    for manifest in manifests:
        for obj in manifest.objects():
            key = f"{manifest.prefix}/{obj.key}"
            digest, size = hashlib.sha256(), 0
            try:
                with store.open_read(key) as handle:
                    while block := handle.read(HASH_BLOCK):
                        digest.update(block)
                        size += len(block)
                        report(Progress("verify", done + size, total, key))
            except StoreError as exc:
                problems.append(ObjectCheck(key, False, str(exc)))
                continue
            finally:
                count += 1
            done += size
            if size != obj.sealed_bytes:
                problems.append(ObjectCheck(key, False, f"size {size} != manifest {obj.sealed_bytes}"))
            elif digest.hexdigest() != obj.sealed_sha256:
                problems.append(ObjectCheck(key, False, "SHA-256 differs from the manifest"))
    return StoreReport(backups=len(manifests), objects=count, stored_bytes=done, problems=tuple(problems))


@dataclass(frozen=True)
class TableCheck:
    """One restored table compared with the manifest."""

    name: str
    expected_rows: int
    actual_rows: int
    hash_matches: bool

    @property
    def ok(self) -> bool:
        return self.hash_matches and self.expected_rows == self.actual_rows


def verify_restored(target: PostgresDatabase, manifest: Manifest, *, jobs: int = 2) -> list[TableCheck]:
    """Re-read every restored table as COPY text (same settings as the dump) and compare count and hash."""

    def check(entry: TableEntry) -> TableCheck:
        digest, rows = hashlib.sha256(), 0
        statement = entry.copy_header.removesuffix(" FROM stdin;") + " TO STDOUT"
        with target.connect() as conn, conn.cursor() as cur:
            cur.execute(session_settings_sql())
            cur.execute("SET search_path = ''")  # as pg_dump: regclass values print schema-qualified
            with cur.copy(statement) as copy:
                for block in copy:
                    data = bytes(block)
                    digest.update(data)
                    rows += data.count(b"\n")
        return TableCheck(entry.name, entry.rows, rows, digest.hexdigest() == entry.object.content_sha256)

    ordered = sorted(manifest.tables, key=lambda t: t.object.content_bytes, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verify") as pool:
        results = list(pool.map(check, ordered))
    return sorted(results, key=lambda c: c.name)


def check_complete(store: Store, manifest: Manifest) -> list[str]:
    """Cheap in-step check: every object the manifest lists exists with its recorded size."""
    problems = []
    for obj in manifest.objects():
        key = f"{manifest.prefix}/{obj.key}"
        try:
            size = store.size(key)
        except StoreError:
            problems.append(f"{obj.key}: missing")
            continue
        if size != obj.sealed_bytes:
            problems.append(f"{obj.key}: {size} bytes, manifest says {obj.sealed_bytes}")
    return problems


def verify_segments(store: Store, slot: str) -> StoreReport:
    """Re-hash every change segment against its index entry and name every gap in the chain (no key needed)."""
    from dataguard_pipelines.core.capture.hourly import find_gaps
    from dataguard_pipelines.core.capture.segments import list_segments, sealed_mismatch, segments_prefix

    segments = list_segments(store, slot)
    problems = [
        ObjectCheck(s.data_key, False, problem) for s in segments if (problem := sealed_mismatch(store, s))
    ]
    problems += [ObjectCheck(segments_prefix(slot), False, gap.describe()) for gap in find_gaps(segments)]
    return StoreReport(
        backups=0,
        objects=len(segments),
        stored_bytes=sum(s.sealed_bytes for s in segments),
        problems=tuple(problems),
    )
