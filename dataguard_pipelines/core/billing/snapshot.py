"""Monthly billing snapshots per company: drafts that may be replaced (the old one is archived, never lost),
a finalized version written once (S3 Object Lock / read-only files) and recorded in a hash-chained ledger,
and amendments that reference the finalized version with a reason, who and when.

Store layout:
    billing/<company>/<YYYY-MM>/drafts/<version>/{line_items.parquet.dgar, summary.json.dgar, manifest.json}
    billing/<company>/<YYYY-MM>/final/...          the finalized copy of one draft (write-once)
    billing/<company>/<YYYY-MM>/amendments/<version>/...   (write-once)
    billing/ledger/<seq>.json                      one entry per finalize/amend, each naming the previous one's hash
"""

from __future__ import annotations

import getpass
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dataguard_pipelines.core.archive_stream import ArchiveWriter, iter_archive
from dataguard_pipelines.core.billing.compute import (
    LINE_ITEM_SCHEMA,
    LINE_ITEM_WRITER_OPTIONS,
    compute_billing,
)
from dataguard_pipelines.core.billing.source import iter_appointments, iter_calls, load_source
from dataguard_pipelines.core.errors import ConfigError, DataguardError, StoreError
from dataguard_pipelines.core.keys import Keyring
from dataguard_pipelines.core.manifest import utc_now_iso
from dataguard_pipelines.core.sealed_parquet import sealed_parquet
from dataguard_pipelines.core.store import Store

SNAPSHOT_FORMAT = "dataguard-billing-snapshot"
LEDGER_PREFIX = "billing/ledger"
DEFAULT_RETENTION_YEARS = 10
FILES = ("line_items.parquet.dgar", "summary.json.dgar")


class FinalizedError(DataguardError):
    """A finalized month cannot be re-materialized; corrections are amendments."""


@dataclass(frozen=True)
class Snapshot:
    """One stored version and its manifest."""

    key: str  # the manifest's key
    manifest: dict[str, Any]

    @property
    def prefix(self) -> str:
        return self.key.rsplit("/", 1)[0]

    @property
    def manifest_sha256(self) -> str:
        return sha256_json(self.manifest)


def partition_prefix(company_id: str, month: date) -> str:
    return f"billing/{company_id}/{month:%Y-%m}"


def parse_month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise ConfigError(f"month {text!r} is not YYYY-MM") from exc


