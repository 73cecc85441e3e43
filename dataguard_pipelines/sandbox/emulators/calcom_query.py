"""`GET /v2/bookings` semantics: query validation, filters, status rules, ordering and the pagination object.

Follows apis.md §1.2 (Cal.com's get-bookings input DTO, `get.handler.ts` and `pagination.ts`): all date
filters are inclusive, NULL `updatedAt` never matches a bound, sorts break ties by id in the same direction,
and with no sort a single status picks the order Cal.com would.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dataguard_pipelines.sandbox.emulators.shapes import parse_iso_ms
from dataguard_pipelines.sandbox.emulators.state import BookingField, BookingRecord, EmulatorState

STATUSES = ("upcoming", "recurring", "past", "cancelled", "unconfirmed")
TAKE_MAX = 250
TAKE_DEFAULT = 100
_HOUR_MS = 3_600_000
_SORT_PARAMS: tuple[tuple[str, BookingField], ...] = (
    ("sortStart", "start"),
    ("sortEnd", "end"),
    ("sortCreated", "created"),
    ("sortUpdatedAt", "updated"),
)
_DATE_PARAMS: tuple[tuple[str, BookingField, str], ...] = (
    ("afterStart", "start", "ge"),
    ("beforeEnd", "end", "le"),
    ("afterCreatedAt", "created", "ge"),
    ("beforeCreatedAt", "created", "le"),
    ("afterUpdatedAt", "updated", "ge"),
    ("beforeUpdatedAt", "updated", "le"),
)


class QueryInvalid(Exception):
    """The query fails validation; `errors` are class-validator style items for the 400 body."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} invalid query parameter(s)")
        self.errors = errors


@dataclass
class BookingQuery:
    """A validated `GET /v2/bookings` query (unknown parameters are dropped, as Cal.com's whitelist does)."""

    statuses: tuple[str, ...] = ()
    bounds: dict[tuple[BookingField, str], int] = field(default_factory=dict)  # (field, "ge"|"le") -> ms
    sort: tuple[BookingField, bool] | None = None  # (field, descending)
    take: int = TAKE_DEFAULT
    skip: int = 0
    booking_uid: str | None = None
    event_type_ids: frozenset[int] | None = None
    team_ids: frozenset[int] | None = None
    attendee_email: str | None = None
    attendee_name: str | None = None


def parse_booking_query(params: Mapping[str, str]) -> BookingQuery:
    """Validate query parameters the way the 2024-08-13 DTO does; raises QueryInvalid listing every error."""
    errors: list[dict[str, Any]] = []
    target = dict(params)
    query = BookingQuery()

    def invalid(prop: str, value: Any, constraint: str, message: str) -> None:
        errors.append(
            {
                "target": target,
                "value": value,
                "property": prop,
                "children": [],
                "constraints": {constraint: message},
            }
        )

    if "status" in params:
        statuses = tuple(s.strip() for s in params["status"].split(",") if s.strip())
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            invalid(
                "status",
                statuses,
                "isEnum",
                f"each value in status must be one of the following values: {', '.join(STATUSES)}",
            )
        query.statuses = statuses
    for name, field_name, op in _DATE_PARAMS:
        if name in params:
            try:
                query.bounds[(field_name, op)] = _strict_iso_ms(params[name])
            except ValueError:
                invalid(name, params[name], "isDateString", f"{name} must be a valid ISO 8601 date string")
    for name, field_name in _SORT_PARAMS:
        if name in params:
            value = params[name]
            if value not in ("asc", "desc"):
                invalid(name, value, "isEnum", f"{name} must be one of the following values: asc, desc")
            elif query.sort is None:
                query.sort = (field_name, value == "desc")
    query.take = _int_param(params, "take", TAKE_DEFAULT, 1, TAKE_MAX, invalid)
    query.skip = _int_param(params, "skip", 0, 0, None, invalid)
    if params.get("bookingUid"):
        query.booking_uid = params["bookingUid"]
    query.event_type_ids = _id_set(params, ("eventTypeId", "eventTypeIds"), invalid)
    query.team_ids = _id_set(params, ("teamId", "teamsIds"), invalid)
    if params.get("attendeeEmail"):
        query.attendee_email = params["attendeeEmail"].strip().replace(" ", "+").lower()
    if params.get("attendeeName"):
        query.attendee_name = params["attendeeName"].strip().lower()
    if errors:
        raise QueryInvalid(errors)
    return query


def effective_order(query: BookingQuery) -> tuple[BookingField, bool]:
    """The (field, descending) Cal.com sorts by: an explicit sort, else a single status's default, else start
    ascending."""
    if query.sort is not None:
        return query.sort
    if len(query.statuses) == 1 and query.statuses[0] in ("past", "cancelled"):
        return "start", True
    return "start", False


