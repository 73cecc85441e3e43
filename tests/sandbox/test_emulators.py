"""The Cal.com and Retell emulators over real HTTP: shapes, pagination, filters, keys, limits and faults.

Servers run uvicorn on loopback; requests go through httpx, nothing is mocked. The database-backed state
comes from a demo database seeded on the machine's PostgreSQL (DATAGUARD_TEST_DSN, else
postgresql://postgres@127.0.0.1:5432/postgres) as dgtest_emu_*, dropped at the end of the module.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from dataguard_pipelines.sandbox.demo_data import DEMO_COMPANIES, seed
from dataguard_pipelines.sandbox.emulators import (
    CalcomApp,
    EmulatorServer,
    EmulatorState,
    RetellApp,
    demo_api_keys,
    running_emulators,
)
from dataguard_pipelines.sandbox.emulators.ratelimit import FixedWindowLimiter
from dataguard_pipelines.sandbox.emulators.shapes import iso_ms, parse_iso_ms, to_ms

EXAMPLES = Path("/work/shared/reference/apis/examples")
ANCHOR = date(2026, 11, 1)
COMPANY_IDS = [c.id for c in DEMO_COMPANIES]
BOOKINGS_VERSION = {"cal-api-version": "2024-08-13"}
EVENT_TYPES_VERSION = {"cal-api-version": "2024-06-14"}
TRANSCRIPT_KEYS = {"transcript", "transcript_object", "transcript_with_tool_calls"}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


class FakeClock:
    """Epoch ms the test moves by hand, so `upcoming`/`past` and mutation stamps are predictable."""

    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_dsn(pg15_server: str) -> Iterator[str]:
    """A demo database seeded at scale 0.02, dropped after the module."""
    name = f"dgtest_emu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg15_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = pg15_server.rsplit("/", 1)[0] + "/" + name
    try:
        seed(dsn, scale=0.02, anchor=ANCHOR)
        yield dsn
    finally:
        with psycopg.connect(pg15_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def db_state(demo_dsn: str) -> EmulatorState:
    """Read-only for tests: nothing may mutate it."""
    return EmulatorState.from_database(demo_dsn)


@pytest.fixture(scope="module")
def servers(db_state: EmulatorState) -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    with running_emulators(db_state, calcom_rate_limit=0) as pair:
        yield pair


@pytest.fixture
def calcom(servers: tuple[EmulatorServer, EmulatorServer]) -> Iterator[EmulatorServer]:
    server = servers[0]
    yield server
    server.faults.clear()
    server.faults.reset_counters()


@pytest.fixture
def retell(servers: tuple[EmulatorServer, EmulatorServer]) -> Iterator[EmulatorServer]:
    server = servers[1]
    yield server
    server.faults.clear()
    server.faults.reset_counters()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(parse_iso_ms("2026-01-15T12:00:00Z"))


@pytest.fixture
def fresh(clock: FakeClock) -> Iterator[tuple[EmulatorState, EmulatorServer, EmulatorServer]]:
    """A small generated state of its own, for tests that change data."""
    state = EmulatorState.synthetic(
        [1, 2], bookings_per_company=60, calls_per_company=25, seed=7, clock=clock
    )
    with running_emulators(state, calcom_rate_limit=0) as (cal, ret):
        yield state, cal, ret


def calcom_client(server: EmulatorServer, company_id: int, **headers: str) -> httpx.Client:
    key = demo_api_keys(company_id)[0]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}", **headers}, timeout=10
    )


def retell_client(server: EmulatorServer, company_id: int) -> httpx.Client:
    key = demo_api_keys(company_id)[1]
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def all_bookings(client: httpx.Client, take: int = 250, **params: Any) -> list[dict[str, Any]]:
    out, skip = [], 0
    while True:
        body = (
            client.get("/bookings", params={"take": take, "skip": skip, **params}).raise_for_status().json()
        )
        out += body["data"]
        if not body["pagination"]["hasNextPage"]:
            return out
        skip += take


def all_calls(client: httpx.Client, limit: int = 1000, **body: Any) -> list[dict[str, Any]]:
    out, key = [], None
    while True:
        request = {"limit": limit, **body, **({"pagination_key": key} if key else {})}
        page = client.post("/v3/list-calls", json=request).raise_for_status().json()
        out += page["items"]
        if not page["has_more"]:
            return out
        key = page["pagination_key"]


def busiest_company(state: EmulatorState) -> int:
    return max(state.company_ids, key=state.count_bookings)


# -- shapes ------------------------------------------------------------------------------------------------


def test_calcom_bookings_page_has_the_documented_keys(
    calcom: EmulatorServer, db_state: EmulatorState
) -> None:
    reference = example("calcom_get_bookings_2024-08-13_page1.json")
    company = 42  # has a reschedule pair
    with calcom_client(calcom, company, **BOOKINGS_VERSION) as client:
        body = client.get("/bookings", params={"take": 2}).json()
        bookings = all_bookings(client)
    assert body.keys() == reference.keys()
    assert list(body["pagination"]) == list(reference["pagination"])
    plain, cancelled = reference["data"]
    for booking in bookings:
        assert plain.keys() <= booking.keys(), plain.keys() - booking.keys()
        assert booking["hosts"][0].keys() == plain["hosts"][0].keys()
        assert plain["attendees"][0].keys() <= booking["attendees"][0].keys()
        assert booking["eventType"].keys() == plain["eventType"].keys()
        assert plain["bookingFieldsResponses"].keys() <= booking["bookingFieldsResponses"].keys()
    old = [b for b in bookings if "rescheduledToUid" in b]
    assert old and cancelled.keys() <= old[0].keys()


def test_calcom_event_types_have_the_documented_keys(calcom: EmulatorServer, db_state: EmulatorState) -> None:
    reference = example("calcom_get_event_types_2024-06-14.json")
    with calcom_client(calcom, 85, **EVENT_TYPES_VERSION) as client:
        body = client.get("/event-types").json()
    assert body.keys() == reference.keys()
    assert [e["id"] for e in body["data"]] == [e["id"] for e in db_state.event_types(85)]
    for event_type in body["data"]:
        assert event_type.keys() == reference["data"][0].keys()
        assert event_type["users"][0].keys() == reference["data"][0]["users"][0].keys()


def test_retell_list_items_have_the_documented_keys_but_no_transcript(
    retell: EmulatorServer, db_state: EmulatorState
) -> None:
    reference = example("retell_v3_list_calls_page.json")
    ended_ref, ongoing_ref = reference["items"]
    with retell_client(retell, 1) as client:  # company 1 has an ongoing call
        body = client.post("/v3/list-calls", json={"limit": 3}).json()
        items = all_calls(client)
    assert body.keys() == reference.keys()
    for item in items:
        assert not TRANSCRIPT_KEYS & item.keys()
        if item["call_status"] == "ended":
            assert ended_ref.keys() <= item.keys(), ended_ref.keys() - item.keys()
        else:
            assert ongoing_ref.keys() - {"access_token"} <= item.keys()
            assert "end_timestamp" not in item and "call_analysis" not in item
    assert {i["call_status"] for i in items} == {"ended", "ongoing"}


def test_retell_get_call_has_the_transcript_the_list_leaves_out(
    retell: EmulatorServer, db_state: EmulatorState
) -> None:
    call = next(c for c in db_state.calls(85) if c["call_status"] == "ended")
    with retell_client(retell, 85) as client:
        full = client.get(f"/v2/get-call/{call['call_id']}").json()
        listed = next(i for i in all_calls(client) if i["call_id"] == call["call_id"])
    assert full == call
    assert full["transcript"] and full["transcript_object"][0].keys() == {"role", "content", "words"}
    assert {k: v for k, v in full.items() if k not in TRANSCRIPT_KEYS} == listed


def test_calcom_error_bodies_follow_the_documented_envelope(calcom: EmulatorServer) -> None:
    reference = example("calcom_error_400_validation.json")
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        response = client.get("/bookings", params={"take": 500})
    body = response.json()
    assert response.status_code == 400
    assert body.keys() == reference.keys() and body["error"].keys() == reference["error"].keys()
    assert body["path"] == reference["path"] and body["error"]["code"] == "BadRequestException"
    error = body["error"]["details"]["errors"][0]
    assert reference["error"]["details"]["errors"][0].items() <= error.items()
    assert response.headers["x-request-id"]


# -- pagination --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skip", "take"), [(0, 10), (10, 10), (0, 250), (25, 7), ("last", 10), ("beyond", 10)]
)
def test_calcom_pagination_follows_the_documented_math(
    calcom: EmulatorServer, db_state: EmulatorState, skip: int | str, take: int
) -> None:
    total = db_state.count_bookings(85)
    skip = {"last": total - 1, "beyond": total + 5}.get(skip, skip)  # type: ignore[arg-type]
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        body = client.get("/bookings", params={"skip": skip, "take": take}).json()
    pages = math.ceil(total / take)
    assert body["pagination"] == {
        "returnedItems": min(max(total - skip, 0), take),
        "totalItems": total,
        "itemsPerPage": take,
        "remainingItems": min(max(total - (skip + take), 0), total),
        "currentPage": min(max(skip // take + 1, 1), pages),
        "totalPages": pages,
        "hasNextPage": skip + take < total,
        "hasPreviousPage": skip > 0,
    }
    assert len(body["data"]) == body["pagination"]["returnedItems"]


@pytest.mark.parametrize("take", ["0", "251", "-3", "abc"])
def test_calcom_rejects_take_outside_1_to_250(calcom: EmulatorServer, take: str) -> None:
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        response = client.get("/bookings", params={"take": take})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["property"] == "take"


def test_calcom_default_take_is_100_and_paging_covers_every_booking_once(
    calcom: EmulatorServer, db_state: EmulatorState
) -> None:
    company = busiest_company(db_state)
    with calcom_client(calcom, company, **BOOKINGS_VERSION) as client:
        assert client.get("/bookings").json()["pagination"]["itemsPerPage"] == 100
        seen = all_bookings(client, take=7, sortUpdatedAt="asc")
    ids = [b["id"] for b in seen]
    assert len(ids) == len(set(ids))
    assert set(ids) == {b["id"] for b in db_state.bookings(company)}


def test_calcom_null_total_quirk_and_legacy_key_switch(calcom: EmulatorServer) -> None:
    app: CalcomApp = calcom.app
    app.null_total_when_full, app.legacy_items_returned = True, True
    try:
        with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
            meta = client.get("/bookings", params={"take": 5}).json()["pagination"]
    finally:
        app.null_total_when_full, app.legacy_items_returned = False, False
    assert meta["totalItems"] is None and meta["hasNextPage"] is False  # why clients page until len < take
    assert "itemsReturned" in meta and "returnedItems" not in meta


# -- filters and sorts -------------------------------------------------------------------------------------


def test_calcom_updated_at_bounds_are_inclusive_and_never_match_null(
    calcom: EmulatorServer, db_state: EmulatorState
) -> None:
    company = busiest_company(db_state)
    bookings = db_state.bookings(company)
    stamped = sorted((b for b in bookings if b["updatedAt"]), key=lambda b: b["updatedAt"])
    nulls = [b for b in bookings if b["updatedAt"] is None]
    pivot = stamped[len(stamped) // 2]["updatedAt"]
    with calcom_client(calcom, company, **BOOKINGS_VERSION) as client:
        exact = all_bookings(client, afterUpdatedAt=pivot, beforeUpdatedAt=pivot)
        after = all_bookings(client, afterUpdatedAt=stamped[0]["updatedAt"])
        before = all_bookings(client, beforeUpdatedAt=pivot, sortUpdatedAt="desc")
    assert exact and all(b["updatedAt"] == pivot for b in exact)
    assert len(after) == len(bookings) - len(nulls)
    assert before[0]["updatedAt"] == pivot
    assert [b["updatedAt"] for b in before] == sorted((b["updatedAt"] for b in before), reverse=True)
    assert sum(1 for c in db_state.company_ids for b in db_state.bookings(c) if b["updatedAt"] is None) >= 1


def test_calcom_start_and_end_bounds_are_inclusive(calcom: EmulatorServer, db_state: EmulatorState) -> None:
    target = db_state.bookings(85)[3]
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        found = all_bookings(client, afterStart=target["start"], beforeEnd=target["end"])
    assert target["id"] in {b["id"] for b in found}
    assert all(b["start"] >= target["start"] and b["end"] <= target["end"] for b in found)


def test_calcom_sorts_break_ties_by_id_in_the_same_direction(
    fresh: tuple[EmulatorState, EmulatorServer, EmulatorServer],
) -> None:
    state, cal, _ret = fresh
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    tied = {state.add_booking(1, start=start)["id"] for _ in range(4)}
    with calcom_client(cal, 1, **BOOKINGS_VERSION) as client:
        asc = all_bookings(client, sortStart="asc")
        desc = all_bookings(client, sortStart="desc")
    assert [b["id"] for b in asc if b["id"] in tied] == sorted(tied)
    assert [b["id"] for b in desc if b["id"] in tied] == sorted(tied, reverse=True)
    assert [b["id"] for b in desc] == [b["id"] for b in reversed(asc)]


def test_calcom_status_filter_uses_the_documented_semantics(
    fresh: tuple[EmulatorState, EmulatorServer, EmulatorServer], clock: FakeClock
) -> None:
    _state, cal, _ret = fresh
    with calcom_client(cal, 1, **BOOKINGS_VERSION) as client:
        cancelled = all_bookings(client, status="cancelled")
        past = all_bookings(client, status="past")
        upcoming = all_bookings(client, status="upcoming")
        both = all_bookings(client, status="past,upcoming")
    assert cancelled and {b["status"] for b in cancelled} <= {"cancelled", "rejected"}
    assert [b["start"] for b in cancelled] == sorted((b["start"] for b in cancelled), reverse=True)
    now = iso_ms(clock.ms)
    assert past and all(b["end"] <= now and b["status"] not in ("cancelled", "rejected") for b in past)
    assert upcoming and all(b["end"] >= now for b in upcoming)
    assert {b["id"] for b in both} == {b["id"] for b in past} | {b["id"] for b in upcoming}


def test_calcom_missing_or_unknown_version_gets_the_legacy_shape(calcom: EmulatorServer) -> None:
    with calcom_client(calcom, 85) as client:
        legacy = client.get("/bookings", params={"filters[status]": "past", "limit": 3}).json()
        unknown = client.get("/bookings", headers={"cal-api-version": "2099-01-01"}).json()
        event_types = client.get("/event-types").json()
    assert legacy["data"].keys() == {"bookings", "recurringInfo", "nextCursor"}
    assert len(legacy["data"]["bookings"]) == 3 and legacy["data"]["nextCursor"] == 3
    assert {"startTime", "endTime", "user", "references", "payment"} <= legacy["data"]["bookings"][0].keys()
    assert legacy["data"]["bookings"][0]["status"] == "ACCEPTED"
    assert "bookings" in unknown["data"]
    assert event_types["data"]["eventTypeGroups"][0]["eventTypes"]


# -- keys --------------------------------------------------------------------------------------------------


def test_demo_keys_are_deterministic_and_escape_secret_scanners() -> None:
    import re

    keys = [k for cid in COMPANY_IDS for k in demo_api_keys(cid)]
    assert demo_api_keys(85) == demo_api_keys(85) and len(set(keys)) == len(keys)
    assert re.fullmatch(r"cal_demo_c85_[0-9a-z]{8}", demo_api_keys(85)[0])
    assert not any(re.search(r"cal_live_[A-Za-z0-9]{8,}|key_[a-f0-9]{24,}", k) for k in keys)


def test_each_key_sees_only_its_own_company(
    calcom: EmulatorServer, retell: EmulatorServer, db_state: EmulatorState
) -> None:
    seen_bookings: set[int] = set()
    seen_calls: set[str] = set()
    for company in COMPANY_IDS:
        with calcom_client(calcom, company, **BOOKINGS_VERSION) as client:
            ids = {b["id"] for b in all_bookings(client)}
        with retell_client(retell, company) as client:
            call_ids = {c["call_id"] for c in all_calls(client)}
        assert ids == {b["id"] for b in db_state.bookings(company)}
        assert call_ids == {c["call_id"] for c in db_state.calls(company)}
        assert not ids & seen_bookings and not call_ids & seen_calls
        seen_bookings |= ids
        seen_calls |= call_ids
    other_call = db_state.calls(1)[0]["call_id"]
    with retell_client(retell, 85) as client:
        assert client.get(f"/v2/get-call/{other_call}").status_code == 404


@pytest.mark.parametrize(
    "authorization", ["", "Bearer cal_demo_c85_00000000", "Bearer key_demo_c85_x", "Basic x"]
)
def test_calcom_rejects_a_wrong_key_with_401(calcom: EmulatorServer, authorization: str) -> None:
    headers = {**BOOKINGS_VERSION, **({"Authorization": authorization} if authorization else {})}
    response = httpx.get(f"{calcom.base_url}/bookings", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UnauthorizedException"


def test_retell_rejects_a_wrong_key_with_401(retell: EmulatorServer) -> None:
    for authorization in ("", f"Bearer {demo_api_keys(85)[0]}", "Bearer key_demo_c85_00000000"):
        response = httpx.post(
            f"{retell.base_url}/v3/list-calls", json={}, headers={"Authorization": authorization}
        )
        assert response.status_code == 401
        assert response.json() == {"status": "error", "message": "API key is missing or invalid."}


def test_request_log_proves_no_company_used_another_companys_key(
    calcom: EmulatorServer, db_state: EmulatorState
) -> None:
    done = {1: 3, 7: 2}
    for company, count in done.items():
        with calcom_client(calcom, company, **BOOKINGS_VERSION) as client:
            for _ in range(count):
                client.get("/bookings").raise_for_status()
    by_key = calcom.faults.requests_by_key()
    assert by_key == {demo_api_keys(c)[0]: n for c, n in done.items()}
    assert calcom.faults.authorizations() == [
        f"Bearer {demo_api_keys(c)[0]}" for c, n in done.items() for _ in range(n)
    ]
    assert calcom.faults.requests_by_path() == {"/v2/bookings": 5}


# -- rate limiting -----------------------------------------------------------------------------------------


def test_calcom_rate_limit_answers_429_after_the_limit(db_state: EmulatorState) -> None:
    reference = example("calcom_error_429.json")
    app = CalcomApp(db_state, rate_limit=3, rate_window_s=1.0)
    now = [100.0]  # the limiter's clock moves only when the test says so: no race with a real window
    app.limiter = FixedWindowLimiter(3, 1.0, clock=lambda: now[0])
    with EmulatorServer(app) as server, calcom_client(server, 85, **BOOKINGS_VERSION) as client:
        allowed = [client.get("/bookings", params={"take": 1}) for _ in range(3)]
        limited = client.get("/bookings", params={"take": 100, "skip": 0})
        with calcom_client(server, 1, **BOOKINGS_VERSION) as other:
            assert other.get("/bookings").status_code == 200  # the limit is per key
        now[0] += 1.1
        after_block = client.get("/bookings")
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining-default"] for r in allowed] == ["2", "1", "0"]
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-limit-default"] == "3"
    assert limited.headers["x-ratelimit-remaining-default"] == "0"
    assert int(limited.headers["x-ratelimit-reset-default"]) >= 1
    assert "retry-after" not in limited.headers
    body = limited.json()
    assert {k: v for k, v in body.items() if k != "timestamp"} == {
        k: v for k, v in reference.items() if k != "timestamp"
    }
    assert after_block.status_code == 200


def test_calcom_rate_limit_of_zero_disables_limiting(db_state: EmulatorState) -> None:
    with EmulatorServer(CalcomApp(db_state, rate_limit=0)) as server, calcom_client(server, 85) as client:
        responses = [client.get("/event-types", headers=EVENT_TYPES_VERSION) for _ in range(25)]
    assert {r.status_code for r in responses} == {200}
    assert "x-ratelimit-limit-default" not in responses[0].headers


# -- faults ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fail_next_answers_a_5xx_burst_then_recovers(calcom: EmulatorServer, status: int) -> None:
    calcom.faults.fail_next(2, status=status)
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        responses = [client.get("/bookings") for _ in range(3)]
    assert [r.status_code for r in responses] == [status, status, 200]
    if status == 500:
        assert responses[0].json()["error"]["code"] == "InternalServerErrorException"
    else:
        assert responses[0].headers["content-type"].startswith("text/html")


def test_slow_next_delays_the_answer_past_a_client_timeout(retell: EmulatorServer) -> None:
    retell.faults.slow_next(2, seconds=0.4)
    with retell_client(retell, 85) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v3/list-calls", json={"limit": 1}, timeout=0.1)
        started = time.monotonic()
        assert client.post("/v3/list-calls", json={"limit": 1}).status_code == 200
        assert time.monotonic() - started >= 0.4
        assert client.post("/v3/list-calls", json={"limit": 1}).status_code == 200


def test_drop_next_closes_the_connection_without_a_response(retell: EmulatorServer) -> None:
    retell.faults.drop_next(1)
    with retell_client(retell, 85) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v3/list-calls", json={"limit": 1})
        assert client.post("/v3/list-calls", json={"limit": 1}).status_code == 200


def test_malformed_next_sends_200_with_truncated_json(calcom: EmulatorServer) -> None:
    calcom.faults.malformed_next(1)
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        broken = client.get("/bookings", params={"take": 3})
        whole = client.get("/bookings", params={"take": 3})
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    assert whole.content.startswith(broken.content) and len(broken.content) < len(whole.content)


def test_rate_limit_next_sends_each_vendors_429(calcom: EmulatorServer, retell: EmulatorServer) -> None:
    calcom.faults.rate_limit_next(1)
    retell.faults.rate_limit_next(1, retry_after_s=1.5)
    retell.faults.rate_limit_next(1)
    with calcom_client(calcom, 85, **BOOKINGS_VERSION) as client:
        cal = client.get("/bookings")
    with retell_client(retell, 85) as client:
        with_hint = client.post("/v3/list-calls", json={})
        without_hint = client.post("/v3/list-calls", json={})
    assert cal.status_code == 429 and cal.json()["error"]["code"] == "ThrottlerException"
    assert cal.headers["x-ratelimit-remaining-default"] == "0"
    assert with_hint.status_code == 429 and with_hint.json() == example("retell_error_429.json")
    assert with_hint.headers["retry-after-ms"] == "1500" and with_hint.headers["retry-after"] == "2"
    assert without_hint.status_code == 429 and "retry-after" not in without_hint.headers


def test_a_fault_with_a_path_only_hits_that_path(retell: EmulatorServer, db_state: EmulatorState) -> None:
    retell.faults.fail_next(1, path="/v2/get-call")
    call_id = db_state.calls(85)[0]["call_id"]
    with retell_client(retell, 85) as client:
        assert client.post("/v3/list-calls", json={"limit": 1}).status_code == 200
        assert client.get(f"/v2/get-call/{call_id}").status_code == 500
        assert client.get(f"/v2/get-call/{call_id}").status_code == 200


# -- Retell listing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_retell_pagination_key_covers_every_call_exactly_once(
    retell: EmulatorServer, db_state: EmulatorState, order: str
) -> None:
    company = max(db_state.company_ids, key=lambda c: len(db_state.calls(c)))
    with retell_client(retell, company) as client:
        calls = all_calls(client, limit=7, sort_order=order)
        default = client.post("/v3/list-calls", json={}).json()["items"]
    ids = [c["call_id"] for c in calls]
    assert len(ids) == len(set(ids)) == len(db_state.calls(company))
    starts = [c["start_timestamp"] for c in calls]
    assert starts == sorted(starts, reverse=order == "descending")
    assert (
        len(default) == min(50, len(ids))
        and default[0]["call_id"] == calls[0 if order == "descending" else -1]["call_id"]
    )


def test_retell_cursor_is_stable_when_calls_arrive_between_pages(
    fresh: tuple[EmulatorState, EmulatorServer, EmulatorServer],
) -> None:
    state, _cal, ret = fresh
    before = {c["call_id"] for c in state.calls(1)}
    with retell_client(ret, 1) as client:
        first = client.post("/v3/list-calls", json={"limit": 10}).json()
        state.add_call(1, status="ongoing")  # newest call: sorts before the cursor in descending order
        rest = all_calls(client, limit=10, pagination_key=first["pagination_key"])
    ids = [c["call_id"] for c in first["items"] + rest]
    assert len(ids) == len(set(ids)) and set(ids) == before


def test_retell_filters_on_start_timestamp_and_status_are_inclusive(
    retell: EmulatorServer, db_state: EmulatorState
) -> None:
    calls = sorted(
        (c for c in db_state.calls(85) if "start_timestamp" in c), key=lambda c: c["start_timestamp"]
    )
    low, high = calls[2]["start_timestamp"], calls[-3]["start_timestamp"]
    expected = {c["call_id"] for c in calls if low <= c["start_timestamp"] <= high}
    with retell_client(retell, 85) as client:
        between = all_calls(
            client, filter_criteria={"start_timestamp": {"type": "range", "op": "bt", "value": [low, high]}}
        )
        from_low = all_calls(
            client, filter_criteria={"start_timestamp": {"type": "number", "op": "ge", "value": low}}
        )
        to_high = all_calls(
            client, filter_criteria={"start_timestamp": {"type": "number", "op": "le", "value": high}}
        )
        ended = client.post(
            "/v3/list-calls",
            json={
                "filter_criteria": {"call_status": {"type": "enum", "op": "in", "value": ["ended"]}},
                "include_total": True,
            },
        ).json()
    assert {c["call_id"] for c in between} == expected
    assert {c["call_id"] for c in from_low} & {c["call_id"] for c in to_high} == expected
    assert ended["total"] == sum(1 for c in db_state.calls(85) if c["call_status"] == "ended")


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 1001},
        {"limit": 0},
        {"skip": 0, "pagination_key": "eyJsYXN0IjoiY2FsbF94IiwidHMiOjB9"},
        {"pagination_key": "not a key"},
        {"sort_order": "sideways"},
        {"filter_criteria": {"start_timestamp": {"type": "number", "op": "bt", "value": 1}}},
    ],
)
def test_retell_rejects_invalid_list_requests_with_400(retell: EmulatorServer, body: dict[str, Any]) -> None:
    with retell_client(retell, 85) as client:
        response = client.post("/v3/list-calls", json=body)
    assert response.status_code == 400 and response.json()["status"] == "error"


def test_retell_legacy_list_returns_a_bare_array_with_transcripts(
    retell: EmulatorServer, db_state: EmulatorState
) -> None:
    with retell_client(retell, 85) as client:
        first = client.post("/v2/list-calls", json={"limit": 5}).json()
        second = client.post(
            "/v2/list-calls", json={"limit": 5, "pagination_key": first[-1]["call_id"]}
        ).json()
    assert isinstance(first, list) and len(first) == 5 and "transcript" in first[0]
    assert not {c["call_id"] for c in first} & {c["call_id"] for c in second}


# -- mutations ---------------------------------------------------------------------------------------------


def test_booking_mutations_move_updated_at_and_keep_the_reschedule_chain(
    fresh: tuple[EmulatorState, EmulatorServer, EmulatorServer],
) -> None:
    state, cal, _ret = fresh
    accepted = [b for b in state.bookings(1) if b["status"] == "accepted" and b["updatedAt"]]
    first, second, third, fourth = accepted[:4]
    cursor = max(b["updatedAt"] for b in state.bookings(1) if b["updatedAt"])
    state.cancel_booking(first["id"], reason="Krank", by_email="a@example.com")
    old, new = state.reschedule_booking(second["id"], start=datetime(2026, 2, 2, 10, tzinfo=UTC))
    state.update_booking(third["id"], bump_updated_at=False, description="attendee changed")
    state.hard_delete_booking(fourth["id"])
    with calcom_client(cal, 1, **BOOKINGS_VERSION) as client:
        changed = {b["id"]: b for b in all_bookings(client, afterUpdatedAt=cursor, sortUpdatedAt="asc")}
        everything = {b["id"]: b for b in all_bookings(client)}
    assert set(changed) >= {first["id"], old["id"], new["id"]} and third["id"] not in changed
    assert (
        changed[first["id"]]["status"] == "cancelled"
        and changed[first["id"]]["cancellationReason"] == "Krank"
    )
    assert changed[old["id"]]["status"] == "cancelled"
    assert changed[old["id"]]["rescheduledToUid"] == new["uid"] == changed[new["id"]]["uid"]
    assert changed[new["id"]]["rescheduledFromUid"] == old["uid"] and new["id"] != old["id"]
    assert everything[third["id"]]["description"] == "attendee changed"
    assert everything[third["id"]]["updatedAt"] == third["updatedAt"]
    assert fourth["id"] not in everything


def test_call_lifecycle_from_registered_to_analyzed(
    fresh: tuple[EmulatorState, EmulatorServer, EmulatorServer], clock: FakeClock
) -> None:
    state, _cal, ret = fresh
    registered = state.add_call(2, status="registered")
    ongoing = state.add_call(2, status="ongoing")
    assert "start_timestamp" not in registered and "end_timestamp" not in ongoing
    clock.ms += 90_000
    with retell_client(ret, 2) as client:
        get = lambda: client.get(f"/v2/get-call/{ongoing['call_id']}").json()  # noqa: E731
        assert get()["call_status"] == "ongoing"
        state.end_call(ongoing["call_id"])
        ended = get()
        state.analyze_call(ongoing["call_id"])
        analyzed = get()
        state.hard_delete_call(ongoing["call_id"])
        gone = client.get(f"/v2/get-call/{ongoing['call_id']}")
    assert ended["call_status"] == "ended" and ended["duration_ms"] == 90_000 and "call_analysis" not in ended
    assert (
        analyzed["call_analysis"].keys()
        == example("retell_webhook_call_analyzed.json")["call"]["call_analysis"].keys()
    )
    assert gone.status_code == 404


# -- construction ------------------------------------------------------------------------------------------


def test_from_database_keeps_the_seeded_ids_and_facts(demo_dsn: str, db_state: EmulatorState) -> None:
    with psycopg.connect(demo_dsn) as conn:
        appointments = conn.execute(
            "SELECT company_id, calcom_booking_id, calcom_booking_uid, status, starts_at, ends_at,"
            " rescheduled_from_uid FROM appointments"
        ).fetchall()
        calls = conn.execute(
            "SELECT company_id, retell_call_id, call_status, started_at FROM calls"
        ).fetchall()
        event_types = conn.execute("SELECT company_id, id FROM calcom_event_types").fetchall()
    bookings = {b["id"]: (c, b) for c in db_state.company_ids for b in db_state.bookings(c)}
    assert len(bookings) == len(appointments)
    for company, booking_id, uid, status, starts, ends, from_uid in appointments:
        owner, booking = bookings[booking_id]
        assert (owner, booking["uid"], booking["status"]) == (company, uid, status)
        assert (parse_iso_ms(booking["start"]), parse_iso_ms(booking["end"])) == (to_ms(starts), to_ms(ends))
        assert booking.get("rescheduledFromUid") == from_uid
    emulated_calls = {c["call_id"]: (cid, c) for cid in db_state.company_ids for c in db_state.calls(cid)}
    assert {call_id: (company, status) for company, call_id, status, _ in calls} == {
        k: (cid, c["call_status"]) for k, (cid, c) in emulated_calls.items()
    }
    assert {(company, et_id) for company, et_id in event_types} == {
        (c, e["id"]) for c in db_state.company_ids for e in db_state.event_types(c)
    }
    nulls = sum(1 for _, b in bookings.values() if b["updatedAt"] is None)
    assert 1 <= nulls <= max(1, len(bookings) // 50)


def test_synthetic_builds_100k_bookings_deterministically() -> None:
    started = time.perf_counter()
    big = EmulatorState.synthetic([85], bookings_per_company=100_000, calls_per_company=100, seed=3)
    elapsed = time.perf_counter() - started
    print(f"\nsynthetic: 100,000 bookings + 100 calls in {elapsed:.2f} s")
    assert big.count_bookings(85) == 100_000
    again = EmulatorState.synthetic([1, 2], bookings_per_company=50, calls_per_company=5, seed=3)
    same = EmulatorState.synthetic([1, 2], bookings_per_company=50, calls_per_company=5, seed=3)
    other = EmulatorState.synthetic([1, 2], bookings_per_company=50, calls_per_company=5, seed=4)
    assert again.bookings(2) == same.bookings(2) and again.calls(2) == same.calls(2)
    assert again.bookings(2) != other.bookings(2)


# -- server lifecycle --------------------------------------------------------------------------------------


def test_server_stop_is_idempotent_and_releases_its_port(db_state: EmulatorState) -> None:
    server = EmulatorServer(RetellApp(db_state)).start()
    port = server.port
    assert httpx.post(f"{server.base_url}/v3/list-calls", json={}).status_code == 401
    server.stop()
    server.stop()
    assert not [t for t in threading.enumerate() if t.name == f"emulator-{port}"]
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Modules of `package` that `path` imports when it runs (function-local imports included, imports
    under `if TYPE_CHECKING:` left out: they never execute)."""
    import ast

    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.rsplit(".", 1)[-1] for n in names if n.startswith(f"{package}.")}
    return found


def test_emulator_modules_import_each_other_without_a_cycle():
    import graphlib

    import dataguard_pipelines.sandbox.emulators as emulators

    folder = Path(emulators.__file__).parent
    graph = {
        p.stem: _runtime_imports(p, emulators.__name__) for p in folder.glob("*.py") if p.stem != "__init__"
    }
    assert graph["loaders"] >= {"records"} and "state" not in graph["loaders"]
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on any cycle
