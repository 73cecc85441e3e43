"""CalcomClient against a Cal.com look-alike on loopback: headers, pagination, parsing, errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dataguard_pipelines.clients.calcom import CalcomClient
from dataguard_pipelines.clients.models import Booking, BookingPage
from dataguard_pipelines.core.errors import AuthenticationError, ConfigError, MalformedResponse
from dataguard_pipelines.sandbox import emulators
from dataguard_pipelines.sandbox.emulators.ratelimit import FixedWindowLimiter
from tests.clients.fault_server import (
    EVENT_TYPE_TEMPLATE,
    CalcomAccount,
    FakeClock,
    FaultServer,
    iso_ms,
    make_booking,
)

KEY = "cal_live_c0ffee_SECRET_7d1f"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RUN_START = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)
FAR_END = T0 + timedelta(days=400)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer.running() as running:
        yield running


_opened: list[CalcomClient] = []


@pytest.fixture(autouse=True)
def close_opened() -> Iterator[None]:
    """Close every client a test opened, so no socket outlives its test."""
    yield
    while _opened:
        _opened.pop().close()


def client_for(base_url: str, clock: FakeClock | None = None, **kwargs: object) -> CalcomClient:
    clock = clock or FakeClock()
    options: dict = {"requests_per_minute": None, "sleep": clock.sleep, "clock": clock, **kwargs}
    client = CalcomClient(api_key=KEY, base_url=base_url, **options)
    _opened.append(client)
    return client


def distinct_bookings(count: int, *, first_id: int = 1) -> list[dict]:
    """`count` bookings, each updated one minute after the previous one."""
    return [
        make_booking(
            first_id + i, updated_at=iso_ms(T0 + timedelta(minutes=i)), start=iso_ms(T0 + timedelta(days=i))
        )
        for i in range(count)
    ]


def ids(pages: list[BookingPage]) -> list[int]:
    return [booking.id for page in pages for booking in page.bookings]


# -- headers ---------------------------------------------------------------------------------------


def test_calcom_client_sends_bearer_and_the_version_each_endpoint_needs(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(3), event_types=[EVENT_TYPE_TEMPLATE])
    client = client_for(server.add_calcom(account))
    assert len(ids(list(client.iter_bookings_updated(after=None, before=RUN_START)))) == 3
    swept = list(client.iter_bookings_by_start(after_start=T0, before_end=RUN_START + timedelta(days=9)))
    assert len(ids(swept)) == 3
    [event_type] = client.list_event_types()
    assert event_type.id == 50 and event_type.slug == "30min" and event_type.length_in_minutes == 30
    versions = [(r["path"].rsplit("/", 1)[-1], r["headers"]["cal-api-version"]) for r in account.requests]
    assert versions == [("bookings", "2024-08-13"), ("bookings", "2024-08-13"), ("event-types", "2024-06-14")]
    assert {r["headers"]["authorization"] for r in account.requests} == {f"Bearer {KEY}"}


def test_calcom_client_sends_the_keyset_query(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(2))
    client = client_for(server.add_calcom(account))
    list(client.iter_bookings_updated(after=T0, before=RUN_START, take=50))
    assert account.requests[0]["params"] == {
        "afterUpdatedAt": "2025-03-01T09:00:00.000Z",
        "beforeUpdatedAt": "2025-03-10T00:00:00.000Z",
        "sortUpdatedAt": "asc",
        "take": "50",
        "skip": "0",
    }
    assert "status" not in account.requests[0]["params"]  # all statuses, by omission (apis.md §1.2)


# -- incremental pagination ------------------------------------------------------------------------


def test_calcom_client_returns_each_updated_booking_once_across_pages(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(1000))
    client = client_for(server.add_calcom(account))
    pages = list(client.iter_bookings_updated(after=None, before=RUN_START, take=100))
    assert sorted(ids(pages)) == list(range(1, 1001)) and len(ids(pages)) == 1000
    assert [p.requests for p in pages] == sorted(p.requests for p in pages)
    assert pages[-1].requests == client.stats.requests == client.stats.pages
    later = account.requests[1]["params"]
    assert later["skip"] == "0" and later["afterUpdatedAt"] == iso_ms(T0 + timedelta(minutes=99))


def test_calcom_client_respects_the_window_bounds(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(30))
    client = client_for(server.add_calcom(account))
    after, before = T0 + timedelta(minutes=10), T0 + timedelta(minutes=19)
    got = ids(list(client.iter_bookings_updated(after=after, before=before, take=4)))
    assert sorted(got) == list(range(11, 21))  # both bounds inclusive


def test_calcom_client_walks_a_full_last_page_then_stops_on_an_empty_one(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(300))
    client = client_for(server.add_calcom(account))
    pages = list(client.iter_bookings_by_start(after_start=T0, before_end=FAR_END, take=100))
    assert ids(pages) == list(range(1, 301))
    assert [r["params"]["skip"] for r in account.requests] == ["0", "100", "200", "300"]
    assert client.stats.pages == 4


def test_calcom_client_keeps_going_when_has_next_page_says_false_on_full_pages(server: FaultServer) -> None:
    # an admin key: totalItems is null, so hasNextPage is false even on full pages
    account = CalcomAccount(KEY, bookings=distinct_bookings(250), has_next="never")
    client = client_for(server.add_calcom(account))
    assert sorted(ids(list(client.iter_bookings_updated(after=None, before=RUN_START, take=50)))) == list(
        range(1, 251)
    )
    by_start = list(client.iter_bookings_by_start(after_start=T0, before_end=FAR_END, take=50))
    assert ids(by_start) == list(range(1, 251))


def test_calcom_client_stops_when_has_next_page_stays_true(server: FaultServer) -> None:
    account = CalcomAccount(KEY, bookings=distinct_bookings(120), has_next="always")
    client = client_for(server.add_calcom(account))
    assert sorted(ids(list(client.iter_bookings_updated(after=None, before=RUN_START, take=50)))) == list(
        range(1, 121)
    )
    assert client.stats.requests <= 5
    by_start = list(client.iter_bookings_by_start(after_start=T0, before_end=FAR_END, take=50))
    assert ids(by_start) == list(range(1, 121))


def test_calcom_client_steps_over_pages_that_share_one_updated_at(server: FaultServer) -> None:
    same = iso_ms(T0)
    bookings = [make_booking(i, updated_at=same) for i in range(1, 601)]
    bookings += [make_booking(i, updated_at=iso_ms(T0 + timedelta(seconds=i))) for i in range(601, 901)]
    account = CalcomAccount(KEY, bookings=bookings)
    client = client_for(server.add_calcom(account))
    got = ids(list(client.iter_bookings_updated(after=T0, before=RUN_START, take=250)))
    assert sorted(got) == list(range(1, 901)) and len(got) == 900
    # skip within the shared timestamp, then back to keyset once a page reaches a later one
    assert [r["params"]["skip"] for r in account.requests] == ["0", "250", "500", "0"]
    assert account.requests[3]["params"]["afterUpdatedAt"] == iso_ms(T0 + timedelta(seconds=750))


def test_calcom_client_loses_no_booking_when_rows_are_updated_during_the_sync(server: FaultServer) -> None:
    """Rows already read move past `before` mid-sync; plain skip paging would now skip unseen rows."""

    def touch_read_rows(account: CalcomAccount, request_number: int) -> None:
        if request_number >= 2:  # the first page (ids 1..50) has been read by now
            for booking in account.bookings[:40]:
                booking["updatedAt"] = iso_ms(RUN_START + timedelta(minutes=request_number))

    account = CalcomAccount(KEY, bookings=distinct_bookings(200), before_request=touch_read_rows)
    client = client_for(server.add_calcom(account))
    got = ids(list(client.iter_bookings_updated(after=None, before=RUN_START, take=50)))
    assert sorted(got) == list(range(1, 201)) and len(got) == 200


def test_calcom_client_handles_null_updated_at(server: FaultServer) -> None:
    bookings = distinct_bookings(3)
    bookings.append(make_booking(99, updated_at=None, start=iso_ms(T0 + timedelta(days=1, hours=1))))
    account = CalcomAccount(KEY, bookings=bookings)
    client = client_for(server.add_calcom(account))
    assert 99 not in ids(list(client.iter_bookings_updated(after=None, before=RUN_START)))
    pages = client.iter_bookings_by_start(after_start=T0, before_end=RUN_START)
    swept = [booking for page in pages for booking in page.bookings]
    legacy = next(b for b in swept if b.id == 99)
    assert legacy.updated_at is None and legacy.raw["updatedAt"] is None


def test_calcom_client_waits_out_calcom_429_and_continues(server: FaultServer) -> None:
    clock = FakeClock()
    account = CalcomAccount(KEY, bookings=distinct_bookings(5), throttle_first=1)
    client = client_for(server.add_calcom(account), clock, max_rate_limit_wait_s=60.0)
    assert len(ids(list(client.iter_bookings_updated(after=None, before=RUN_START)))) == 5
    assert clock.sleeps == [60.0]  # X-RateLimit-Reset-Default: 60 (the block), no Retry-After
    assert client.stats.rate_limit_waits == 1 and client.stats.rate_limit_wait_s == 60.0


def test_calcom_client_paces_to_requests_per_minute(server: FaultServer) -> None:
    clock = FakeClock()
    account = CalcomAccount(KEY, bookings=distinct_bookings(40))
    client = client_for(server.add_calcom(account), clock, requests_per_minute=30)
    list(client.iter_bookings_by_start(after_start=T0, before_end=FAR_END, take=10))
    assert client.stats.requests == 5  # burst of 3 (30 // 10), then one every 2 s
    assert clock.sleeps == pytest.approx([2.0, 2.0])


# -- parsing ---------------------------------------------------------------------------------------


def test_calcom_client_keeps_unknown_fields_and_enum_values(server: FaultServer) -> None:
    drifted = make_booking(
        7,
        updated_at=iso_ms(T0),
        status="awaiting_host",
        brandNewField={"nested": [1, 2]},
        rescheduledToUid="uid-8",
        cancellationReason="double booked",
    )
    account = CalcomAccount(KEY, bookings=[drifted])
    [page] = list(client_for(server.add_calcom(account)).iter_bookings_updated(after=None, before=RUN_START))
    [booking] = page.bookings
    assert booking.status == "awaiting_host"
    assert booking.raw["brandNewField"] == {"nested": [1, 2]}
    assert booking.rescheduled_to_uid == "uid-8" and booking.rescheduled_from_uid is None
    assert booking.cancellation_reason == "double booked"
    assert booking.updated_at == T0 and booking.start == datetime(2025, 3, 7, 10, tzinfo=UTC)
    assert booking.event_type_id == 50
    assert KEY not in repr(booking)


def test_booking_tolerates_missing_and_null_non_key_fields() -> None:
    booking = Booking.from_api({"id": 5, "uid": "u5", "status": None, "start": "not a date"}, source="test")
    assert (booking.status, booking.start, booking.end, booking.updated_at, booking.event_type_id) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert booking.raw["start"] == "not a date"
    with pytest.raises(TypeError):
        booking.raw["id"] = 6  # type: ignore[index]


@pytest.mark.parametrize(
    "broken", [{"uid": "u1"}, {"id": "1", "uid": "u1"}, {"id": 1}, {"id": True, "uid": "u"}, []]
)
def test_booking_without_a_usable_key_is_malformed(broken: object) -> None:
    with pytest.raises(MalformedResponse, match=r"^Cal\.com GET /v2/bookings: "):
        Booking.from_api(broken, source="Cal.com GET /v2/bookings")


def test_calcom_client_raises_malformed_on_a_booking_without_id(server: FaultServer) -> None:
    bad = make_booking(1, updated_at=iso_ms(T0))
    del bad["id"]
    client = client_for(server.add_calcom(CalcomAccount(KEY, bookings=[bad])))
    with pytest.raises(MalformedResponse, match="no integer `id`"):
        list(client.iter_bookings_updated(after=None, before=RUN_START))


# -- errors ----------------------------------------------------------------------------------------


def test_calcom_client_401_names_vendor_path_and_fix_but_not_the_key(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base_url = server.add_calcom(CalcomAccount("cal_live_the_right_key", bookings=distinct_bookings(1)))
    client = client_for(base_url)
    with pytest.raises(AuthenticationError) as caught:
        list(client.iter_bookings_updated(after=None, before=RUN_START))
    message = str(caught.value)
    assert message.startswith("Cal.com rejected the API key for this company (401 on GET /calcom/")
    assert "/v2/bookings" in message and "check `dataguard credentials set`" in message
    assert caught.value.exit_code == 2
    assert KEY not in message and KEY not in repr(client) and KEY not in caplog.text


def test_calcom_client_rejects_take_out_of_range() -> None:
    client = CalcomClient(api_key=KEY)
    _opened.append(client)
    with pytest.raises(ConfigError, match="take must be between 1 and 250"):
        next(client.iter_bookings_updated(after=None, before=RUN_START, take=251))


def test_calcom_client_repr_hides_the_key() -> None:
    client = CalcomClient(api_key=KEY)
    _opened.append(client)
    assert repr(client) == "CalcomClient(base_url='https://api.cal.com/v2')"
    assert KEY not in repr(client._http) and KEY not in str(client.stats)


# -- contract with the Cal.com emulator (sandbox/emulators) ----------------------------------------

EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[object, int, str, str]]:
    """The Cal.com emulator over synthetic data: (server, company id, API key, base URL)."""
    state = emulators.EmulatorState.synthetic([1], bookings_per_company=300, calls_per_company=0, seed=7)
    with emulators.EmulatorServer(emulators.CalcomApp(state, rate_limit=0)) as served:
        yield served, 1, state.api_keys(1)[0], served.base_url


def test_calcom_client_reads_every_emulated_booking_exactly_once(emulator: tuple) -> None:
    served, company_id, key, base_url = emulator
    client = CalcomClient(api_key=key, base_url=base_url, requests_per_minute=None)
    _opened.append(client)
    expected = {b["id"] for b in served.app.state.bookings(company_id)}
    null_updated = {b["id"] for b in served.app.state.bookings(company_id) if b["updatedAt"] is None}
    assert null_updated  # the emulator seeds legacy rows; only the sweep can see them
    updated = ids(list(client.iter_bookings_updated(after=None, before=EVERYTHING[1], take=40)))
    swept = ids(
        list(client.iter_bookings_by_start(after_start=EVERYTHING[0], before_end=EVERYTHING[1], take=40))
    )
    assert len(updated) == len(set(updated)) and len(swept) == len(set(swept))
    assert set(updated) == expected - null_updated
    assert set(swept) == expected
    assert {e.id for e in client.list_event_types()} == {
        e["id"] for e in served.app.state.event_types(company_id)
    }


def test_calcom_client_rides_out_every_emulated_fault(emulator: tuple) -> None:
    served, _, key, base_url = emulator
    clock = FakeClock()
    client = CalcomClient(
        api_key=key, base_url=base_url, requests_per_minute=None, max_tries=6, sleep=clock.sleep, clock=clock
    )
    _opened.append(client)
    served.faults.fail_next(1, 500)
    served.faults.fail_next(1, 503)
    served.faults.drop_next(1)
    served.faults.malformed_next(1)
    served.faults.rate_limit_next(1)
    assert client.list_event_types()
    assert client.stats.requests == 6 and client.stats.retries == 5 and client.stats.rate_limit_waits == 1


def test_calcom_client_stays_under_the_emulated_throttler(emulator: tuple) -> None:
    """Remaining hits 0 twice while paging; the client waits for the reset instead of earning a 429.

    The throttler's windows and the client's waits run on one fake clock, so only the client's own
    waits move time: a slow machine cannot stretch a burst across a window."""
    served, company_id, key, _ = emulator
    clock = FakeClock()
    app = emulators.CalcomApp(served.app.state, rate_limit=4, rate_window_s=0.5)
    app.limiter = FixedWindowLimiter(4, 0.5, clock=clock)
    with emulators.EmulatorServer(app) as throttled:
        client = CalcomClient(
            api_key=key, base_url=throttled.base_url, requests_per_minute=None, sleep=clock.sleep, clock=clock
        )
        _opened.append(client)
        pages = list(
            client.iter_bookings_by_start(after_start=EVERYTHING[0], before_end=EVERYTHING[1], take=30)
        )
    assert len(ids(pages)) == len(served.app.state.bookings(company_id))
    assert client.stats.rate_limit_waits >= 2 and client.stats.retries == 0
