"""Fill an `EmulatorState`: from a seeded demo database (same ids as the app's tables) or generated.

The database path lets a mirror be checked against the rows it should reproduce; the generated path gives
benchmarks 100,000+ bookings without a database.
"""

from __future__ import annotations

import base64
import gc
import random
from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import namedtuple_row

from dataguard_pipelines.core.errors import SourceError
from dataguard_pipelines.sandbox.demo.companies import FIRST_NAMES, LAST_NAMES
from dataguard_pipelines.sandbox.emulators.records import BookingRecord, CallRecord, EventTypeRecord
from dataguard_pipelines.sandbox.emulators.shapes import (
    Attendee,
    CallFacts,
    Host,
    booking_doc,
    call_doc,
    default_call_analysis,
    dump_json,
    event_type_doc,
    stable_hash,
)

if TYPE_CHECKING:
    from dataguard_pipelines.sandbox.emulators.state import EmulatorState

NULL_UPDATED_AT_SHARE = 50  # one booking in 50 has `updatedAt: null`, the documented legacy-row quirk


def _ms(column: str) -> str:
    return f"round(extract(epoch FROM {column}) * 1000)::bigint"


_OWNERS_SQL = """
SELECT DISTINCT ON (s.company_id) s.company_id, s.calcom_user_id, s.first_name, s.last_name, s.email,
       h.username, h.time_zone
FROM calcom_hosts h JOIN staff s ON s.id = h.staff_id
ORDER BY s.company_id, h.calcom_user_id
"""

_EVENT_TYPES_SQL = f"""
SELECT company_id, id, title, slug, coalesce(description, '') AS description, length_minutes, hidden,
       price_cents, currency, {_ms("created_at")} AS created_ms
FROM calcom_event_types ORDER BY id
"""

_BOOKINGS_SQL = f"""
SELECT a.company_id, a.calcom_booking_id AS id, a.calcom_booking_uid AS uid, a.status,
       {_ms("a.starts_at")} AS start_ms, {_ms("a.ends_at")} AS end_ms,
       {_ms("a.created_at")} AS created_ms, {_ms("a.updated_at")} AS updated_ms,
       a.rescheduled_from_uid AS from_uid, coalesce(a.cancellation_reason, '') AS reason, a.notes,
       coalesce(a.metadata ->> 'attendee_time_zone', 'Europe/Berlin') AS attendee_tz,
       a.calcom_event_type_id AS et_id, et.slug AS et_slug, et.title AS et_title,
       s.calcom_user_id AS host_id, concat_ws(' ', s.first_name, s.last_name) AS host_name,
       s.email AS host_email, h.username, h.time_zone AS host_tz,
       concat_ws(' ', c.first_name, c.last_name) AS attendee_name, c.email AS attendee_email,
       c.phone_number AS attendee_phone, c.preferred_language AS attendee_lang,
       concat_ws(', ', b.address_line, concat_ws(' ', b.postal_code, b.city)) AS location
FROM appointments a
LEFT JOIN calcom_event_types et ON et.id = a.calcom_event_type_id
LEFT JOIN staff s ON s.id = a.staff_id
LEFT JOIN LATERAL (
    SELECT username, time_zone FROM calcom_hosts WHERE staff_id = s.id ORDER BY id LIMIT 1
) h ON true
LEFT JOIN customers c ON c.id = a.customer_id
LEFT JOIN branches b ON b.id = a.branch_id
ORDER BY a.calcom_booking_id
"""

_CALLS_SQL = f"""
SELECT c.company_id, c.retell_call_id, c.agent_id, c.direction, c.from_number, c.to_number, c.call_status,
       {_ms("c.started_at")} AS start_ms, {_ms("c.ended_at")} AS end_ms, c.cost_cents, c.transcript,
       c.disconnection_reason, c.call_analysis, c.recording_url, co.name AS company_name
FROM calls c JOIN companies co ON co.id = c.company_id
ORDER BY c.id
"""