def previous_month(today: date | None = None) -> date:
    first = (today or datetime.now(UTC).date()).replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def sha256_json(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


# -- writing --------------------------------------------------------------------------------------------


def write_draft(conn, store: Store, keyring: Keyring, company_id: str, month: date) -> Snapshot:
    """Compute and store a new draft; earlier drafts stay as archived versions. Refused once finalized."""
    month = month.replace(day=1)
    final = finalized(store, company_id, month)
    if final:
        raise FinalizedError(
            f"billing of company {company_id} for {month:%Y-%m} is finalized (manifest sha256 "
            f"{final.manifest_sha256[:12]}…); nothing was written. Corrections are amendments: "
            f"`dataguard billing amend --company {company_id} --month {month:%Y-%m} --reason …`"
        )
    return _write_version(conn, store, keyring, company_id, month, kind="draft")


def finalize(
    store: Store,
    keyring: Keyring,
    company_id: str,
    month: date,
    *,
    who: str | None = None,
    retention_years: int = DEFAULT_RETENTION_YEARS,
) -> Snapshot:
    """Seal the newest draft: copy it write-once to final/, record it in the ledger."""
    month = month.replace(day=1)
    if finalized(store, company_id, month):
        raise FinalizedError(f"billing of company {company_id} for {month:%Y-%m} is already finalized")
    drafts = list_versions(store, company_id, month, "drafts")
    if not drafts:
        raise StoreError(
            f"no draft of company {company_id} for {month:%Y-%m}; run `dataguard billing snapshot "
            f"--company {company_id} --month {month:%Y-%m}` first"
        )
    draft = drafts[-1]
    lock_until = datetime.now(UTC) + timedelta(days=365 * retention_years)
    final_prefix = f"{partition_prefix(company_id, month)}/final"
    for name in FILES:
        store.copy(f"{draft.prefix}/{name}", f"{final_prefix}/{name}", lock_until=lock_until)
    manifest = {
        **draft.manifest,
        "state": "finalized",
        "from_draft": draft.manifest["version_id"],
        "finalized_at": utc_now_iso(),
        "finalized_by": who or _who(),
        "retain_until": lock_until.isoformat(),
    }
    snapshot = Snapshot(f"{final_prefix}/manifest.json", manifest)
    _verify_files(store, snapshot)  # the copies must hash as the draft did before anything is recorded
    store.put_bytes(snapshot.key, canonical(manifest), lock_until=lock_until)
    append_ledger(
        store,
        {
            "event": "finalized",
            "company_id": company_id,
            "month": f"{month:%Y-%m}",
            "version_id": manifest["version_id"],
            "manifest_key": snapshot.key,
            "manifest_sha256": snapshot.manifest_sha256,
            "who": manifest["finalized_by"],
        },
        lock_until=lock_until,
    )
    return snapshot


def amend(
    conn,
    store: Store,
    keyring: Keyring,
    company_id: str,
    month: date,
    *,
    reason: str,
    who: str | None = None,
    retention_years: int = DEFAULT_RETENTION_YEARS,
) -> Snapshot:
    """A correction of a finalized month: a new write-once version that references the finalized one."""
    month = month.replace(day=1)
    final = finalized(store, company_id, month)
    if not final:
        raise StoreError(
            f"company {company_id} has no finalized billing for {month:%Y-%m}; change the draft instead"
        )
    if not reason.strip():
        raise ConfigError("an amendment needs a --reason")
    lock_until = datetime.now(UTC) + timedelta(days=365 * retention_years)
    snapshot = _write_version(
        conn,
        store,
        keyring,
        company_id,
        month,
        kind="amendment",
        lock_until=lock_until,
        extra={
            "amends": {"manifest_key": final.key, "manifest_sha256": final.manifest_sha256},
            "reason": reason,
            "amended_by": who or _who(),
            "amended_at": utc_now_iso(),
        },
    )
    append_ledger(
        store,
        {
            "event": "amended",
            "company_id": company_id,
            "month": f"{month:%Y-%m}",
            "version_id": snapshot.manifest["version_id"],
            "manifest_key": snapshot.key,
            "manifest_sha256": snapshot.manifest_sha256,
            "who": snapshot.manifest["amended_by"],
            "reason": reason,
            "amends_sha256": final.manifest_sha256,
        },
        lock_until=lock_until,
    )
    return snapshot


def _write_version(
    conn,
    store: Store,
    keyring: Keyring,
    company_id: str,
    month: date,
    *,
    kind: str,
    lock_until: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> Snapshot:
    source = load_source(conn, company_id, month)
    version_id = f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:4]}"
    folder = "drafts" if kind == "draft" else "amendments"
    prefix = f"{partition_prefix(company_id, month)}/{folder}/{version_id}"
    with sealed_parquet(
        store,
        f"{prefix}/line_items.parquet.dgar",
        keyring,
        LINE_ITEM_SCHEMA,
        lock_until=lock_until,
        **LINE_ITEM_WRITER_OPTIONS,
    ) as out:
        summary = compute_billing(
            company_id=company_id,
            month=source.month,
            periods=source.periods,
            vat_rate_bp=source.vat_rate_bp,
            calls=iter_calls(conn, source),
            appointments=iter_appointments(conn, source),
            line_items=out.writer,
        )
    summary_doc = summary.as_dict()
    with (
        store.open_write(f"{prefix}/summary.json.dgar", lock_until=lock_until) as sink,
        ArchiveWriter(sink, keyring) as archive,
    ):
        archive.write(canonical(summary_doc))
        summary_info = archive.close()
    files = {
        name: {
            "sealed_sha256": info.sealed.sealed_sha256,
            "sealed_bytes": info.sealed.sealed_bytes,
            "content_sha256": info.content_sha256,
            "content_bytes": info.content_bytes,
        }
        for name, info in (("line_items.parquet.dgar", out.info), ("summary.json.dgar", summary_info))
    }
    manifest = {
        "format": SNAPSHOT_FORMAT,
        "version": 1,
        "state": kind,
        "version_id": version_id,
        "company_id": company_id,
        "month": f"{month:%Y-%m}",
        "created_at": utc_now_iso(),
        "source": {
            "calls_from": source.calls_from,
            "plans": [p.plan.code for p in source.periods],
            "vat_rate_bp": source.vat_rate_bp,
        },
        "summary": summary_doc,
        "files": files,
        "key_id": keyring.active_id,
        # what must never change: the priced content, independent of encryption and file layout
        "content_sha256": hashlib.sha256(
            canonical(summary_doc) + files["line_items.parquet.dgar"]["content_sha256"].encode()
        ).hexdigest(),
        **(extra or {}),
    }
    snapshot = Snapshot(f"{prefix}/manifest.json", manifest)
    store.put_bytes(snapshot.key, canonical(manifest), lock_until=lock_until)  # published last
    return snapshot


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# -- reading ----------------------------------------------------------------------------------------------


