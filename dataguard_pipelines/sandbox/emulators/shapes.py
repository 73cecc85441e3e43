"""Vendor JSON documents: a Cal.com v2 booking or event type, a Retell call, built from plain values.

Kept apart from the store so `from_database`, `synthetic` and the mutation methods build identical shapes
(key order follows the examples in shared/reference/apis/examples, so diffs against them read easily).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
TRANSCRIPT_KEYS = (
    "transcript",
    "transcript_object",
    "transcript_with_tool_calls",
    "scrubbed_transcript_with_tool_calls",
)


@lru_cache(maxsize=8192)
def _iso_day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).date().isoformat()


@lru_cache(maxsize=86_400)
def _iso_time(seconds: int) -> str:
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def iso_ms(ms: int) -> str:
    """Epoch ms as Cal.com serializes a JS Date (`2025-03-07T10:00:00.000Z`), exact to the millisecond.

    Integer arithmetic plus a per-day cache: generating 100,000 bookings formats 400,000 of these.
    """
    days, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_iso_day(days)}T{_iso_time(seconds)}.{millis:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Epoch ms of an ISO-8601 string; a value without offset is UTC, as dayjs.utc reads it.

    Raises ValueError for anything `datetime.fromisoformat` refuses.
    """
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


def to_ms(value: datetime | int) -> int:
    """Epoch ms of an aware datetime (naive means UTC) or of an int already in ms."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MS


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON, byte for byte what Starlette's JSONResponse would send."""
    return _ENCODER.encode(obj).encode()


def stable_hash(text: str) -> int:
    """A 64-bit hash that, unlike hash(), is the same in every process: deterministic ids and picks."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Host:
    """The Cal.com user who owns a booking or event type; id is "unknown" when the user was deleted."""

    id: int | str
    name: str
    email: str
    username: str
    time_zone: str = "Europe/Berlin"

    def as_booking_host(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "displayEmail": self.email,
            "username": self.username,
            "timeZone": self.time_zone,
        }


@dataclass(frozen=True, slots=True)
class Attendee:
    """The person who booked; phone-only callers get Cal.com's `<phone>@sms.cal.com` placeholder email."""

    name: str
    email: str | None
    phone: str | None = None
    time_zone: str = "Europe/Berlin"
    language: str = "de"

    @property
    def effective_email(self) -> str:
        if self.email:
            return self.email
        digits = "".join(ch for ch in (self.phone or "") if ch.isdigit())
        return f"{digits or 'unknown'}@sms.cal.com"

    def as_booking_attendee(self, email: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "email": email,
            "displayEmail": email,
            "timeZone": self.time_zone,
            "language": self.language,
            "absent": False,
        }
        if self.phone:
            out["phoneNumber"] = self.phone
        return out


