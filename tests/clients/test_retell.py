"""RetellClient against a Retell look-alike on loopback: list-calls paging, get-call, parsing, errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from dataguard_pipelines.clients.models import Call, CallSummary
from dataguard_pipelines.clients.retell import BASE_URL, RetellClient
from dataguard_pipelines.core.errors import AuthenticationError, ConfigError, MalformedResponse
from dataguard_pipelines.sandbox import emulators
from tests.clients.fault_server import FakeClock, FaultServer, RetellAccount, make_call

KEY = "key_5e11ca11_SECRET_9b2c"
START_MS = 1_703_302_400_000


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer.running() as running:
        yield running


_opened: list[RetellClient] = []


@pytest.fixture(autouse=True)
def close_opened() -> Iterator[None]:
    """Close every client a test opened, so no socket outlives its test."""
    yield
    while _opened:
        _opened.pop().close()


def client_for(base_url: str, clock: FakeClock | None = None, **kwargs: object) -> RetellClient:
    clock = clock or FakeClock()
    options: dict = {"requests_per_minute": None, "sleep": clock.sleep, "clock": clock, **kwargs}
    client = RetellClient(api_key=KEY, base_url=base_url, **options)
    _opened.append(client)
    return client


def calls(count: int) -> list[dict]:
    """`count` calls, one started every second."""
    return [make_call(f"call_{i:04d}", start_timestamp=START_MS + i * 1000) for i in range(count)]


def test_retell_client_pages_with_pagination_key_and_returns_each_call_once(server: FaultServer) -> None:
    account = RetellAccount(KEY, calls=calls(25))
    client = client_for(server.add_retell(account))
    got = [c.call_id for c in client.iter_calls(start_after_ms=START_MS, limit=10)]
    assert got == [f"call_{i:04d}" for i in range(25)]  # ascending by start
    bodies = [r["body"] for r in account.requests]
    assert [("pagination_key" in b) for b in bodies] == [False, True, True]
    assert bodies[0] == {
        "sort_order": "ascending",
        "limit": 10,
        "filter_criteria": {"start_timestamp": {"type": "number", "op": "ge", "value": START_MS}},
    }
    assert "skip" not in bodies[1]  # never both skip and pagination_key
    assert client.stats.pages == 3 and client.stats.requests == 3


def test_retell_client_stops_when_has_more_is_missing(server: FaultServer) -> None:
    account = RetellAccount(KEY, calls=calls(12), omit_has_more_at_end=True)
    got = list(client_for(server.add_retell(account)).iter_calls(start_after_ms=None, limit=5))
    assert len(got) == 12 and len(account.requests) == 3
    assert "filter_criteria" not in account.requests[0]["body"]


def test_retell_client_refuses_a_pagination_key_that_repeats(server: FaultServer) -> None:
    account = RetellAccount(KEY, calls=calls(12), broken_pagination_key=True)
    client = client_for(server.add_retell(account))
    with pytest.raises(MalformedResponse, match="pagination_key"):
        list(client.iter_calls(start_after_ms=None, limit=5))
    assert len(account.requests) == 2  # the second answer hands back the same key: stop, do not loop


def test_retell_client_filters_by_range_and_status(server: FaultServer) -> None:
    rows = calls(10)
    rows[3]["call_status"] = "error"
    rows[4]["call_status"] = "not_connected"
    account = RetellAccount(KEY, calls=rows)
    client = client_for(server.add_retell(account))
    got = list(
        client.iter_calls(
            start_after_ms=START_MS + 2000,
            start_before_ms=START_MS + 6000,
            statuses=["error", "not_connected"],
        )
    )
    assert [c.call_id for c in got] == ["call_0003", "call_0004"]
    assert account.requests[0]["body"]["filter_criteria"] == {
        "start_timestamp": {"type": "range", "op": "bt", "value": [START_MS + 2000, START_MS + 6000]},
        "call_status": {"type": "enum", "op": "in", "value": ["error", "not_connected"]},
    }


def test_retell_client_lists_summaries_without_transcripts_and_keeps_unknowns(server: FaultServer) -> None:
    drifted = make_call(
        "call_new",
        start_timestamp=START_MS,
        call_status="paused_for_review",
        disconnection_reason="call_take_over",
        brand_new_field={"x": 1},
    )
    account = RetellAccount(KEY, calls=[drifted])
    [summary] = list(client_for(server.add_retell(account)).iter_calls(start_after_ms=None))
    assert isinstance(summary, CallSummary)
    assert summary.call_status == "paused_for_review" and summary.disconnection_reason == "call_take_over"
    assert summary.raw["brand_new_field"] == {"x": 1} and "transcript" not in summary.raw
    assert summary.start_timestamp_ms == START_MS and summary.call_analysis is not None
    assert summary.call_analysis["user_sentiment"] == "Positive"


def test_retell_client_gets_a_call_with_its_transcript(server: FaultServer) -> None:
    account = RetellAccount(
        KEY, calls=[make_call("call/with space", start_timestamp=None, call_status="registered")]
    )
    call = client_for(server.add_retell(account)).get_call("call/with space")
    assert isinstance(call, Call)
    assert call.call_id == "call/with space" and call.call_status == "registered"
    assert call.transcript is not None and call.transcript.startswith("Agent: hi")
    assert call.start_timestamp_ms is None and call.end_timestamp_ms == 1703302428855
    assert account.requests[0]["path"].endswith("/v2/get-call/call%2Fwith%20space")
    assert account.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_retell_client_returns_none_for_a_deleted_call(server: FaultServer) -> None:
    client = client_for(server.add_retell(RetellAccount(KEY, calls=calls(1))))
    assert client.get_call("call_gone") is None
    assert client.stats.requests == 1 and client.stats.retries == 0


def test_call_tolerates_missing_non_key_fields_and_rejects_a_missing_call_id() -> None:
    call = Call.from_api({"call_id": "c1", "start_timestamp": "soon", "call_analysis": None}, source="test")
    assert (call.call_status, call.start_timestamp_ms, call.transcript, call.call_analysis) == (None,) * 4
    with pytest.raises(MalformedResponse, match="no string `call_id`"):
        CallSummary.from_api({"call_status": "ended"}, source="Retell POST /v3/list-calls")


def test_retell_client_401_names_vendor_and_fix_but_not_the_key(
    server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(server.add_retell(RetellAccount("key_right_one", calls=calls(1))))
    with pytest.raises(AuthenticationError) as caught:
        list(client.iter_calls(start_after_ms=None))
    message = str(caught.value)
    assert message.startswith("Retell rejected the API key for this company (401 on POST /retell/")
    assert '"API key is missing or invalid."' in message
    assert message.endswith("check `dataguard credentials set`")
    assert KEY not in message and KEY not in repr(client) and KEY not in caplog.text


def test_retell_client_retries_409_and_5xx(server: FaultServer) -> None:
    clock = FakeClock()
    account = RetellAccount(KEY, calls=calls(3), fail_first=[409, 502, 500])
    client = client_for(server.add_retell(account), clock)
    assert len(list(client.iter_calls(start_after_ms=None))) == 3
    assert client.stats.retries == 3 and client.stats.requests == 4 and len(clock.sleeps) == 3


def test_retell_client_raises_malformed_on_a_bare_array(server: FaultServer) -> None:
    client = client_for(f"{server.url}/bare-array")
    with pytest.raises(MalformedResponse, match="no `items` list"):
        list(client.iter_calls(start_after_ms=None))


def test_retell_client_rejects_limit_out_of_range() -> None:
    client = client_for(BASE_URL)
    with pytest.raises(ConfigError, match="limit must be between 1 and 1000"):
        next(client.iter_calls(start_after_ms=None, limit=1001))


def test_retell_client_repr_hides_the_key() -> None:
    with RetellClient(api_key=KEY) as client:
        assert repr(client) == "RetellClient(base_url='https://api.retellai.com')"


# -- contract with the Retell emulator (sandbox/emulators) -----------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[object, int, str, str]]:
    """The Retell emulator over synthetic data: (server, company id, API key, base URL)."""
    state = emulators.EmulatorState.synthetic([1], bookings_per_company=0, calls_per_company=120, seed=7)
    with emulators.EmulatorServer(emulators.RetellApp(state)) as served:
        yield served, 1, state.api_keys(1)[1], served.base_url


def test_retell_client_reads_every_emulated_call_exactly_once(emulator: tuple) -> None:
    served, company_id, key, base_url = emulator
    client = RetellClient(api_key=key, base_url=base_url, requests_per_minute=None)
    _opened.append(client)
    expected = {c["call_id"] for c in served.app.state.calls(company_id)}
    listed = [c.call_id for c in client.iter_calls(start_after_ms=None, limit=25)]
    assert len(listed) == len(set(listed)) and set(listed) == expected
    assert client.stats.pages == 5
    started = [c for c in served.app.state.calls(company_id) if c.get("start_timestamp")]
    first_ms = min(c["start_timestamp"] for c in started)
    windowed = list(client.iter_calls(start_after_ms=first_ms + 1, limit=1000))
    assert len(windowed) == len(started) - 1
    ended = next(c for c in served.app.state.calls(company_id) if c["call_status"] == "ended")
    call = client.get_call(ended["call_id"])
    assert call is not None and call.transcript and call.raw == ended
    assert client.get_call("call_that_never_was") is None


def test_retell_client_rides_out_every_emulated_fault(emulator: tuple) -> None:
    served, _, key, base_url = emulator
    clock = FakeClock()
    client = RetellClient(
        api_key=key, base_url=base_url, requests_per_minute=None, max_tries=6, sleep=clock.sleep, clock=clock
    )
    _opened.append(client)
    served.faults.fail_next(1, 500)
    served.faults.fail_next(1, 502)
    served.faults.drop_next(1)
    served.faults.malformed_next(1)
    served.faults.rate_limit_next(1, retry_after_s=2.0)
    assert len(list(client.iter_calls(start_after_ms=None))) == 120
    assert client.stats.requests == 6 and client.stats.retries == 5
    assert client.stats.rate_limit_waits == 1 and client.stats.rate_limit_wait_s == 2.0
