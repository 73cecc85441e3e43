"""The shared transport over real loopback HTTP: what is retried, how long it waits, what it hides."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataguard_pipelines.clients.http import (
    HttpTransport,
    Pacer,
    RetryPolicy,
    Secret,
    exhausted_limit_reset_s,
    reset_s,
    retry_after_s,
)
from dataguard_pipelines.core.errors import (
    ApiError,
    ApiUnavailable,
    AuthenticationError,
    ConfigError,
    MalformedResponse,
    RateLimited,
)
from tests.clients.fault_server import DroppingServer, FakeClock, FaultServer, closed_port_url

KEY = "cal_test_fake_0123_SECRET"  # shaped like a key, never a real one


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer.running() as running:
        yield running


_opened: list[HttpTransport] = []


@pytest.fixture(autouse=True)
def close_opened() -> Iterator[None]:
    """Close every client a test opened, so no socket outlives its test."""
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_transport(
    base_url: str,
    clock: FakeClock,
    *,
    vendor: str = "Cal.com",
    requests_per_minute: float | None = None,
    burst: int | None = None,
    timeout_s: float = 5.0,
    **policy: object,
) -> HttpTransport:
    transport = HttpTransport(
        vendor=vendor,
        base_url=base_url,
        api_key=Secret(KEY),
        policy=RetryPolicy(**policy),  # type: ignore[arg-type]
        requests_per_minute=requests_per_minute,
        burst=burst,
        timeout_s=timeout_s,
        sleep=clock.sleep,
        clock=clock,
    )
    _opened.append(transport)
    return transport


# -- retry rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_transport_retries_transient_status_then_succeeds(
    server: FaultServer, clock: FakeClock, status: int
) -> None:
    http = make_transport(server.url, clock)
    assert http.request_json("GET", f"/flaky/{server.key()}/2/{status}") == {"ok": True, "hits": 3}
    assert (http.stats.requests, http.stats.retries) == (3, 2)


def test_transport_backs_off_with_full_jitter_exponential_bounds(
    server: FaultServer, clock: FakeClock
) -> None:
    http = make_transport(server.url, clock, backoff_base_s=0.5)
    http.request_json("GET", f"/flaky/{server.key()}/4/500")
    assert len(clock.sleeps) == 4
    for attempt, waited in enumerate(clock.sleeps, start=1):
        assert 0 <= waited <= 0.5 * 2 ** (attempt - 1)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410, 422])
def test_transport_does_not_retry_other_4xx(server: FaultServer, clock: FakeClock, status: int) -> None:
    http = make_transport(server.url, clock)
    with pytest.raises(ApiError) as caught:
        http.request_json("GET", f"/status/{status}")
    assert not isinstance(caught.value, ApiUnavailable | RateLimited)
    assert caught.value.status == status
    assert http.stats.requests == 1 and http.stats.retries == 0 and clock.sleeps == []


def test_transport_names_vendor_path_status_and_vendor_message_on_4xx(
    server: FaultServer, clock: FakeClock
) -> None:
    http = make_transport(server.url, clock)
    with pytest.raises(ApiError) as caught:
        http.request_json("GET", "/status/422", params={"afterUpdatedAt": "2025-01-01T00:00:00.000Z"})
    message = str(caught.value)
    assert message.startswith("Cal.com rejected GET /status/422 (422")
    assert '"status 422"' in message and "request id req-42" in message
    assert "afterUpdatedAt" not in message  # no query string in messages


def test_transport_retries_409_when_the_vendor_policy_says_so(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, vendor="Retell", retry_4xx=frozenset({408, 409, 429}))
    assert http.request_json("POST", f"/flaky/{server.key()}/1/409") == {"ok": True, "hits": 2}


def test_transport_gives_up_after_max_tries_on_5xx(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, max_tries=3)
    with pytest.raises(ApiUnavailable) as caught:
        http.request_json("GET", "/status/503")
    assert http.stats.requests == 3 and http.stats.retries == 2
    assert "Cal.com answered GET /status/503 with 503 3 times" in str(caught.value)
    assert caught.value.status == 503


def test_transport_honours_x_should_retry(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    with pytest.raises(ApiError):
        http.request_json("GET", f"/flaky/{server.key()}/1/503?should_retry=false")
    assert http.stats.requests == 1
    assert http.request_json("GET", f"/flaky/{server.key()}/1/400?should_retry=true")["ok"] is True


def test_transport_waits_retry_after_on_503(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    http.request_json("GET", f"/flaky/{server.key()}/1/503?retry_after=2")
    assert clock.sleeps == [2.0]


def test_transport_retries_read_timeout(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, timeout_s=0.3)
    assert http.request_json("GET", f"/slow/{server.key()}/1?seconds=1.5")["hits"] == 2
    assert http.stats.retries == 1


def test_transport_raises_unavailable_when_every_try_times_out(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, timeout_s=0.2, max_tries=2)
    with pytest.raises(ApiUnavailable, match="ReadTimeout") as caught:
        http.request_json("GET", f"/slow/{server.key()}/5?seconds=1.0")
    assert "after 2 tries" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_transport_retries_a_connection_closed_without_response(clock: FakeClock) -> None:
    with DroppingServer(drops=2).running() as dropping:
        http = make_transport(dropping.url, clock)
        assert http.request_json("GET", "/anything")["ok"] is True
        assert dropping.connections == 3 and http.stats.retries == 2


def test_transport_raises_unavailable_when_the_connection_always_drops(clock: FakeClock) -> None:
    with DroppingServer(drops=100).running() as dropping:
        http = make_transport(dropping.url, clock, max_tries=3)
        with pytest.raises(ApiUnavailable, match="RemoteProtocolError"):
            http.request_json("GET", "/anything")
        assert dropping.connections == 3


def test_transport_retries_a_body_cut_short(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    assert http.request_json("GET", f"/cut-body/{server.key()}/1")["hits"] == 2
    assert http.stats.retries == 1


def test_transport_raises_unavailable_when_connection_is_refused(clock: FakeClock) -> None:
    http = make_transport(closed_port_url(), clock, max_tries=2)
    with pytest.raises(ApiUnavailable, match="ConnectError"):
        http.request_json("GET", "/bookings")
    assert http.stats.requests == 2


def test_transport_retries_truncated_json_once(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    assert http.request_json("GET", f"/truncated/{server.key()}/1")["hits"] == 2


def test_transport_raises_malformed_when_json_stays_truncated(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, max_tries=5)
    with pytest.raises(MalformedResponse, match="not JSON") as caught:
        http.request_json("GET", f"/truncated/{server.key()}/5")
    assert http.stats.requests == 2  # retried once, not five times
    assert '"uid"' not in str(caught.value)  # the body is not quoted


def test_transport_ignores_non_json_error_bodies(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, max_tries=1)
    with pytest.raises(ApiUnavailable) as caught:
        http.request_json("GET", "/html-error")
    assert "<html>" not in str(caught.value) and "502" in str(caught.value)


# -- rate limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected_s", "tolerance_s"),
    [
        ("retry-after", 1.0, 0.0),
        ("retry-after-ms", 1.5, 0.0),
        ("http-date", 3.0, 1.1),  # HTTP dates have whole seconds
        ("calcom-reset", 7.0, 0.0),
        ("calcom-epoch", 5.0, 1.1),
        ("huge", 60.0, 0.0),  # capped
    ],
)
def test_transport_waits_as_429_headers_say(
    server: FaultServer, clock: FakeClock, mode: str, expected_s: float, tolerance_s: float
) -> None:
    http = make_transport(server.url, clock)
    assert http.request_json("GET", f"/rate-limited/{server.key()}/{mode}/1")["hits"] == 2
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] == pytest.approx(expected_s, abs=tolerance_s + 1e-6)
    assert http.stats.rate_limit_waits == 1 and http.stats.retries == 1
    assert http.stats.rate_limit_wait_s == pytest.approx(clock.sleeps[0])


def test_transport_waits_calcom_block_on_bare_429_capped_by_config(
    server: FaultServer, clock: FakeClock
) -> None:
    http = make_transport(server.url, clock, default_429_wait_s=60.0, max_rate_limit_wait_s=2.5)
    http.request_json("GET", f"/rate-limited/{server.key()}/bare/2")
    assert clock.sleeps == [2.5, 2.5]


def test_transport_backs_off_on_bare_429_without_a_vendor_default(
    server: FaultServer, clock: FakeClock
) -> None:
    http = make_transport(server.url, clock, vendor="Retell")
    http.request_json("POST", f"/rate-limited/{server.key()}/bare/1")
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.5


def test_transport_raises_rate_limited_after_max_tries(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, max_tries=3)
    with pytest.raises(RateLimited) as caught:
        http.request_json("GET", f"/rate-limited/{server.key()}/retry-after/10")
    assert http.stats.requests == 3 and clock.sleeps == [1.0, 1.0]
    assert "still rate-limited GET /rate-limited" in str(caught.value)
    assert "Too many requests" in str(caught.value)


def test_transport_waits_for_reset_before_a_request_once_remaining_is_zero(
    server: FaultServer, clock: FakeClock
) -> None:
    http = make_transport(server.url, clock)
    path = f"/remaining-zero/{server.key()}"
    http.request_json("GET", path)
    assert clock.sleeps == []  # nothing to wait for yet: the limit is not exceeded
    http.request_json("GET", path)
    assert clock.sleeps == [4.0]
    http.request_json("GET", path)
    assert clock.sleeps == [4.0]  # remaining is back above zero
    assert http.stats.rate_limit_waits == 1 and http.stats.requests == 3


def test_transport_paces_requests_with_the_injected_clock(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock, requests_per_minute=60, burst=2)
    for _ in range(5):
        http.request_json("GET", "/echo-headers")
    assert clock.sleeps == pytest.approx([1.0, 1.0, 1.0])  # two free, then one per second
    assert http.stats.pacing_wait_s == pytest.approx(3.0)
    assert http.stats.rate_limit_waits == 0


def test_transport_spaces_requests_on_the_wire(server: FaultServer) -> None:
    """600/min with burst 1 on the real clock: request i reaches the server no sooner than i * 0.1 s after
    the loop started. A lower bound the pacer guarantees (the loopback server runs in this process and
    stamps arrivals with the same monotonic clock), so scheduling delays can only add to it."""
    http = HttpTransport(
        vendor="Cal.com", base_url=server.url, api_key=Secret(KEY), requests_per_minute=600, burst=1
    )
    _opened.append(http)
    key = server.key()
    started = time.monotonic()
    for _ in range(4):
        http.request_json("GET", f"/arrivals/{key}")
    arrivals = server.state.arrivals[key]
    assert len(arrivals) == 4
    assert [arrived - started >= 0.1 * i - 1e-6 for i, arrived in enumerate(arrivals)] == [True] * 4


# -- headers and secrets ---------------------------------------------------------------------------


def test_transport_sends_bearer_and_per_request_headers(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    echoed = http.request_json("GET", "/echo-headers", headers={"cal-api-version": "2024-08-13"})["headers"]
    assert echoed["authorization"] == f"Bearer {KEY}"
    assert echoed["cal-api-version"] == "2024-08-13"
    assert echoed["accept"] == "application/json"


def test_transport_401_message_says_what_to_do_without_the_key(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    with pytest.raises(AuthenticationError) as caught:
        http.request_json("GET", "/leaky-401")
    message = str(caught.value)
    assert message.startswith("Cal.com rejected the API key for this company (401 on GET /leaky-401")
    assert message.endswith("check `dataguard credentials set`")
    assert KEY not in message and "<secret>" in message  # the vendor echoed it; we did not


def test_transport_quotes_only_a_short_vendor_message(server: FaultServer, clock: FakeClock) -> None:
    http = make_transport(server.url, clock)
    with pytest.raises(ApiError) as caught:
        http.request_json("GET", "/long-error")
    message = str(caught.value)
    assert "private@example.com" not in message
    assert len(message) < 400


def test_transport_keeps_the_key_out_of_repr_errors_and_debug_logs(
    server: FaultServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = make_transport(server.url, clock, max_tries=2)
    errors: list[BaseException] = []
    http.request_json("GET", f"/flaky/{server.key()}/1/500")
    http.request_json("GET", f"/rate-limited/{server.key()}/retry-after/1")
    for path in ("/leaky-401", "/status/503", "/status/400", f"/truncated/{server.key()}/9"):
        try:
            http.request_json("GET", path)
        except ApiError as exc:
            errors.append(exc)
            errors.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    try:
        make_transport(closed_port_url(), clock, max_tries=1).request_json("GET", "/x")
    except ApiError as exc:
        errors.extend([exc, exc.__cause__] if exc.__cause__ else [exc])
    assert len(errors) >= 5
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(http), repr(http.stats), str(http.stats.as_dict()), caplog.text]
    assert all(KEY not in text for text in texts)
    assert "GET /status/503" in caplog.text  # per-request detail is logged, just not the key


@pytest.mark.parametrize(
    ("key", "problem"), [("", "is empty"), ("cal_live_é", "cannot carry"), ("k\n", "cannot")]
)
def test_transport_refuses_a_key_no_header_can_carry(server: FaultServer, key: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        HttpTransport(vendor="Cal.com", base_url=server.url, api_key=Secret(key))
    assert key not in str(caught.value) or not key


# -- pure helpers ----------------------------------------------------------------------------------


def test_retry_after_parsing_prefers_milliseconds() -> None:
    assert retry_after_s(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"}), now=0) == 0.25
    assert (
        retry_after_s(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), now=1445412470) == 10
    )
    assert retry_after_s(httpx.Headers({"retry-after": "soon"}), now=0) is None
    assert (
        reset_s(httpx.Headers({"x-ratelimit-reset-short": "3", "x-ratelimit-reset-long": "40"}), now=0) == 40
    )
    headers = httpx.Headers({"X-RateLimit-Remaining-Long": "0", "X-RateLimit-Reset-Long": "2000000010"})
    assert exhausted_limit_reset_s(headers, now=2000000000) == 10
    assert exhausted_limit_reset_s(httpx.Headers({"X-RateLimit-Remaining-Default": "3"}), now=0) is None


@given(
    rpm=st.integers(1, 600),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200),
)
def test_pacer_never_exceeds_rate_plus_burst_in_any_minute(rpm: int, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    pacer = Pacer(requests_per_minute=rpm, burst=burst, clock=clock)
    sent: list[float] = []
    for gap in gaps:
        clock.now += gap
        wait = pacer.reserve()
        assert wait >= 0
        clock.now += wait
        sent.append(clock.now)
    for i, start in enumerate(sent):
        in_window = sum(1 for t in sent[i:] if t < start + 60.0 - 1e-9)
        assert in_window <= rpm + burst


def test_transport_waits_with_time_sleep_and_the_monotonic_clock_by_default(server: FaultServer) -> None:
    """Outside tests the transport really waits: its defaults are `time.sleep` and `time.monotonic`."""
    http = HttpTransport(vendor="Retell", base_url=server.url, api_key=Secret(KEY))
    _opened.append(http)
    assert http.sleep is time.sleep and http.clock is time.monotonic


def test_transport_asks_its_sleep_for_the_whole_retry_after_on_the_real_clock(server: FaultServer) -> None:
    """A 1 s Retry-After on the monotonic clock becomes one 1 s sleep (recorded, not timed)."""
    requested_s: list[float] = []
    http = HttpTransport(vendor="Retell", base_url=server.url, api_key=Secret(KEY), sleep=requested_s.append)
    _opened.append(http)
    http.request_json("GET", f"/rate-limited/{server.key()}/retry-after/1")
    assert len(requested_s) == 1 and 0.9 <= requested_s[0] <= 1.0
    assert http.stats.rate_limit_waits == 1 and http.stats.rate_limit_wait_s == requested_s[0]
