"""The emulators' data: per company, Cal.com bookings and event types and Retell calls, in vendor JSON.

One store serves both apps so a test can change the world (cancel, reschedule, hard-delete, end a call)
between two syncs and watch a mirror catch up. Records are immutable: a mutation swaps in a new record, so
a request that took a snapshot under the lock can serialize it afterwards without seeing a half-update.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal, TypeVar

from dataguard_pipelines.sandbox.demo.companies import DEMO_COMPANIES, DemoCompany
from dataguard_pipelines.sandbox.emulators.loaders import generate, load_database
from dataguard_pipelines.sandbox.emulators.records import (
    BOOKING_FIELD_ATTRS,
    BookingField,
    BookingRecord,
    CallRecord,
    EventTypeRecord,
)
from dataguard_pipelines.sandbox.emulators.shapes import (
    Attendee,
    CallFacts,
    Host,
    booking_doc,
    call_doc,
    default_call_analysis,
    event_type_doc,
    iso_ms,
    parse_iso_ms,
    stable_hash,
    to_ms,
)

CallStatus = Literal["registered", "ongoing", "ended"]
_NULL_LAST = float("inf")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_MEMO_SLOTS = 8
T = TypeVar("T")


def demo_api_keys(company_id: int) -> tuple[str, str]:
    """The (Cal.com, Retell) API keys of a demo company: deterministic, fake, and shaped so secret scanners
    looking for `cal_live_…` or `key_<hex>` keys leave them alone."""

    def suffix(purpose: str) -> str:
        n, out = stable_hash(f"{purpose}:{company_id}"), []
        for _ in range(8):
            n, digit = divmod(n, 36)
            out.append(_B36[digit])
        return "".join(out)

    return f"cal_demo_c{company_id}_{suffix('calcom')}", f"key_demo_c{company_id}_{suffix('retell')}"


@dataclass(frozen=True, slots=True)
class SortedBookings:
    """Bookings ascending by one field (NULLs last, like PostgreSQL) then id; `keys` allow bisecting."""

    records: list[BookingRecord]
    keys: list[float]


@dataclass(frozen=True, slots=True)
class SortedCalls:
    """Calls ascending by `CallRecord.sort_key`; `keys` allow bisecting for ranges and cursors."""

    records: list[CallRecord]
    keys: list[tuple[int, str]]


@dataclass
class _Company:
    id: int
    calcom_key: str
    retell_key: str
    bookings: dict[int, BookingRecord] = field(default_factory=dict)
    uids: dict[str, int] = field(default_factory=dict)
    event_types: dict[int, EventTypeRecord] = field(default_factory=dict)
    calls: dict[str, CallRecord] = field(default_factory=dict)
    max_updated_ms: int = 0
    version: int = 0
    cache: dict[Any, Any] = field(default_factory=dict)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EmulatorState:
    """Thread-safe in-memory Cal.com and Retell data for a set of companies, each with its own API keys."""

    def __init__(self, company_ids: Iterable[int] | None = None, *, clock: Callable[[], int] | None = None):
        """`clock` returns epoch ms; it decides what `upcoming`/`past` mean and stamps mutations."""
        ids = list(company_ids) if company_ids is not None else [c.id for c in DEMO_COMPANIES]
        self.clock: Callable[[], int] = clock or _wall_clock_ms
        self._lock = threading.RLock()
        self._companies: dict[int, _Company] = {}
        self._by_calcom_key: dict[str, int] = {}
        self._by_retell_key: dict[str, int] = {}
        self._booking_home: dict[int, int] = {}
        self._call_home: dict[str, int] = {}
        self._next_booking_id = 1
        self._next_event_type_id = 1
        self._calls_added = 0
        for company_id in ids:
            self._ensure_company(company_id)

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_database(cls, dsn: str, *, clock: Callable[[], int] | None = None) -> EmulatorState:
        """The vendors' view of a seeded demo database: same booking ids/uids, event types and call ids.

        Raises SourceError when the database cannot be read.
        """
        state = cls(clock=clock)
        load_database(state, dsn)
        return state

    @classmethod
    def synthetic(
        cls,
        companies: Sequence[int] | None = None,
        bookings_per_company: int = 1000,
        calls_per_company: int = 200,
        seed: int = 0,
        *,
        clock: Callable[[], int] | None = None,
    ) -> EmulatorState:
        """Generated data, the same for the same arguments: for benchmarks and volume tests."""
        state = cls(companies, clock=clock)
        generate(state, bookings_per_company, calls_per_company, seed)
        return state

    def _ensure_company(self, company_id: int) -> _Company:
        company = self._companies.get(company_id)
        if company is None:
            calcom_key, retell_key = demo_api_keys(company_id)
            company = _Company(company_id, calcom_key, retell_key)
            self._companies[company_id] = company
            self._by_calcom_key[calcom_key] = company_id
            self._by_retell_key[retell_key] = company_id
        return company

    def load_bookings(self, company_id: int, records: Iterable[BookingRecord]) -> None:
        """Bulk insert for loaders: no stamping, one cache invalidation."""
        with self._lock:
            company = self._ensure_company(company_id)
            for record in records:
                self._put_booking(company, record)
            self._touch(company)

    def load_event_types(self, company_id: int, records: Iterable[EventTypeRecord]) -> None:
        with self._lock:
            company = self._ensure_company(company_id)
            for record in records:
                company.event_types[record.id] = record
                self._next_event_type_id = max(self._next_event_type_id, record.id + 1)
            self._touch(company)

    def load_calls(self, company_id: int, records: Iterable[CallRecord]) -> None:
        with self._lock:
            company = self._ensure_company(company_id)
            for record in records:
                company.calls[record.call_id] = record
                self._call_home[record.call_id] = company_id
            self._touch(company)

    # -- reads for the apps ------------------------------------------------------------------------------

    @property
    def company_ids(self) -> list[int]:
        with self._lock:
            return list(self._companies)

    def api_keys(self, company_id: int) -> tuple[str, str]:
        """The (Cal.com, Retell) keys this state accepts for `company_id`."""
        with self._lock:
            company = self._companies[company_id]
            return company.calcom_key, company.retell_key

    def company_for_calcom_key(self, key: str) -> int | None:
        with self._lock:
            return self._by_calcom_key.get(key)

    def company_for_retell_key(self, key: str) -> int | None:
        with self._lock:
            return self._by_retell_key.get(key)

    def now_ms(self) -> int:
        return self.clock()

    def sorted_bookings(self, company_id: int, field_name: BookingField) -> SortedBookings:
        """A snapshot of the company's bookings in ascending order of `field_name`, cached until a change."""
        with self._lock:
            company = self._companies[company_id]
            cache_key = ("bookings", field_name)
            cached = company.cache.get(cache_key)
            if cached is None:
                get = attrgetter(BOOKING_FIELD_ATTRS[field_name])
                records = sorted(company.bookings.values(), key=attrgetter("id"))
                records.sort(key=lambda r: _null_last(get(r)))  # stable: ties stay in id order
                cached = SortedBookings(records, [_null_last(get(r)) for r in records])
                company.cache[cache_key] = cached
            return cached

    def booking_record_by_uid(self, company_id: int, uid: str) -> BookingRecord | None:
        with self._lock:
            company = self._companies[company_id]
            booking_id = company.uids.get(uid)
            return company.bookings.get(booking_id) if booking_id is not None else None

    def event_type_records(self, company_id: int) -> list[EventTypeRecord]:
        with self._lock:
            return sorted(self._companies[company_id].event_types.values(), key=lambda r: r.id)

    def sorted_calls(self, company_id: int) -> SortedCalls:
        """A snapshot of the company's calls ascending by (start_timestamp, call_id), cached until a change."""
        with self._lock:
            company = self._companies[company_id]
            cached = company.cache.get("calls")
            if cached is None:
                records = sorted(company.calls.values(), key=lambda r: r.sort_key)
                cached = SortedCalls(records, [r.sort_key for r in records])
                company.cache["calls"] = cached
            return cached

    def call_record(self, company_id: int, call_id: str) -> CallRecord | None:
        with self._lock:
            return self._companies[company_id].calls.get(call_id)

    def memoize(self, company_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` cached until the company's data changes: a filtered scan of 100,000 bookings is
        done once per query, not once per page. Keeps the newest few results."""
        with self._lock:
            cache = self._companies[company_id].cache
            memo_key = ("memo", key)
            if memo_key not in cache:
                memos = [k for k in cache if isinstance(k, tuple) and k[0] == "memo"]
                for stale in memos[: max(0, len(memos) - _MEMO_SLOTS + 1)]:
                    del cache[stale]
                cache[memo_key] = compute()
            return cache[memo_key]

    # -- reads for tests ---------------------------------------------------------------------------------

    def bookings(self, company_id: int) -> list[dict[str, Any]]:
        """Copies of the company's bookings in id order."""
        with self._lock:
            records = sorted(self._companies[company_id].bookings.values(), key=lambda r: r.id)
        return [r.doc for r in records]

    def booking(self, booking_id: int) -> dict[str, Any] | None:
        with self._lock:
            home = self._booking_home.get(booking_id)
            record = self._companies[home].bookings.get(booking_id) if home is not None else None
        return record.doc if record else None

    def event_types(self, company_id: int) -> list[dict[str, Any]]:
        return [copy.deepcopy(r.doc) for r in self.event_type_records(company_id)]

    def calls(self, company_id: int) -> list[dict[str, Any]]:
        """Copies of the company's calls, full (with transcripts), in call_id order."""
        with self._lock:
            records = sorted(self._companies[company_id].calls.values(), key=lambda r: r.call_id)
        return [copy.deepcopy(r.full_doc) for r in records]

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            home = self._call_home.get(call_id)
            record = self._companies[home].calls.get(call_id) if home is not None else None
        return copy.deepcopy(record.full_doc) if record else None

    def count_bookings(self, company_id: int) -> int:
        with self._lock:
            return len(self._companies[company_id].bookings)

    # -- Cal.com mutations -------------------------------------------------------------------------------

    def add_booking(
        self,
        company_id: int,
        *,
        start: datetime | int,
        minutes: int = 30,
        status: str = "accepted",
        title: str | None = None,
        attendee_name: str = "Test Attendee",
        attendee_email: str | None = "attendee@example.com",
        event_type_id: int | None = None,
    ) -> dict[str, Any]:
        """A new booking as if booked now: createdAt = updatedAt = the mutation stamp."""
        with self._lock:
            company = self._companies[company_id]
            booking_id = self._next_booking_id
            event_type = company.event_types.get(event_type_id) if event_type_id is not None else None
            host = _owner_of(company)
            start_ms = to_ms(start)
            stamp = self._stamp(company)
            attendee = Attendee(attendee_name, attendee_email)
            uid = _new_uid(f"booking:{booking_id}")
            doc = booking_doc(
                booking_id=booking_id,
                uid=uid,
                title=title
                or f"{event_type.doc['title'] if event_type else 'Termin'} zwischen "
                f"{host.name} und {attendee_name}",
                description="",
                host=host,
                attendee=attendee,
                status=status,
                start_ms=start_ms,
                end_ms=start_ms + minutes * 60_000,
                event_type_id=event_type_id,
                event_type_slug=event_type.doc["slug"] if event_type else None,
                location="",
                created_ms=stamp,
                updated_ms=stamp,
            )
            self._put_booking(company, BookingRecord.from_doc(doc))
            self._touch(company)
            return copy.deepcopy(doc)

    def update_booking(
        self, booking_id: int, *, bump_updated_at: bool = True, **changes: Any
    ) -> dict[str, Any]:
        """Overwrite top-level JSON fields (camelCase, e.g. `title=`, `start=` ISO). `bump_updated_at=False`
        models the documented quirk that attendee-side changes leave `updatedAt` alone."""
        with self._lock:
            company, record = self._find_booking(booking_id)
            doc = record.doc
            doc.update(changes)
            if "start" in changes or "end" in changes:
                doc["duration"] = (parse_iso_ms(doc["end"]) - parse_iso_ms(doc["start"])) // 60_000
            if bump_updated_at:
                doc["updatedAt"] = iso_ms(self._stamp(company))
            return self._replace_booking(company, doc)

    def cancel_booking(self, booking_id: int, *, reason: str = "", by_email: str = "") -> dict[str, Any]:
        with self._lock:
            company, record = self._find_booking(booking_id)
            doc = record.doc
            doc.update(status="cancelled", cancellationReason=reason, cancelledByEmail=by_email)
            doc["updatedAt"] = iso_ms(self._stamp(company))
            return self._replace_booking(company, doc)

    def reschedule_booking(
        self, booking_id: int, *, start: datetime | int, by_email: str = ""
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Cal.com's reschedule: the old booking is cancelled and points to a new booking (new id and uid)
        that points back. Returns (old, new)."""
        with self._lock:
            company, record = self._find_booking(booking_id)
            stamp = self._stamp(company)
            new_id = self._next_booking_id
            new_uid = _new_uid(f"booking:{new_id}")
            start_ms = to_ms(start)
            old = _with_key_after(record.doc, "cancelledByEmail", "rescheduledByEmail", by_email)
            old = _with_key_after(old, "rescheduledByEmail", "rescheduledToUid", new_uid)
            old.update(status="cancelled", updatedAt=iso_ms(stamp))
            new = record.doc
            for key in ("rescheduledToUid", "rescheduledByEmail", "rescheduledFromUid"):
                new.pop(key, None)
            new = _with_key_after(new, "cancelledByEmail", "rescheduledFromUid", record.uid)
            new.update(
                id=new_id,
                uid=new_uid,
                status="accepted",
                cancellationReason="",
                cancelledByEmail="",
                start=iso_ms(start_ms),
                end=iso_ms(start_ms + (record.end_ms - record.start_ms)),
                createdAt=iso_ms(stamp),
                updatedAt=iso_ms(stamp),
                icsUid=f"{new_uid}@Cal.com",
            )
            old_doc = self._replace_booking(company, old)
            self._put_booking(company, BookingRecord.from_doc(new))
            self._touch(company)
            return old_doc, copy.deepcopy(new)

    def hard_delete_booking(self, booking_id: int) -> None:
        """Gone without a trace, as when Cal.com cascades a user deletion: only absence tells."""
        with self._lock:
            company, record = self._find_booking(booking_id)
            del company.bookings[booking_id]
            company.uids.pop(record.uid, None)
            del self._booking_home[booking_id]
            self._touch(company)

    def add_event_type(
        self, company_id: int, *, title: str, slug: str | None = None, length_minutes: int = 30
    ) -> dict[str, Any]:
        with self._lock:
            company = self._companies[company_id]
            event_type_id = self._next_event_type_id
            self._next_event_type_id += 1
            doc = event_type_doc(
                event_type_id=event_type_id,
                title=title,
                slug=slug or title.lower().replace(" ", "-"),
                description="",
                length_minutes=length_minutes,
                hidden=False,
                price_cents=0,
                currency="EUR",
                owner=_owner_of(company),
            )
            company.event_types[event_type_id] = EventTypeRecord(event_type_id, self._stamp(company), doc)
            self._touch(company)
            return copy.deepcopy(doc)

    # -- Retell mutations --------------------------------------------------------------------------------

    def add_call(
        self,
        company_id: int,
        *,
        status: CallStatus = "ongoing",
        start: datetime | int | None = None,
        minutes: float = 2.0,
        transcript: str | None = None,
        from_number: str = "+4915100000000",
    ) -> dict[str, Any]:
        """A call in one of Retell's lifecycle stages: `registered` has no start yet, `ongoing` no end, and
        `ended` no analysis until `analyze_call`."""
        with self._lock:
            company = self._companies[company_id]
            now = self.clock()
            self._calls_added += 1
            seed = f"call:{company_id}:{self._calls_added}:{now}"
            call_id = f"call_{stable_hash(seed):016x}{stable_hash(seed + '#2'):016x}"
            start_ms = None if status == "registered" else (to_ms(start) if start is not None else now)
            end_ms = start_ms + int(minutes * 60_000) if status == "ended" and start_ms is not None else None
            if transcript is None and status != "registered":
                transcript = "Agent: Guten Tag, wie kann ich helfen?\nUser: Ich möchte einen Termin.\n"
            facts = CallFacts(
                call_id=call_id,
                agent_id=_agent_of(company_id),
                agent_name=_agent_name(company_id),
                call_status=status,
                direction="inbound",
                from_number=from_number,
                to_number=_phone_of(company_id),
                start_ms=start_ms,
                end_ms=end_ms,
                transcript=transcript,
            )
            record = CallRecord(call_id, start_ms, call_doc(facts))
            company.calls[call_id] = record
            self._call_home[call_id] = company_id
            self._touch(company)
            return copy.deepcopy(record.full_doc)

    def end_call(
        self,
        call_id: str,
        *,
        end: datetime | int | None = None,
        transcript: str | None = None,
        disconnection_reason: str = "user_hangup",
    ) -> dict[str, Any]:
        """The call ends: end timestamp, duration, cost and recording appear; the analysis does not yet."""
        with self._lock:
            company, record = self._find_call(call_id)
            old = record.doc
            start_ms = record.start_ms if record.start_ms is not None else self.clock()
            end_ms = to_ms(end) if end is not None else max(self.clock(), start_ms + 1)
            facts = _facts_of(old, start_ms=start_ms, end_ms=end_ms, call_status="ended")
            facts = replace(
                facts,
                transcript=transcript if transcript is not None else old.get("transcript", ""),
                disconnection_reason=disconnection_reason,
            )
            return self._replace_call(company, CallRecord(call_id, start_ms, call_doc(facts)))

    def analyze_call(self, call_id: str, analysis: dict[str, Any] | None = None) -> dict[str, Any]:
        """Attach `call_analysis`, as Retell does some time after the call ended (`call_analyzed`)."""
        with self._lock:
            company, record = self._find_call(call_id)
            doc = copy.deepcopy(record.doc)
            analysis = analysis if analysis is not None else default_call_analysis(call_id)
            if "call_cost" in doc:  # keep the documented key order: analysis before cost
                doc = _with_key_after(doc, "disconnection_reason", "call_analysis", analysis)
            else:
                doc["call_analysis"] = analysis
            return self._replace_call(company, CallRecord(call_id, record.start_ms, doc))

    def hard_delete_call(self, call_id: str) -> None:
        """Like `DELETE /v2/delete-call`: get-call answers 404 afterwards."""
        with self._lock:
            company, _record = self._find_call(call_id)
            del company.calls[call_id]
            del self._call_home[call_id]
            self._touch(company)

    # -- internals ---------------------------------------------------------------------------------------

    def _put_booking(self, company: _Company, record: BookingRecord) -> None:
        company.bookings[record.id] = record
        company.uids[record.uid] = record.id
        self._booking_home[record.id] = company.id
        self._next_booking_id = max(self._next_booking_id, record.id + 1)
        if record.updated_ms is not None and record.updated_ms > company.max_updated_ms:
            company.max_updated_ms = record.updated_ms

    def _replace_booking(self, company: _Company, doc: dict[str, Any]) -> dict[str, Any]:
        self._put_booking(company, BookingRecord.from_doc(doc))
        self._touch(company)
        return copy.deepcopy(doc)

    def _replace_call(self, company: _Company, record: CallRecord) -> dict[str, Any]:
        company.calls[record.call_id] = record
        self._touch(company)
        return copy.deepcopy(record.full_doc)

    def _find_booking(self, booking_id: int) -> tuple[_Company, BookingRecord]:
        home = self._booking_home.get(booking_id)
        if home is None:
            raise KeyError(f"booking {booking_id} does not exist in the emulator state")
        company = self._companies[home]
        return company, company.bookings[booking_id]

    def _find_call(self, call_id: str) -> tuple[_Company, CallRecord]:
        home = self._call_home.get(call_id)
        if home is None:
            raise KeyError(f"call {call_id} does not exist in the emulator state")
        company = self._companies[home]
        return company, company.calls[call_id]

    def _stamp(self, company: _Company) -> int:
        """Now, but never at or before the company's newest updatedAt: a mutation always moves the
        incremental cursor forward, even when demo data is dated after the wall clock."""
        stamp = max(self.clock(), company.max_updated_ms + 1)
        company.max_updated_ms = stamp
        return stamp

    @staticmethod
    def _touch(company: _Company) -> None:
        company.version += 1
        company.cache.clear()


def _null_last(value: int | None) -> float:
    return _NULL_LAST if value is None else value


def _new_uid(seed: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = stable_hash(seed) << 64 | stable_hash(seed + "#2")
    out = []
    for _ in range(22):
        n, digit = divmod(n, 62)
        out.append(alphabet[digit])
    return "".join(out)


def _with_key_after(doc: dict[str, Any], after: str, key: str, value: Any) -> dict[str, Any]:
    """`doc` with `key` set, placed right after `after` (vendor key order) when it is new."""
    if key in doc or after not in doc:
        doc[key] = value
        return doc
    out: dict[str, Any] = {}
    for k, v in doc.items():
        out[k] = v
        if k == after:
            out[key] = value
    return out


def _owner_of(company: _Company) -> Host:
    """The company's Cal.com user: the owner of its first event type, else a stand-in."""
    for record in sorted(company.event_types.values(), key=lambda r: r.id):
        user = record.doc["users"][0]
        return Host(user["id"], user["name"], f"{user['username']}@example.com", user["username"])
    return Host(
        900_000 + company.id, f"Company {company.id}", f"owner{company.id}@example.com", f"owner{company.id}"
    )


def _demo(company_id: int) -> DemoCompany | None:
    return next((c for c in DEMO_COMPANIES if c.id == company_id), None)


def _agent_of(company_id: int) -> str:
    demo = _demo(company_id)
    return demo.retell_agent_id if demo else f"agent_{stable_hash(f'agent:{company_id}'):024x}"[:30]


def _agent_name(company_id: int) -> str:
    demo = _demo(company_id)
    return f"{demo.name if demo else f'Company {company_id}'} Telefonassistenz"


def _phone_of(company_id: int) -> str:
    demo = _demo(company_id)
    return demo.phone_number if demo else f"+4930{5550000 + company_id * 37:07d}"


def _facts_of(doc: dict[str, Any], **overrides: Any) -> CallFacts:
    """The facts behind an existing call document, with some replaced."""
    facts = CallFacts(
        call_id=doc["call_id"],
        agent_id=doc["agent_id"],
        agent_name=doc.get("agent_name", ""),
        call_status=doc["call_status"],
        direction=doc.get("direction", "inbound"),
        from_number=doc.get("from_number"),
        to_number=doc.get("to_number"),
        start_ms=doc.get("start_timestamp"),
        end_ms=doc.get("end_timestamp"),
        transcript=doc.get("transcript"),
        disconnection_reason=doc.get("disconnection_reason"),
        call_analysis=doc.get("call_analysis"),
    )
    return replace(facts, **overrides)


__all__ = [
    "BookingRecord",
    "CallRecord",
    "EmulatorState",
    "EventTypeRecord",
    "SortedBookings",
    "SortedCalls",
    "demo_api_keys",
]
