"""The emulators' immutable records: one booking, event type or call, its vendor JSON and the values
filters and sorts compare. Both the state and the loaders that fill it build these."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dataguard_pipelines.sandbox.emulators.shapes import (
    TRANSCRIPT_KEYS,
    dump_json,
    parse_iso_ms,
    with_utterances,
)

BookingField = Literal["start", "end", "created", "updated"]
BOOKING_FIELD_ATTRS = {"start": "start_ms", "end": "end_ms", "created": "created_ms", "updated": "updated_ms"}


@dataclass(frozen=True, slots=True, eq=False)
class BookingRecord:
    """A booking's serialized JSON plus the values filters and sorts compare, parsed once.

    The JSON is kept as bytes: one untracked object per booking instead of a dozen dicts keeps the garbage
    collector quiet with 100,000 bookings, and a page is served by joining bytes. Generated data passes a
    builder instead, run when the booking is first served, so `synthetic()` stays fast.
    """

    id: int
    uid: str
    start_ms: int
    end_ms: int
    created_ms: int
    updated_ms: int | None
    status: str
    event_type_id: int | None
    source: bytes | Callable[[], dict[str, Any]]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BookingRecord:
        return cls(
            id=doc["id"],
            uid=doc["uid"],
            start_ms=parse_iso_ms(doc["start"]),
            end_ms=parse_iso_ms(doc["end"]),
            created_ms=parse_iso_ms(doc["createdAt"]),
            updated_ms=parse_iso_ms(doc["updatedAt"]) if doc.get("updatedAt") else None,
            status=doc["status"],
            event_type_id=doc.get("eventTypeId"),
            source=dump_json(doc),
        )

    @property
    def json(self) -> bytes:
        source = self.source
        if not isinstance(source, bytes):
            source = dump_json(source())
            object.__setattr__(self, "source", source)  # built once; a racing second build is identical
        return source

    @property
    def doc(self) -> dict[str, Any]:
        """A private copy of the booking's JSON."""
        return json.loads(self.json)

    def value(self, field_name: BookingField) -> int | None:
        return getattr(self, BOOKING_FIELD_ATTRS[field_name])


@dataclass(frozen=True, slots=True)
class EventTypeRecord:
    """An event type's JSON and its creation time (for `sortCreatedAt`)."""

    id: int
    created_ms: int
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class CallRecord:
    """A call's JSON without the derived utterance lists (never mutated); `sort_key` orders by
    start_timestamp, calls not yet started first."""

    call_id: str
    start_ms: int | None
    doc: dict[str, Any]
    _listed: bytes | None = field(default=None, repr=False)

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.start_ms if self.start_ms is not None else -1, self.call_id)

    @property
    def full_doc(self) -> dict[str, Any]:
        """As `GET /v2/get-call` returns it, transcripts and word timings included (built per call)."""
        return with_utterances(self.doc)

    @property
    def full_json(self) -> bytes:
        return dump_json(self.full_doc)

    @property
    def listed_json(self) -> bytes:
        """As a `/v3/list-calls` item: the transcript fields are left out. Cached on first use."""
        if self._listed is None:
            listed = {k: v for k, v in self.doc.items() if k not in TRANSCRIPT_KEYS}
            object.__setattr__(self, "_listed", dump_json(listed))
        return self._listed