def load_snapshot(store: Store, key: str) -> Snapshot:
    try:
        manifest = json.loads(store.get_bytes(key))
    except ValueError as exc:
        raise StoreError(f"{store.uri(key)} is not valid JSON: the snapshot manifest is damaged") from exc
    if manifest.get("format") != SNAPSHOT_FORMAT:
        raise StoreError(f"{store.uri(key)} is not a billing snapshot manifest")
    return Snapshot(key, manifest)


def finalized(store: Store, company_id: str, month: date) -> Snapshot | None:
    key = f"{partition_prefix(company_id, month)}/final/manifest.json"
    return load_snapshot(store, key) if store.exists(key) else None


def list_versions(store: Store, company_id: str, month: date, folder: str) -> list[Snapshot]:
    """Drafts or amendments of one partition, oldest first (version ids sort by time)."""
    keys = store.glob(f"{partition_prefix(company_id, month)}/{folder}/*/manifest.json")
    return sorted((load_snapshot(store, k) for k in keys), key=lambda s: s.manifest["version_id"])


def partitions(store: Store, month: date | None = None) -> list[tuple[str, date]]:
    """Every (company, month) with at least one snapshot."""
    pattern = f"billing/*/{month:%Y-%m}/*/*" if month else "billing/*/*/*/*"
    found = set()
    for key in store.glob(pattern):
        parts = key.split("/")
        if parts[1] != "ledger":
            found.add((parts[1], parse_month(parts[2])))
    return sorted(found)


def read_summary(store: Store, keyring: Keyring, snapshot: Snapshot) -> dict[str, Any]:
    key = f"{snapshot.prefix}/summary.json.dgar"
    with store.open_read(key) as handle:
        return json.loads(b"".join(iter_archive(handle, keyring, name=store.uri(key))))


# -- ledger -----------------------------------------------------------------------------------------------


def ledger(store: Store) -> list[dict[str, Any]]:
    return [json.loads(store.get_bytes(k)) for k in store.glob(f"{LEDGER_PREFIX}/*.json")]


def append_ledger(store: Store, entry: dict[str, Any], *, lock_until: datetime | None) -> dict[str, Any]:
    """Entries are numbered and chained by hash: removing or editing one breaks every later link."""
    entries = ledger(store)
    previous = entries[-1] if entries else None
    record = {
        **entry,
        "seq": (previous["seq"] + 1) if previous else 1,
        "at": utc_now_iso(),
        "prev_sha256": sha256_json(previous) if previous else None,
    }
    store.put_bytes(f"{LEDGER_PREFIX}/{record['seq']:08d}.json", canonical(record), lock_until=lock_until)
    return record


