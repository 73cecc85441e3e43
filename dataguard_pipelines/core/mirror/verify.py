"""--verify: the mirror against the source, by id set and by content hash."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataguard_pipelines.core.mirror.records import booking_record, call_record, event_type_record
from dataguard_pipelines.core.mirror.schema import ensure_schema
from dataguard_pipelines.core.mirror.sync import EVERYTHING_START, SWEEP_FUTURE

HASH_SAMPLE = 25


@dataclass(frozen=True)
class MirrorVerification:
    """Differences between the source and the mirror of one resource of one company."""

    resource: str
    company_id: str
    source_count: int
    mirror_count: int
    missing_in_mirror: list[str] = field(default_factory=list)
    only_in_mirror: list[str] = field(default_factory=list)
    hash_mismatches: list[str] = field(default_factory=list)
    hashes_compared: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing_in_mirror or self.only_in_mirror or self.hash_mismatches)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_resource(
    resource: str, *, conn, client, company_id: str, sample: int = HASH_SAMPLE, seed: int | None = None
) -> MirrorVerification:
    """Full id scan of the source against the mirror's live rows; content hashes for a sample."""
    ensure_schema(conn)
    source = _source_hashes(resource, client, sample, seed)
    mirror = dict(
        conn.execute(
            f"SELECT id, content_hash FROM dataguard.{resource} WHERE company_id = %s AND deleted_at IS NULL",
            (company_id,),
        ).fetchall()
    )
    compared = [i for i in source if source[i] is not None and i in mirror]
    return MirrorVerification(
        resource=resource,
        company_id=company_id,
        source_count=len(source),
        mirror_count=len(mirror),
        missing_in_mirror=sorted(set(source) - set(mirror)),
        only_in_mirror=sorted(set(mirror) - set(source)),
        hash_mismatches=sorted(i for i in compared if source[i] != mirror[i]),
        hashes_compared=len(compared),
    )


def _source_hashes(resource: str, client, sample: int, seed: int | None) -> dict[str, str | None]:
    """Every source id; the hash where the listing carries the whole object (None: not compared)."""
    if resource == "calcom_event_types":
        return {r.id: r.content_hash for r in map(event_type_record, client.list_event_types())}
    if resource == "calcom_bookings":
        far = datetime.now(UTC) + 5 * SWEEP_FUTURE
        pages = client.iter_bookings_by_start(after_start=EVERYTHING_START, before_end=far)
        return {r.id: r.content_hash for page in pages for r in map(booking_record, page.bookings)}
    ids: dict[str, str | None] = {s.call_id: None for s in client.iter_calls(start_after_ms=None)}
    chosen = random.Random(seed).sample(sorted(ids), min(sample, len(ids)))  # list items lack transcripts
    for call_id in chosen:
        call = client.get_call(call_id)
        if call is not None:
            ids[call_id] = call_record(call).content_hash
    return ids
