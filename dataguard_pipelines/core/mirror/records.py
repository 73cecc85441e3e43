"""Vendor objects (from clients/) reduced to MirrorRecord: the only place that knows their fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dataguard_pipelines.core.mirror.table import MirrorRecord

TERMINAL_CALL_STATUSES = frozenset({"ended", "error", "not_connected"})


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def booking_record(booking: Any) -> MirrorRecord:
    return MirrorRecord(
        id=str(booking.id),
        raw=dict(booking.raw),
        status=booking.status,
        starts_at=booking.start,
        ends_at=booking.end,
        source_updated_at=booking.updated_at,
        link_from=booking.rescheduled_from_uid,
        link_to=booking.rescheduled_to_uid,
        uid=booking.uid,
    )


def event_type_record(event_type: Any) -> MirrorRecord:
    status = None if event_type.hidden is None else ("hidden" if event_type.hidden else "visible")
    return MirrorRecord(id=str(event_type.id), raw=dict(event_type.raw), status=status, uid=event_type.slug)


def call_record(call: Any) -> MirrorRecord:
    return MirrorRecord(
        id=call.call_id,
        raw=dict(call.raw),
        status=call.call_status,
        starts_at=from_ms(call.start_timestamp_ms),
        ends_at=from_ms(call.end_timestamp_ms),
    )


def call_needs_refetch(
    summary: Any, local: tuple[str | None, bool, datetime | None] | None, now: datetime
) -> bool:
    """Fetch the full call (the list lacks transcripts) when it is new, still moving, or changed."""
    if local is None:
        return True
    status, analyzed, ended_at = local
    if status not in TERMINAL_CALL_STATUSES or status != summary.call_status:
        return True
    if not analyzed:
        recently = ended_at is None or (now - ended_at).total_seconds() < 48 * 3600
        return recently or summary.call_analysis is not None
    return False