def ledger_problems(entries: list[dict[str, Any]]) -> list[str]:
    problems = []
    for index, entry in enumerate(entries):
        if entry.get("seq") != index + 1:
            problems.append(f"ledger entry {index + 1} is missing or out of order")
        expected = sha256_json(entries[index - 1]) if index else None
        if entry.get("prev_sha256") != expected:
            problems.append(f"ledger entry {entry.get('seq')} does not chain to its predecessor")
    return problems


# -- verification -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotCheck:
    """One partition's state, totals and whether everything still hashes as recorded."""

    company_id: str
    month: str
    state: str
    gross_cents: int | None
    net_cents: int | None
    ok: bool
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "problems": list(self.problems)}


def verify_snapshots(
    store: Store, keyring: Keyring, *, conn=None, month: date | None = None
) -> list[SnapshotCheck]:
    """Finalized: files against manifest, manifest against ledger. Drafts: recomputed from the source
    (when a database connection is given) and compared with the stored summary."""
    entries = ledger(store)
    chain = ledger_problems(entries)
    recorded = {e["manifest_key"]: e["manifest_sha256"] for e in entries}
    checks = []
    for company_id, part_month in partitions(store, month):
        final = finalized(store, company_id, part_month)
        drafts = list_versions(store, company_id, part_month, "drafts")
        snapshot = final or (drafts[-1] if drafts else None)
        if snapshot is None:
            continue
        problems = list(_verify_files(store, snapshot, raise_on_error=False))
        if final:
            if recorded.get(final.key) != final.manifest_sha256:
                problems.append("the finalized manifest does not match the ledger")
            problems += chain
            for amendment in list_versions(store, company_id, part_month, "amendments"):
                problems += _verify_files(store, amendment, raise_on_error=False)
                if recorded.get(amendment.key) != amendment.manifest_sha256:
                    problems.append(f"amendment {amendment.manifest['version_id']} does not match the ledger")
        elif conn is not None:
            problems += _draft_drift(conn, store, keyring, snapshot)
        summary = snapshot.manifest["summary"]
        checks.append(
            SnapshotCheck(
                company_id,
                f"{part_month:%Y-%m}",
                snapshot.manifest["state"],
                summary.get("gross_cents"),
                summary.get("net_cents"),
                not problems,
                tuple(problems),
            )
        )
    return checks


def _verify_files(store: Store, snapshot: Snapshot, *, raise_on_error: bool = True) -> list[str]:
    problems = []
    for name, expected in snapshot.manifest["files"].items():
        key = f"{snapshot.prefix}/{name}"
        try:
            digest, _ = store.sha256(key)
        except StoreError as exc:
            problems.append(str(exc))
            continue
        if digest != expected["sealed_sha256"]:
            problems.append(
                f"{name} of {snapshot.manifest['version_id']} does not hash as recorded (tampered?)"
            )
    if problems and raise_on_error:
        raise StoreError("; ".join(problems))
    return problems


def _draft_drift(conn, store: Store, keyring: Keyring, snapshot: Snapshot) -> list[str]:
    """Recompute the draft's month from the source and name every total that moved."""
    manifest = snapshot.manifest
    source = load_source(conn, manifest["company_id"], parse_month(manifest["month"]))
    now = compute_billing(
        company_id=source.company_id,
        month=source.month,
        periods=source.periods,
        vat_rate_bp=source.vat_rate_bp,
        calls=iter_calls(conn, source),
        appointments=iter_appointments(conn, source),
    ).as_dict()
    stored = read_summary(store, keyring, snapshot)
    return [
        f"{field}: stored {stored.get(field)}, source now {value}"
        for field, value in now.items()
        if stored.get(field) != value
    ]