def load_database(state: EmulatorState, dsn: str) -> None:
    """Read appointments, calcom_event_types and calls of a seeded demo database into `state`.

    Raises SourceError when PostgreSQL fails or the demo schema is missing.
    """
    try:
        with psycopg.connect(dsn, row_factory=namedtuple_row) as conn:
            owners = {row.company_id: _host(*row[1:]) for row in conn.execute(_OWNERS_SQL)}
            event_types = conn.execute(_EVENT_TYPES_SQL).fetchall()
            bookings = conn.execute(_BOOKINGS_SQL).fetchall()
            calls = conn.execute(_CALLS_SQL).fetchall()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"reading the demo database for the API emulators failed: {first}") from exc

    by_company: dict[int, list[EventTypeRecord]] = defaultdict(list)
    for row in event_types:
        doc = event_type_doc(
            event_type_id=row.id,
            title=row.title,
            slug=row.slug,
            description=row.description,
            length_minutes=row.length_minutes,
            hidden=row.hidden,
            price_cents=row.price_cents,
            currency=row.currency,
            owner=owners.get(row.company_id) or _stand_in_host(row.company_id),
        )
        by_company[row.company_id].append(EventTypeRecord(row.id, row.created_ms, doc))
    for company_id, records in by_company.items():
        state.load_event_types(company_id, records)

    for company_id, records in _booking_records(bookings).items():
        state.load_bookings(company_id, records)

    call_records: dict[int, list[CallRecord]] = defaultdict(list)
    for row in calls:
        facts = CallFacts(
            call_id=row.retell_call_id,
            agent_id=row.agent_id,
            agent_name=f"{row.company_name} Telefonassistenz",
            call_status=row.call_status,
            direction=row.direction,
            from_number=row.from_number,
            to_number=row.to_number,
            start_ms=row.start_ms,
            end_ms=row.end_ms,
            transcript=row.transcript,
            disconnection_reason=row.disconnection_reason,
            call_analysis=row.call_analysis,
            recording_url=row.recording_url,
            cost_cents=row.cost_cents,
        )
        call_records[row.company_id].append(CallRecord(row.retell_call_id, row.start_ms, call_doc(facts)))
    for company_id, records in call_records.items():
        state.load_calls(company_id, records)


def _booking_records(rows: list[Any]) -> dict[int, list[BookingRecord]]:
    """Bookings from appointment rows; the old half of a reschedule gets `rescheduledToUid` from the new."""
    rescheduled_to = {row.from_uid: row.uid for row in rows if row.from_uid}
    null_updated = _null_updated_ids([row.id for row in rows])
    out: dict[int, list[BookingRecord]] = defaultdict(list)
    for row in rows:
        if row.host_id is not None:
            host = Host(
                row.host_id,
                row.host_name,
                row.host_email or "",
                row.username or "",
                row.host_tz or "Europe/Berlin",
            )
        else:  # Cal.com's placeholder when the booking's user is gone
            host = Host("unknown", "unknown", "unknown", "unknown", "unknown")
        attendee = Attendee(
            row.attendee_name or "Unknown",
            row.attendee_email,
            row.attendee_phone,
            row.attendee_tz,
            row.attendee_lang or "de",
        )
        to_uid = rescheduled_to.get(row.uid)
        cancelled_by = {"cancelled": attendee.effective_email, "rejected": host.email}.get(row.status, "")
        updated_ms = None if row.id in null_updated else row.updated_ms
        doc = booking_doc(
            booking_id=row.id,
            uid=row.uid,
            title=f"{row.et_title or 'Termin'} zwischen {host.name} und {attendee.name}",
            description=row.notes or "",
            host=host,
            attendee=attendee,
            status=row.status,
            start_ms=row.start_ms,
            end_ms=row.end_ms,
            event_type_id=row.et_id,
            event_type_slug=row.et_slug,
            location=row.location or "",
            created_ms=row.created_ms,
            updated_ms=updated_ms,
            cancellation_reason=row.reason,
            cancelled_by_email=cancelled_by,
            rescheduled_from_uid=row.from_uid,
            rescheduled_to_uid=to_uid,
            rescheduled_by_email=attendee.effective_email if to_uid else None,
        )
        record = BookingRecord(
            row.id,
            row.uid,
            row.start_ms,
            row.end_ms,
            row.created_ms,
            updated_ms,
            row.status,
            row.et_id,
            dump_json(doc),
        )
        out[row.company_id].append(record)
    return out


