"""Frozen records the vendor clients return: the few typed fields a mirror decides on, plus `raw`.

Parsing is tolerant because both APIs drift (see apis.md §4.5): every field but the key may be missing
or null, enum values stay plain strings so a new status never fails a sync, and `raw` keeps the whole
JSON object, unknown fields included, so new columns can be backfilled without re-fetching. Only a
missing or mistyped key field raises `MalformedResponse`: a row without its key cannot be mirrored, and
it is not retried, since the same answer would come back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from dataguard_pipelines.core.errors import MalformedResponse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Booking:
    """One Cal.com booking (API version 2024-08-13); `status` is the lowercase vendor value."""

    id: int
    uid: str
    status: str | None
    start: datetime | None
    end: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    event_type_id: int | None
    rescheduled_from_uid: str | None
    rescheduled_to_uid: str | None
    cancellation_reason: str | None
    raw: Mapping[str, Any] = field(repr=False, hash=False)

    @classmethod
    def from_api(cls, obj: object, *, source: str) -> Booking:
        """Parse one element of `data`; `source` names the request in error messages."""
        item = _object(obj, source=source, what="booking")
        booking_id = _key_int(item, "id", source=source, what="booking")
        event_type = item.get("eventType")
        event_type_id = _int(item.get("eventTypeId"))
        if event_type_id is None and isinstance(event_type, Mapping):
            event_type_id = _int(event_type.get("id"))
        return cls(
            id=booking_id,
            uid=_key_str(item, "uid", source=source, what=f"booking {booking_id}"),
            status=_str(item.get("status")),
            start=_datetime(item, "start", where=f"booking {booking_id}"),
            end=_datetime(item, "end", where=f"booking {booking_id}"),
            created_at=_datetime(item, "createdAt", where=f"booking {booking_id}"),
            updated_at=_datetime(item, "updatedAt", where=f"booking {booking_id}"),
            event_type_id=event_type_id,
            rescheduled_from_uid=_str(item.get("rescheduledFromUid")),
            rescheduled_to_uid=_str(item.get("rescheduledToUid")),
            cancellation_reason=_str(item.get("cancellationReason")),
            raw=_frozen(item),
        )


@dataclass(frozen=True)
class BookingPage:
    """The bookings one page added (each booking once per iteration) and the requests sent so far."""

    bookings: tuple[Booking, ...]
    requests: int
    total_items: int | None = None


@dataclass(frozen=True)
class EventType:
    """One Cal.com event type (API version 2024-06-14)."""

    id: int
    slug: str | None
    title: str | None
    length_in_minutes: int | None
    hidden: bool | None
    owner_id: int | None
    team_id: int | None
    raw: Mapping[str, Any] = field(repr=False, hash=False)

    @classmethod
    def from_api(cls, obj: object, *, source: str) -> EventType:
        """Parse one element of `data`; `source` names the request in error messages."""
        item = _object(obj, source=source, what="event type")
        hidden = item.get("hidden")
        return cls(
            id=_key_int(item, "id", source=source, what="event type"),
            slug=_str(item.get("slug")),
            title=_str(item.get("title")),
            length_in_minutes=_int(item.get("lengthInMinutes")),
            hidden=hidden if isinstance(hidden, bool) else None,
            owner_id=_int(item.get("ownerId")),
            team_id=_int(item.get("teamId")),
            raw=_frozen(item),
        )


@dataclass(frozen=True)
class CallSummary:
    """One Retell call as `/v3/list-calls` returns it: everything except the transcripts."""

    call_id: str
    call_status: str | None
    call_type: str | None
    agent_id: str | None
    start_timestamp_ms: int | None
    end_timestamp_ms: int | None
    duration_ms: int | None
    disconnection_reason: str | None
    call_analysis: Mapping[str, Any] | None = field(hash=False)
    raw: Mapping[str, Any] = field(repr=False, hash=False)

    @classmethod
    def from_api(cls, obj: object, *, source: str) -> CallSummary:
        """Parse one element of `items`; `source` names the request in error messages."""
        item = _object(obj, source=source, what="call")
        return cls(raw=_frozen(item), **_call_fields(item, source=source))


@dataclass(frozen=True)
class Call:
    """One Retell call as `/v2/get-call/{id}` returns it, transcript included when stored."""

    call_id: str
    call_status: str | None
    call_type: str | None
    agent_id: str | None
    start_timestamp_ms: int | None
    end_timestamp_ms: int | None
    duration_ms: int | None
    disconnection_reason: str | None
    call_analysis: Mapping[str, Any] | None = field(hash=False)
    transcript: str | None
    raw: Mapping[str, Any] = field(repr=False, hash=False)

    @classmethod
    def from_api(cls, obj: object, *, source: str) -> Call:
        """Parse the response body; `source` names the request in error messages."""
        item = _object(obj, source=source, what="call")
        return cls(
            transcript=_str(item.get("transcript")),
            raw=_frozen(item),
            **_call_fields(item, source=source),
        )


def _call_fields(item: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    analysis = item.get("call_analysis")
    return {
        "call_id": _key_str(item, "call_id", source=source, what="call"),
        "call_status": _str(item.get("call_status")),
        "call_type": _str(item.get("call_type")),
        "agent_id": _str(item.get("agent_id")),
        "start_timestamp_ms": _int(item.get("start_timestamp")),
        "end_timestamp_ms": _int(item.get("end_timestamp")),
        "duration_ms": _int(item.get("duration_ms")),
        "disconnection_reason": _str(item.get("disconnection_reason")),
        "call_analysis": _frozen(analysis) if isinstance(analysis, Mapping) else None,
    }


def _object(obj: object, *, source: str, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedResponse(
            f"{source}: expected a {what} object, got {type(obj).__name__}; the API changed or the "
            "response is corrupt"
        )
    return obj


def _key_int(item: Mapping[str, Any], key: str, *, source: str, what: str) -> int:
    value = _int(item.get(key))
    if value is None:
        raise MalformedResponse(
            f"{source}: a {what} has no integer `{key}` (got {type(item.get(key)).__name__}); "
            "it cannot be mirrored without its key"
        )
    return value


def _key_str(item: Mapping[str, Any], key: str, *, source: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedResponse(
            f"{source}: {what} has no string `{key}` (got {type(value).__name__}); "
            "it cannot be mirrored without its key"
        )
    return value


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _datetime(item: Mapping[str, Any], key: str, *, where: str) -> datetime | None:
    """An aware UTC datetime, or None when absent, null or unparseable (the text stays in `raw`)."""
    value = item.get(key)
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        logger.warning("%s: `%s` is not an ISO-8601 timestamp; left as None (kept in raw)", where, key)
    return parsed


def parse_timestamp(value: object) -> datetime | None:
    """Parse an ISO-8601 string such as `2025-03-07T10:00:00.000Z` into an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _frozen(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(item))