def run_booking_query(
    state: EmulatorState, company_id: int, query: BookingQuery, *, now_ms: int, team_id: int
) -> tuple[list[BookingRecord], int]:
    """The requested page and the total number of matches (for `pagination.totalItems`)."""
    field_name, descending = effective_order(query)
    view = state.sorted_bookings(company_id, field_name)
    keys, records = view.keys, view.records
    lo, hi = 0, len(records)
    ge, le = query.bounds.get((field_name, "ge")), query.bounds.get((field_name, "le"))
    if ge is not None:  # bisect the bounds on the sort field; NULLs sort last as +inf and never match
        lo, hi = bisect_left(keys, ge), bisect_left(keys, math.inf)
    if le is not None:
        hi = min(hi, bisect_right(keys, le))
    hi = max(lo, hi)
    predicates = _predicates(query, field_name, now_ms, team_id)
    positions = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
    if not predicates:
        window = positions[query.skip : query.skip + query.take]
        return [records[i] for i in window], len(positions)
    # statuses compare with "now": a memo may be up to a second old, which no client can tell
    memo_key = (field_name, descending, _filter_key(query), now_ms // 1000 if query.statuses else 0)
    matched = state.memoize(
        company_id,
        memo_key,
        lambda: [records[i] for i in positions if all(p(records[i]) for p in predicates)],
    )
    return matched[query.skip : query.skip + query.take], len(matched)


def _filter_key(query: BookingQuery) -> tuple[Any, ...]:
    return (
        tuple(sorted(query.bounds.items())),
        query.statuses,
        query.booking_uid,
        query.event_type_ids,
        query.team_ids,
        query.attendee_email,
        query.attendee_name,
    )


def status_matches(record: BookingRecord, status: str, now_ms: int) -> bool:
    """Cal.com's `buildStatusWhereClause` for one listing status (no recurring series exist here)."""
    if status == "cancelled":
        return record.status in ("cancelled", "rejected")
    if status == "past":
        return record.end_ms <= now_ms and record.status not in ("cancelled", "rejected")
    is_ahead = record.start_ms >= now_ms - _HOUR_MS and record.end_ms >= now_ms
    if status == "upcoming":
        return is_ahead and record.status not in ("cancelled", "rejected")
    if status == "unconfirmed":
        return is_ahead and record.status == "pending"
    return False  # "recurring": the emulator has no recurring bookings


def pagination(total: int | None, skip: int, take: int, *, legacy_key: bool = False) -> dict[str, Any]:
    """Cal.com's PaginationMetaDto; a null total (admin keys, full page) is 0 in the math, as in JS."""
    n = total or 0
    total_pages = math.ceil(n / take)
    out = {
        "itemsReturned" if legacy_key else "returnedItems": min(max(n - skip, 0), take),
        "totalItems": total,
        "itemsPerPage": take,
        "remainingItems": min(max(n - (skip + take), 0), n),
        "currentPage": 0 if total_pages == 0 else min(max(skip // take + 1, 1), total_pages),
        "totalPages": total_pages,
        "hasNextPage": skip + take < n,
        "hasPreviousPage": skip > 0,
    }
    return out


def _predicates(
    query: BookingQuery, sort_field: BookingField, now_ms: int, team_id: int
) -> list[Callable[[BookingRecord], bool]]:
    preds: list[Callable[[BookingRecord], bool]] = []
    for (field_name, op), bound in query.bounds.items():
        if field_name == sort_field:
            continue  # already applied by bisecting
        preds.append(_bound_predicate(field_name, op, bound))
    if query.statuses:
        statuses = query.statuses
        preds.append(lambda r: any(status_matches(r, s, now_ms) for s in statuses))
    if query.booking_uid is not None:
        uid = query.booking_uid
        preds.append(lambda r: r.uid == uid)
    if query.event_type_ids is not None:
        ids = query.event_type_ids
        preds.append(lambda r: r.event_type_id in ids)
    if query.team_ids is not None:
        is_team = team_id in query.team_ids
        preds.append(lambda _r: is_team)
    if query.attendee_email is not None:
        email = query.attendee_email
        preds.append(lambda r: any(a["email"].lower() == email for a in r.doc["attendees"]))
    if query.attendee_name is not None:
        name = query.attendee_name
        preds.append(lambda r: any(name in a["name"].lower() for a in r.doc["attendees"]))
    return preds


def _bound_predicate(field_name: BookingField, op: str, bound: int) -> Callable[[BookingRecord], bool]:
    def check(record: BookingRecord) -> bool:
        value = record.value(field_name)
        if value is None:
            return False
        return value >= bound if op == "ge" else value <= bound

    return check


def _strict_iso_ms(text: str) -> int:
    """ISO-8601 with at least a full date, as class-validator's strict IsDateString wants."""
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(text)
    return parse_iso_ms(text)


def _int_param(
    params: Mapping[str, str],
    name: str,
    default: int,
    low: int,
    high: int | None,
    invalid: Callable[[str, Any, str, str], None],
) -> int:
    if name not in params:
        return default
    raw = params[name]
    try:
        value = int(raw)
    except ValueError:
        invalid(name, None, "isInt", f"{name} must be an integer number")  # NaN serializes as null
        return default
    if value < low:
        invalid(name, value, "min", f"{name} must not be less than {low}")
    elif high is not None and value > high:
        invalid(name, value, "max", f"{name} must not be greater than {high}")
    return value


def _id_set(
    params: Mapping[str, str], names: tuple[str, str], invalid: Callable[[str, Any, str, str], None]
) -> frozenset[int] | None:
    ids: set[int] = set()
    seen = False
    for name in names:
        if name not in params:
            continue
        seen = True
        for part in params[name].split(","):
            try:
                ids.add(int(part))
            except ValueError:
                invalid(name, params[name], "isInt", f"each value in {name} must be an integer number")
    return frozenset(ids) if seen else None