def _null_updated_ids(ids: list[int]) -> set[int]:
    """The bookings that get `updatedAt: null`: 2 %, at least one, picked by a stable hash of the id."""
    if not ids:
        return set()
    count = max(1, len(ids) // NULL_UPDATED_AT_SHARE)
    return set(sorted(ids, key=lambda i: stable_hash(f"null-updated:{i}"))[:count])


def _host(user_id: int, first: str, last: str, email: str | None, username: str, tz: str) -> Host:
    return Host(user_id, f"{first} {last}", email or f"{username}@example.com", username, tz)


def _stand_in_host(company_id: int) -> Host:
    return Host(
        900_000 + company_id, f"Company {company_id}", f"owner{company_id}@example.com", f"owner{company_id}"
    )


# -- generated data -----------------------------------------------------------------------------------------

SYNTHETIC_ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, so the same seed gives the same JSON
_DAY_MS = 86_400_000
_SERVICES = (
    ("Beratung", 30),
    ("Erstgespräch", 60),
    ("Kontrolle", 15),
    ("Behandlung", 45),
    ("Folgetermin", 30),
)
_TRANSCRIPT = (
    "Agent: Guten Tag, Sie sprechen mit der Telefonassistenz. Wie kann ich helfen?\n"
    "User: Hallo, hier ist {name}. Ich hätte gern einen Termin für {service}.\n"
    "Agent: Gern. Passt Ihnen Donnerstag um 10 Uhr?\n"
    "User: Ja, das passt.\n"
    "Agent: Ich habe Sie eingetragen. Auf Wiederhören!\n"
)
_UID_FOLD = str.maketrans("+/", "qZ")


def generate(state: EmulatorState, bookings_per_company: int, calls_per_company: int, seed: int) -> None:
    """Deterministic bookings (with cancellations, reschedule pairs, pending and null-updatedAt rows),
    event types and calls (ended and analyzed, plus one ongoing and one registered) for every company."""
    was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of new containers would trigger a full collection again and again
    try:
        _generate_all(state, bookings_per_company, calls_per_company, random.Random(seed))
    finally:
        if was_enabled:
            gc.enable()


def _generate_all(
    state: EmulatorState, bookings_per_company: int, calls_per_company: int, rng: random.Random
) -> None:
    booking_id = 5_000_000
    for company_id in state.company_ids:
        hosts = [
            Host(
                700_000 + company_id * 10 + k,
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                f"host{k}.c{company_id}@example.com",
                f"host{k}-c{company_id}",
            )
            for k in range(3)
        ]
        ets = []
        for k, (title, minutes) in enumerate(_SERVICES):
            et_id = 8_000_000 + company_id * 100 + k
            doc = event_type_doc(
                event_type_id=et_id,
                title=title,
                slug=f"{title.lower()}-{minutes}",
                description="",
                length_minutes=minutes,
                hidden=False,
                price_cents=rng.randrange(0, 15000, 100),
                currency="EUR",
                owner=hosts[0],
            )
            ets.append(EventTypeRecord(et_id, SYNTHETIC_ANCHOR_MS - 400 * _DAY_MS, doc))
        state.load_event_types(company_id, ets)
        records, booking_id = _generate_bookings(
            rng, company_id, bookings_per_company, booking_id, hosts, ets
        )
        state.load_bookings(company_id, records)
        state.load_calls(company_id, _generate_calls(rng, company_id, calls_per_company))


def _generate_bookings(
    rng: random.Random,
    company_id: int,
    count: int,
    next_id: int,
    hosts: list[Host],
    event_types: list[EventTypeRecord],
) -> tuple[list[BookingRecord], int]:
    records: list[BookingRecord] = []
    window_slots = 425 * 96  # 15-minute slots from a year before the anchor to two months after
    first_slot_ms = SYNTHETIC_ANCHOR_MS - 365 * _DAY_MS
    pending_reschedule: tuple[int, str, str] | None = None  # (index of old record, old uid, attendee email)
    n_et, n_host, n_first, n_last = len(event_types), len(hosts), len(FIRST_NAMES), len(LAST_NAMES)
    for i in range(count):
        booking_id, next_id = next_id, next_id + 1
        uid = _uid(rng)
        # two random words sliced into fields: a third of the cost of one randrange per field
        bits, more = rng.getrandbits(64), rng.getrandbits(64)
        et = event_types[(bits & 0xFF) % n_et]
        host = hosts[(bits >> 8 & 0xFF) % n_host]
        name = f"{FIRST_NAMES[(bits >> 16 & 0xFF) % n_first]} {LAST_NAMES[(bits >> 24 & 0xFF) % n_last]}"
        email = f"guest{booking_id}@mail.example" if (bits >> 32 & 0xF) < 13 else None
        attendee = Attendee(name, email, f"+49151{booking_id % 10_000_000:07d}")
        start_ms = first_slot_ms + (bits >> 36) % window_slots * 900_000
        end_ms = start_ms + et.doc["lengthInMinutes"] * 60_000
        created_ms = start_ms - 3_600_000 - (more & 0xFFFFFFFF) % (30 * _DAY_MS)
        updated_ms: int | None = created_ms + (more >> 32 & 0xFFFFF) % 600_000
        roll = (more >> 52) / 4096
        from_uid = None
        if pending_reschedule is not None:
            old_index, old_uid, by_email = pending_reschedule
            records[old_index] = _rescheduled_old(records[old_index], uid, by_email, created_ms)
            from_uid, pending_reschedule = old_uid, None
            status, reason = "accepted", ""
        elif roll < 0.03 and i + 1 < count:
            pending_reschedule = (i, uid, attendee.effective_email)
            status, reason = "accepted", ""
        elif roll < 0.11:
            status, reason = "cancelled", "Terminkollision"
            updated_ms = created_ms + rng.randrange(600_000, max(600_001, start_ms - created_ms))
        elif roll < 0.13:
            status, reason = "rejected", "Abgelehnt: keine Kapazität"
        elif roll < 0.18 and start_ms > SYNTHETIC_ANCHOR_MS:
            status, reason = "pending", ""
        else:
            status, reason = "accepted", ""
        if stable_hash(f"null-updated:{booking_id}") % NULL_UPDATED_AT_SHARE == 0:
            updated_ms = None
        build = partial(
            booking_doc,
            booking_id=booking_id,
            uid=uid,
            title=f"{et.doc['title']} zwischen {host.name} und {name}",
            description="",
            host=host,
            attendee=attendee,
            status=status,
            start_ms=start_ms,
            end_ms=end_ms,
            event_type_id=et.id,
            event_type_slug=et.doc["slug"],
            location="Hauptstraße 1, 10115 Berlin",
            created_ms=created_ms,
            updated_ms=updated_ms,
            cancellation_reason=reason,
            cancelled_by_email=attendee.effective_email if status == "cancelled" else "",
            rescheduled_from_uid=from_uid,
        )
        records.append(
            BookingRecord(booking_id, uid, start_ms, end_ms, created_ms, updated_ms, status, et.id, build)
        )
    return records, next_id


def _rescheduled_old(old: BookingRecord, new_uid: str, by_email: str, when_ms: int) -> BookingRecord:
    """The old half of a reschedule pair: cancelled, pointing at the new booking, updated at the switch."""
    assert isinstance(old.source, partial)
    updated = None if old.updated_ms is None else max(when_ms, old.created_ms)
    changes = {
        "status": "cancelled",
        "updated_ms": updated,
        "rescheduled_to_uid": new_uid,
        "rescheduled_by_email": by_email,
    }
    build = partial(booking_doc, **{**old.source.keywords, **changes})
    return BookingRecord(
        old.id,
        old.uid,
        old.start_ms,
        old.end_ms,
        old.created_ms,
        updated,
        "cancelled",
        old.event_type_id,
        build,
    )


def _generate_calls(rng: random.Random, company_id: int, count: int) -> list[CallRecord]:
    out: list[CallRecord] = []
    agent_id = f"agent_{stable_hash(f'agent:{company_id}'):016x}{company_id:08x}"
    to_number = f"+4930{5550000 + company_id * 37:07d}"
    for i in range(count):
        call_id = f"call_{rng.getrandbits(128):032x}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        start_ms = SYNTHETIC_ANCHOR_MS - 365 * _DAY_MS + rng.randrange(365 * _DAY_MS)
        status = "ended"
        if i == count - 1 and count >= 3:
            status, start_ms = "registered", None
        elif i == count - 2 and count >= 3:
            status, start_ms = "ongoing", SYNTHETIC_ANCHOR_MS + 60_000
        end_ms = start_ms + rng.randrange(15_000, 400_000) if status == "ended" and start_ms else None
        transcript = None
        if status != "registered":
            transcript = _TRANSCRIPT.format(name=name, service=_SERVICES[i % len(_SERVICES)][0])
        facts = CallFacts(
            call_id=call_id,
            agent_id=agent_id,
            agent_name=f"Company {company_id} Telefonassistenz",
            call_status=status,
            direction="inbound" if rng.random() < 0.9 else "outbound",
            from_number=f"+49170{rng.randrange(10_000_000):07d}",
            to_number=to_number,
            start_ms=start_ms,
            end_ms=end_ms,
            transcript=transcript,
            call_analysis=default_call_analysis(call_id) if status == "ended" else None,
        )
        out.append(CallRecord(call_id, start_ms, call_doc(facts)))
    return out


def _uid(rng: random.Random) -> str:
    """22 characters like Cal.com's uids (base64 of random bytes, `+/` folded into letters)."""
    return base64.b64encode(rng.randbytes(17))[:22].decode().translate(_UID_FOLD)
