"""Cal.com API v2 client: bookings by `updatedAt` window or by start window, and event types.

Pagination follows apis.md §4.2: the incremental read is keyset-style on `updatedAt` so rows updated
during a sync cannot shift unseen rows out of reach, and both reads continue while pages are full,
because `hasNextPage` is wrong when `totalItems` is null or estimated (admin keys).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataguard_pipelines.clients.http import Clock, HttpTransport, RetryPolicy, Secret, Sleep, VendorClient
from dataguard_pipelines.clients.models import Booking, BookingPage, EventType
from dataguard_pipelines.core.errors import ConfigError, MalformedResponse

BASE_URL = "https://api.cal.com/v2"
BOOKINGS_VERSION = "2024-08-13"
EVENT_TYPES_VERSION = "2024-06-14"
MAX_TAKE = 250
BLOCK_S = 60.0  # a 429 from Cal.com carries no Retry-After; the key is blocked for 60 s (apis.md §1.4)
_MAX_PAGES_WITHOUT_NEW_ROWS = 3  # the keyset walk legitimately repeats one page at most; more is a loop


@dataclass(frozen=True)
class _Page:
    rows: tuple[Booking, ...]
    has_next: bool
    total_items: int | None


class CalcomClient(VendorClient):
    """Reads one company's Cal.com account with its API key; returns frozen models from `models.py`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = BASE_URL,
        timeout_s: float = 60.0,
        max_tries: int = 5,
        requests_per_minute: float | None = 100,
        max_rate_limit_wait_s: float = 60.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        """`requests_per_minute` keeps a 20% margin under Cal.com's 120/min per key (None: no pacing)."""
        self._http = HttpTransport(
            vendor="Cal.com",
            base_url=base_url,
            api_key=Secret(api_key),
            policy=RetryPolicy(
                max_tries=max_tries,
                max_rate_limit_wait_s=max_rate_limit_wait_s,
                default_429_wait_s=BLOCK_S,
            ),
            requests_per_minute=requests_per_minute,
            timeout_s=timeout_s,
            sleep=sleep,
            clock=clock,
        )

    def iter_bookings_updated(
        self, *, after: datetime | None, before: datetime, take: int = MAX_TAKE
    ) -> Iterator[BookingPage]:
        """Bookings with `after <= updatedAt <= before`, oldest first, each booking exactly once.

        Args:
            after: window start (the committed cursor minus a lookback); None reads from the beginning.
            before: window end, fixed for the run (usually the run's start time).
            take: page size, 1..250.

        Bookings whose `updatedAt` is null never match an `updatedAt` filter; the start-window sweep
        (`iter_bookings_by_start`) is what catches them. Yields only pages that add bookings.
        """
        _check_take(take)
        seen: set[int] = set()
        window_start, skip, stale_pages = after, 0, 0
        while True:
            params: dict[str, str | int] = {
                "beforeUpdatedAt": _iso(before),
                "sortUpdatedAt": "asc",
                "take": take,
                "skip": skip,
            }
            if window_start is not None:
                params["afterUpdatedAt"] = _iso(window_start)
            page = self._bookings_page(params)
            new = _unseen(page.rows, seen)
            if new:
                yield BookingPage(new, requests=self.stats.requests, total_items=page.total_items)
            if _is_last(page, take=take, added=len(new)):
                return
            stale_pages = 0 if new else stale_pages + 1
            _check_progress(stale_pages, "afterUpdatedAt/skip")
            newest = max((b.updated_at for b in page.rows if b.updated_at is not None), default=None)
            if newest is not None and (window_start is None or newest > window_start):
                window_start, skip = newest, 0  # inclusive bound: rows at `newest` repeat and are deduped
            else:
                skip += len(page.rows)  # the whole page shares the window start: step over it

    def iter_bookings_by_start(
        self, *, after_start: datetime, before_end: datetime, take: int = MAX_TAKE
    ) -> Iterator[BookingPage]:
        """Bookings with `start >= after_start` and `end <= before_end`, by start, each once.

        The daily sweep: it catches bookings whose `updatedAt` is null or did not move (attendee and
        no-show changes live in other tables). Skip pagination, advanced by the rows received.
        """
        _check_take(take)
        seen: set[int] = set()
        skip, stale_pages = 0, 0
        while True:
            page = self._bookings_page(
                {
                    "afterStart": _iso(after_start),
                    "beforeEnd": _iso(before_end),
                    "sortStart": "asc",
                    "take": take,
                    "skip": skip,
                }
            )
            new = _unseen(page.rows, seen)
            if new:
                yield BookingPage(new, requests=self.stats.requests, total_items=page.total_items)
            if _is_last(page, take=take, added=len(new)):
                return
            stale_pages = 0 if new else stale_pages + 1
            _check_progress(stale_pages, "skip")
            skip += len(page.rows)

    def list_event_types(self) -> list[EventType]:
        """Every event type the key's user owns; the endpoint is unpaginated."""
        source = f"Cal.com {self._http.describe('GET', '/event-types')}"
        body = self._http.request_json(
            "GET", "/event-types", headers={"cal-api-version": EVENT_TYPES_VERSION}
        )
        data = _data_list(body, source=source, version=EVENT_TYPES_VERSION)
        self.stats.pages += 1
        return [EventType.from_api(item, source=source) for item in data]

    def _bookings_page(self, params: Mapping[str, str | int]) -> _Page:
        source = f"Cal.com {self._http.describe('GET', '/bookings')}"
        body = self._http.request_json(
            "GET", "/bookings", params=params, headers={"cal-api-version": BOOKINGS_VERSION}
        )
        data = _data_list(body, source=source, version=BOOKINGS_VERSION)
        self.stats.pages += 1
        pagination = body.get("pagination")
        if not isinstance(pagination, Mapping):
            pagination = {}
        total = pagination.get("totalItems")
        return _Page(
            rows=tuple(Booking.from_api(item, source=source) for item in data),
            has_next=pagination.get("hasNextPage") is True,
            total_items=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )


def _unseen(rows: tuple[Booking, ...], seen: set[int]) -> tuple[Booking, ...]:
    """The rows whose id was not yielded yet; records them as seen."""
    new: list[Booking] = []
    for booking in rows:
        if booking.id not in seen:
            seen.add(booking.id)
            new.append(booking)
    return tuple(new)


def _is_last(page: _Page, *, take: int, added: int) -> bool:
    """A short page ends the walk, unless `hasNextPage` insists and the page still added rows.

    A full page never ends it: `hasNextPage` may be false only because `totalItems` is null.
    """
    if not page.rows:
        return True
    return len(page.rows) < take and not (page.has_next and added)


def _check_progress(stale_pages: int, cursor: str) -> None:
    if stale_pages >= _MAX_PAGES_WITHOUT_NEW_ROWS:
        raise MalformedResponse(
            f"Cal.com returned {stale_pages} full pages of bookings already seen; the server seems to "
            f"ignore {cursor}, so the sync stopped instead of looping"
        )


def _data_list(body: Any, *, source: str, version: str) -> list[Any]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise MalformedResponse(
            f"{source}: the answer has no `data` list (a legacy shape means cal-api-version {version} "
            "was ignored); check the base URL points at Cal.com API v2"
        )
    return data


def _check_take(take: int) -> None:
    if not 1 <= take <= MAX_TAKE:
        raise ConfigError(f"take must be between 1 and {MAX_TAKE} (got {take})")


def _iso(moment: datetime) -> str:
    """Cal.com's strict ISO-8601 in UTC with milliseconds; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