def booking_doc(
    *,
    booking_id: int,
    uid: str,
    title: str,
    description: str,
    host: Host,
    attendee: Attendee,
    status: str,
    start_ms: int,
    end_ms: int,
    event_type_id: int | None,
    event_type_slug: str | None,
    location: str,
    created_ms: int,
    updated_ms: int | None,
    cancellation_reason: str = "",
    cancelled_by_email: str = "",
    rescheduled_from_uid: str | None = None,
    rescheduled_to_uid: str | None = None,
    rescheduled_by_email: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """A booking as `GET /v2/bookings` (cal-api-version 2024-08-13) returns it."""
    doc: dict[str, Any] = {
        "id": booking_id,
        "uid": uid,
        "title": title,
        "description": description,
        "hosts": [host.as_booking_host()],
        "status": status,
        "cancellationReason": cancellation_reason,
        "cancelledByEmail": cancelled_by_email,
    }
    if rescheduled_by_email is not None:
        doc["rescheduledByEmail"] = rescheduled_by_email
    if rescheduled_to_uid is not None:
        doc["rescheduledToUid"] = rescheduled_to_uid
    if rescheduled_from_uid is not None:
        doc["rescheduledFromUid"] = rescheduled_from_uid
    email = attendee.effective_email
    responses: dict[str, Any] = {"name": attendee.name, "email": email, "guests": []}
    if notes:
        responses["notes"] = notes
    if attendee.phone:
        responses["attendeePhoneNumber"] = attendee.phone
    responses["displayEmail"] = email
    responses["displayGuests"] = []
    doc.update(
        {
            "start": iso_ms(start_ms),
            "end": iso_ms(end_ms),
            "duration": (end_ms - start_ms) // 60_000,
            "eventTypeId": event_type_id,
            "eventType": {"id": event_type_id, "slug": event_type_slug}
            if event_type_id is not None
            else None,
            "meetingUrl": location,
            "location": location,
            "absentHost": False,
            "createdAt": iso_ms(created_ms),
            "updatedAt": iso_ms(updated_ms) if updated_ms is not None else None,
            "metadata": {},
            "rating": None,
            "icsUid": f"{uid}@Cal.com",
            "attendees": [attendee.as_booking_attendee(email)],
            "guests": [],
            "bookingFieldsResponses": responses,
        }
    )
    return doc


def legacy_booking_doc(doc: dict[str, Any], start_ms: int, end_ms: int) -> dict[str, Any]:
    """The same booking in the 2024-04-15 shape a request without a known version header gets."""
    host = doc["hosts"][0] if doc["hosts"] else None
    event_type = doc.get("eventType") or {}
    return {
        "id": doc["id"],
        "title": doc["title"],
        "userPrimaryEmail": host["email"] if host else None,
        "description": doc["description"],
        "customInputs": {},
        "startTime": iso_ms(start_ms),
        "endTime": iso_ms(end_ms),
        "attendees": [
            {
                "id": doc["id"] * 10 + i,
                "email": a["email"],
                "name": a["name"],
                "timeZone": a["timeZone"],
                "locale": a["language"],
                "bookingId": doc["id"],
            }
            for i, a in enumerate(doc["attendees"])
        ],
        "metadata": doc["metadata"],
        "uid": doc["uid"],
        "recurringEventId": None,
        "location": doc["location"],
        "eventType": {
            "slug": event_type.get("slug"),
            "id": event_type.get("id"),
            "eventName": None,
            "price": 0,
            "recurringEvent": None,
            "currency": "usd",
            "metadata": {},
            "seatsShowAttendees": False,
            "seatsShowAvailabilityCount": True,
            "team": None,
        },
        "status": doc["status"].upper(),
        "paid": False,
        "payment": [],
        "references": [],
        "isRecorded": False,
        "seatsReferences": [],
        "user": {"id": host["id"], "name": host["name"], "email": host["email"]} if host else None,
        "rescheduled": True if doc.get("rescheduledToUid") else None,
    }


def event_type_doc(
    *,
    event_type_id: int,
    title: str,
    slug: str,
    description: str,
    length_minutes: int,
    hidden: bool,
    price_cents: int,
    currency: str,
    owner: Host,
) -> dict[str, Any]:
    """An event type as `GET /v2/event-types` (cal-api-version 2024-06-14) returns it."""
    return {
        "id": event_type_id,
        "lengthInMinutes": length_minutes,
        "title": title,
        "slug": slug,
        "description": description,
        "locations": [{"type": "address", "address": "", "public": True}],
        "bookingFields": [],
        "disableGuests": False,
        "slotInterval": None,
        "minimumBookingNotice": 120,
        "beforeEventBuffer": 0,
        "afterEventBuffer": 0,
        "recurrence": None,
        "metadata": {},
        "price": price_cents,
        "currency": currency.lower(),
        "lockTimeZoneToggleOnBookingPage": False,
        "seatsPerTimeSlot": None,
        "forwardParamsSuccessRedirect": None,
        "successRedirectUrl": None,
        "isInstantEvent": False,
        "scheduleId": None,
        "hidden": hidden,
        "ownerId": owner.id,
        "users": [
            {
                "id": owner.id,
                "name": owner.name,
                "username": owner.username,
                "avatarUrl": None,
                "weekStart": "Monday",
                "brandColor": None,
                "darkBrandColor": None,
                "metadata": {},
            }
        ],
    }


def legacy_event_type_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """An event type inside `data.eventTypeGroups[*].eventTypes[*]` (the 2024-04-15 shape)."""
    return {
        "id": doc["id"],
        "title": doc["title"],
        "slug": doc["slug"],
        "description": doc["description"],
        "length": doc["lengthInMinutes"],
        "hidden": doc["hidden"],
        "position": 0,
        "price": doc["price"],
        "currency": doc["currency"],
        "metadata": doc["metadata"],
        "users": [{"id": u["id"], "name": u["name"], "username": u["username"]} for u in doc["users"]],
        "hosts": [],
        "schedulingType": None,
    }


def transcript_object(transcript: str, duration_ms: int | None) -> list[dict[str, Any]]:
    """Utterances with word timings spread evenly over the call, from `Agent: …` / `User: …` lines."""
    utterances = []
    for line in transcript.splitlines():
        if ": " in line:
            speaker, content = line.split(": ", 1)
            utterances.append(("agent" if speaker.strip().lower() == "agent" else "user", content.split()))
    total_words = sum(len(words) for _, words in utterances) or 1
    step_ms = duration_ms // total_words if duration_ms else 350
    out, t_ms = [], 0
    for role, words in utterances:
        timed = []
        for word in words:
            timed.append({"word": word, "start": t_ms / 1000, "end": (t_ms + step_ms * 9 // 10) / 1000})
            t_ms += step_ms
        out.append({"role": role, "content": " ".join(words), "words": timed})
    return out


def with_utterances(doc: dict[str, Any]) -> dict[str, Any]:
    """The call with `transcript_object` and `transcript_with_tool_calls` derived from its transcript.

    Stored calls keep only the transcript text: word timings for 10,000 calls would cost seconds to build
    and hundreds of MB to hold, and only `get-call` shows them.
    """
    if doc.get("transcript") is None:
        return doc
    utterances = transcript_object(doc["transcript"], doc.get("duration_ms"))
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = value
        if key == "transcript":
            out["transcript_object"] = utterances
            out["transcript_with_tool_calls"] = [
                {"role": u["role"], "content": u["content"]} for u in utterances
            ]
    return out


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What a Retell call is made of; `call_doc` turns it into the vendor's JSON."""

    call_id: str
    agent_id: str
    agent_name: str
    call_status: str
    direction: str
    from_number: str | None
    to_number: str | None
    start_ms: int | None = None
    end_ms: int | None = None
    transcript: str | None = None
    disconnection_reason: str | None = None
    call_analysis: dict[str, Any] | None = None
    recording_url: str | None = None
    cost_cents: float | None = None


def call_doc(f: CallFacts) -> dict[str, Any]:
    """A call as `GET /v2/get-call/{call_id}` returns it, minus the derived utterance lists (see
    `with_utterances`): fields appear as the call's lifecycle allows."""
    h = stable_hash(f.call_id)
    doc: dict[str, Any] = {
        "call_type": "phone_call",
        "from_number": f.from_number,
        "to_number": f.to_number,
        "direction": f.direction,
        "telephony_identifier": {"twilio_call_sid": "CA" + hashlib.md5(f.call_id.encode()).hexdigest()},
        "call_id": f.call_id,
        "agent_id": f.agent_id,
        "agent_name": f.agent_name,
        "agent_version": 1 + h % 3,
        "call_status": f.call_status,
        "metadata": {},
        "retell_llm_dynamic_variables": {},
        "collected_dynamic_variables": {},
        "data_storage_setting": "everything",
        "opt_in_signed_url": False,
    }
    if f.start_ms is not None:
        doc["start_timestamp"] = f.start_ms
    ended = f.call_status in ("ended", "error", "not_connected") and f.end_ms is not None
    if ended:
        duration_ms = max(0, f.end_ms - (f.start_ms if f.start_ms is not None else f.end_ms))
        doc["end_timestamp"] = f.end_ms
        doc["duration_ms"] = duration_ms
    else:
        duration_ms = None
    if f.transcript is not None:
        doc["transcript"] = f.transcript  # `with_utterances` derives transcript_object on demand
    if ended:
        base = f"https://recordings.retell.example/{f.call_id}"
        doc["recording_url"] = f.recording_url or f"{base}/recording.wav"
        doc["recording_multi_channel_url"] = f"{base}/recording_multichannel.wav"
        doc["public_log_url"] = f"{base}/public_log.txt"
        p50 = 600 + h % 700
        doc["latency"] = {
            "e2e": {
                "p50": p50,
                "p90": p50 + 400,
                "p95": p50 + 700,
                "p99": p50 + 1500,
                "max": p50 + 1800,
                "min": p50 - 300,
                "num": 4 + h % 20,
            },
        }
        doc["disconnection_reason"] = f.disconnection_reason or "user_hangup"
        if f.call_analysis is not None:
            doc["call_analysis"] = f.call_analysis
        seconds = round(duration_ms / 1000)
        combined = float(f.cost_cents) if f.cost_cents is not None else round(seconds * 0.12, 2)
        doc["call_cost"] = {
            "product_costs": [{"product": "retell_platform", "unit_price": 0.12, "cost": combined}],
            "total_duration_seconds": seconds,
            "total_duration_unit_price": 0.12,
            "combined_cost": combined,
        }
        requests = 2 + h % 9
        doc["llm_token_usage"] = {
            "values": [700 + (h >> (8 * i)) % 400 for i in range(requests)],
            "average": 900,
            "num_requests": requests,
        }
    return doc


def default_call_analysis(call_id: str, *, successful: bool = True) -> dict[str, Any]:
    """The analysis Retell attaches after `call_analyzed`, deterministic per call."""
    sentiment = ("Positive", "Neutral", "Negative", "Unknown")[stable_hash("sentiment:" + call_id) % 4]
    return {
        "call_summary": "The caller asked for an appointment.",
        "in_voicemail": False,
        "user_sentiment": sentiment,
        "call_successful": successful,
        "custom_analysis_data": {},
    }
