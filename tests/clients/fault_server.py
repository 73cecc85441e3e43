"""A loopback HTTP server with one route per fault, plus small Cal.com and Retell look-alikes.

The client tests go over real HTTP (uvicorn in a thread, like httpx's own test server) so that
timeouts, dropped connections and headers behave as they do in production. Routes that must fail a
given number of times take a `key` in the path, so tests share one server without sharing counters.
`DroppingServer` is a raw TCP server for the one fault ASGI cannot produce: closing the connection
without any response.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import email.utils
import json
import socket
import socketserver
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# -- fake clock ------------------------------------------------------------------------------------


@dataclass
class FakeClock:
    """A monotonic clock whose `sleep` only records the wait and moves time on."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- vendor look-alikes ----------------------------------------------------------------------------

BOOKING_TEMPLATE: dict[str, Any] = {
    "id": 123,
    "uid": "2NtaeaVcKfpmSZ4CthFdfk",
    "title": "30 Min Meeting between Jane Doe and John Doe",
    "description": "",
    "hosts": [{"id": 1, "name": "Jane Doe", "email": "jane@example.com", "username": "jane"}],
    "status": "accepted",
    "cancellationReason": "",
    "cancelledByEmail": "",
    "start": "2025-03-07T10:00:00.000Z",
    "end": "2025-03-07T10:30:00.000Z",
    "duration": 30,
    "eventTypeId": 50,
    "eventType": {"id": 50, "slug": "30min"},
    "location": "https://app.cal.com/video/2NtaeaVcKfpmSZ4CthFdfk",
    "absentHost": False,
    "createdAt": "2025-03-01T09:12:44.512Z",
    "updatedAt": "2025-03-01T09:12:44.512Z",
    "metadata": {},
    "rating": None,
    "icsUid": "2NtaeaVcKfpmSZ4CthFdfk@Cal.com",
    "attendees": [{"name": "John Doe", "email": "john@example.com", "timeZone": "Europe/Rome"}],
    "guests": [],
    "bookingFieldsResponses": {"name": "John Doe", "email": "john@example.com"},
}

EVENT_TYPE_TEMPLATE: dict[str, Any] = {
    "id": 50,
    "lengthInMinutes": 30,
    "title": "30 Min Meeting",
    "slug": "30min",
    "locations": [{"type": "integration", "integration": "cal-video"}],
    "hidden": False,
    "ownerId": 1,
    "users": [{"id": 1, "name": "Jane Doe", "username": "jane"}],
}

CALL_TEMPLATE: dict[str, Any] = {
    "call_type": "phone_call",
    "from_number": "+12137771234",
    "to_number": "+12137771235",
    "direction": "inbound",
    "call_id": "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6",
    "agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
    "agent_version": 1,
    "call_status": "ended",
    "metadata": {"customer_id": "cust_123"},
    "start_timestamp": 1703302407333,
    "end_timestamp": 1703302428855,
    "duration_ms": 21522,
    "transcript": "Agent: hi how are you doing?\nUser: Doing pretty well.\n",
    "transcript_object": [{"role": "agent", "content": "hi how are you doing?", "words": []}],
    "disconnection_reason": "user_hangup",
    "call_analysis": {
        "call_summary": "Short check-in.",
        "user_sentiment": "Positive",
        "call_successful": True,
    },
}
_TRANSCRIPT_FIELDS = (
    "transcript",
    "transcript_object",
    "transcript_with_tool_calls",
    "scrubbed_transcript_with_tool_calls",
)


def iso_ms(moment: datetime) -> str:
    """The way Cal.com serialises a date: `2025-03-07T10:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_booking(booking_id: int, *, updated_at: str | None, start: str | None = None, **extra: Any) -> dict:
    """A booking shaped like the 2024-08-13 example payload, with its own id, uid and timestamps."""
    booking = copy.deepcopy(BOOKING_TEMPLATE)
    booking.update(id=booking_id, uid=f"uid-{booking_id}", updatedAt=updated_at)
    if start is not None:
        booking.update(start=start, end=start)
    booking.update(extra)
    return booking


def make_call(call_id: str, *, start_timestamp: int | None, **extra: Any) -> dict:
    """A call shaped like the get-call example, with its own id and start."""
    call = copy.deepcopy(CALL_TEMPLATE)
    call.update(call_id=call_id, start_timestamp=start_timestamp)
    call.update(extra)
    return call


@dataclass
class CalcomAccount:
    """The bookings and event types behind one API key, and what the client sent.

    `has_next` overrides `pagination.hasNextPage` ("honest", "never" as with a null totalItems, or
    "always"); `before_request(account, n)` runs before the n-th bookings request is answered, so a
    test can update rows mid-sync; `throttle_first` answers that many requests with Cal.com's 429.
    """

    api_key: str
    bookings: list[dict] = field(default_factory=list)
    event_types: list[dict] = field(default_factory=list)
    has_next: str = "honest"
    before_request: Callable[[CalcomAccount, int], None] | None = None
    throttle_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def booking(self, booking_id: int) -> dict:
        return next(b for b in self.bookings if b["id"] == booking_id)


@dataclass
class RetellAccount:
    """The calls behind one Retell API key, and the request bodies the client sent."""

    api_key: str
    calls: list[dict] = field(default_factory=list)
    omit_has_more_at_end: bool = False
    broken_pagination_key: bool = False
    fail_first: list[int] = field(default_factory=list)  # statuses for the first list-calls requests
    requests: list[dict[str, Any]] = field(default_factory=list)


def _calcom_error(status: int, code: str, message: str, path: str) -> JSONResponse:
    body = {
        "status": "error",
        "timestamp": iso_ms(datetime.now(UTC)),
        "path": path,
        "error": {"code": code, "message": message, "details": message},
    }
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": uuid.uuid4().hex[:12]})


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _id(row: dict) -> int:
    return row["id"] if isinstance(row.get("id"), int) else -1


def _filter_bookings(rows: list[dict], query: dict[str, str]) -> list[dict]:
    """Cal.com's inclusive date filters and its single-key sorts with an `id` tiebreak (apis.md §1.2)."""
    after_updated, before_updated = _parse(query.get("afterUpdatedAt")), _parse(query.get("beforeUpdatedAt"))
    after_start, before_end = _parse(query.get("afterStart")), _parse(query.get("beforeEnd"))
    selected = []
    for row in rows:
        updated = _parse(row.get("updatedAt"))
        if (after_updated or before_updated) and updated is None:
            continue  # SQL: NULL >= x is not true
        if after_updated and updated < after_updated:
            continue
        if before_updated and updated > before_updated:
            continue
        if after_start and _parse(row["start"]) < after_start:
            continue
        if before_end and _parse(row["end"]) > before_end:
            continue
        selected.append(row)
    if query.get("sortUpdatedAt") == "asc":
        never = datetime.max.replace(tzinfo=UTC)  # PostgreSQL sorts NULLs last in ascending order
        selected.sort(key=lambda r: (_parse(r.get("updatedAt")) or never, _id(r)))
    else:
        selected.sort(key=lambda r: (_parse(r["start"]), _id(r)))
    return selected


async def calcom_bookings(request: Request) -> Response:
    state: FaultState = request.app.state.faults
    account = state.calcom[request.path_params["account"]]
    query = dict(request.query_params)
    account.requests.append({"path": request.url.path, "params": query, "headers": dict(request.headers)})
    if request.headers.get("authorization") != f"Bearer {account.api_key}":
        return _calcom_error(401, "UnauthorizedException", "Invalid API Key", request.url.path)
    if len(account.requests) <= account.throttle_first:
        response = _calcom_error(429, "ThrottlerException", "Too many requests. Please try again later.", "/")
        response.headers.update(
            {
                "X-RateLimit-Limit-Default": "120",
                "X-RateLimit-Remaining-Default": "0",
                "X-RateLimit-Reset-Default": "60",
            }
        )
        return response
    if account.before_request is not None:
        account.before_request(account, len(account.requests))
    take, skip = int(query.get("take", 100)), int(query.get("skip", 0))
    if not 1 <= take <= 250:
        return _calcom_error(
            400, "BadRequestException", "take must not be greater than 250", request.url.path
        )
    rows = _filter_bookings(account.bookings, query)
    page = copy.deepcopy(rows[skip : skip + take])
    if request.headers.get("cal-api-version") != "2024-08-13":
        legacy = {"bookings": page, "recurringInfo": [], "nextCursor": None}
        return JSONResponse({"status": "success", "data": legacy})
    total = len(rows)
    has_next = {"honest": skip + take < total, "never": False, "always": True}[account.has_next]
    pagination = {
        "returnedItems": len(page),
        "totalItems": None if account.has_next == "never" else total,
        "itemsPerPage": take,
        "hasNextPage": has_next,
        "hasPreviousPage": skip > 0,
    }
    headers = {"X-RateLimit-Limit-Default": "120", "X-RateLimit-Remaining-Default": "119"}
    return JSONResponse({"status": "success", "data": page, "pagination": pagination}, headers=headers)


async def calcom_event_types(request: Request) -> Response:
    state: FaultState = request.app.state.faults
    account = state.calcom[request.path_params["account"]]
    account.requests.append({"path": request.url.path, "params": {}, "headers": dict(request.headers)})
    if request.headers.get("authorization") != f"Bearer {account.api_key}":
        return _calcom_error(401, "UnauthorizedException", "Invalid API Key", request.url.path)
    if request.headers.get("cal-api-version") != "2024-06-14":
        return JSONResponse(
            {"status": "success", "data": {"eventTypeGroups": [{"eventTypes": account.event_types}]}}
        )
    return JSONResponse({"status": "success", "data": account.event_types})


def _retell_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message}, status_code=status)


def _matches(value: Any, condition: dict[str, Any]) -> bool:
    kind, op, expected = condition["type"], condition["op"], condition["value"]
    if kind == "enum":
        return value in expected
    if value is None:
        return False
    if kind == "range":
        return expected[0] <= value <= expected[1]
    checks = {"eq": value == expected, "ne": value != expected, "gt": value > expected}
    checks.update({"ge": value >= expected, "lt": value < expected, "le": value <= expected})
    return checks[op]


async def retell_list_calls(request: Request) -> Response:
    state: FaultState = request.app.state.faults
    account = state.retell[request.path_params["account"]]
    body = await request.json()
    account.requests.append({"body": body, "headers": dict(request.headers)})
    if request.headers.get("authorization") != f"Bearer {account.api_key}":
        return _retell_error(401, "API key is missing or invalid.")
    if len(account.requests) <= len(account.fail_first):
        return _retell_error(
            account.fail_first[len(account.requests) - 1], "An unexpected server error occurred."
        )
    if "skip" in body and "pagination_key" in body:
        return _retell_error(400, "Invalid request format, please check API reference.")
    criteria = body.get("filter_criteria", {})
    calls = [c for c in account.calls if all(_matches(c.get(k), v) for k, v in criteria.items())]
    latest_first = body.get("sort_order", "descending") == "descending"
    calls.sort(key=lambda c: (c.get("start_timestamp") or 0, c["call_id"]), reverse=latest_first)
    limit = body.get("limit", 50)
    offset = (
        json.loads(base64.urlsafe_b64decode(body["pagination_key"]))["o"] if "pagination_key" in body else 0
    )
    items = [
        {k: v for k, v in c.items() if k not in _TRANSCRIPT_FIELDS} for c in calls[offset : offset + limit]
    ]
    answer: dict[str, Any] = {"items": items}
    if offset + limit < len(calls):
        key = {"o": 0 if account.broken_pagination_key else offset + limit}
        answer.update(
            has_more=True, pagination_key=base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
        )
    elif not account.omit_has_more_at_end:
        answer["has_more"] = False
    return JSONResponse(answer)


async def retell_get_call(request: Request) -> Response:
    state: FaultState = request.app.state.faults
    account = state.retell[request.path_params["account"]]
    raw_path = request.scope["raw_path"].decode()
    account.requests.append({"path": raw_path, "headers": dict(request.headers)})
    if request.headers.get("authorization") != f"Bearer {account.api_key}":
        return _retell_error(401, "API key is missing or invalid.")
    call_id = request.path_params["call_id"]
    for call in account.calls:
        if call["call_id"] == call_id:
            return JSONResponse(call)
    return _retell_error(404, "Call not found")


# -- fault routes ----------------------------------------------------------------------------------


@dataclass
class FaultState:
    """Counters per test key and the registered vendor accounts."""

    hits: Counter[str] = field(default_factory=Counter)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    calcom: dict[str, CalcomAccount] = field(default_factory=dict)
    retell: dict[str, RetellAccount] = field(default_factory=dict)

    def hit(self, request: Request) -> int:
        """Count one request for the route's key; returns how many it has seen, this one included."""
        key = request.url.path
        self.hits[key] += 1
        return self.hits[key]


def _error_body(code: int, message: str) -> dict[str, Any]:
    """An envelope both vendors' parsers understand (Cal.com `error.message`, Retell `message`)."""
    return {"status": "error", "message": message, "error": {"code": f"Status{code}", "message": message}}


async def status(request: Request) -> Response:
    code = request.path_params["code"]
    return JSONResponse(
        _error_body(code, f"status {code}"), status_code=code, headers={"X-Request-Id": "req-42"}
    )


async def flaky(request: Request) -> Response:
    """Fails `failures` times with `code` (optional Retry-After / x-should-retry), then answers 200."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    if n <= request.path_params["failures"]:
        headers = {}
        if "retry_after" in request.query_params:
            headers["Retry-After"] = request.query_params["retry_after"]
        if "should_retry" in request.query_params:
            headers["x-should-retry"] = request.query_params["should_retry"]
        code = request.path_params["code"]
        return JSONResponse(_error_body(code, f"failure {n}"), status_code=code, headers=headers)
    return JSONResponse({"ok": True, "hits": n})


def _rate_limit_headers(mode: str) -> dict[str, str]:
    now = time.time()
    return {
        "retry-after": {"Retry-After": "1"},
        "retry-after-ms": {"retry-after-ms": "1500"},
        "http-date": {"Retry-After": email.utils.formatdate(now + 3, usegmt=True)},
        "calcom-reset": {
            "X-RateLimit-Limit-Default": "120",
            "X-RateLimit-Remaining-Default": "0",
            "X-RateLimit-Reset-Default": "7",
        },
        "calcom-epoch": {
            "X-RateLimit-Remaining-Default": "0",
            "X-RateLimit-Reset-Default": str(int(now) + 5),
        },
        "huge": {"Retry-After": "3600"},
        "bare": {},
    }[mode]


async def rate_limited(request: Request) -> Response:
    """Answers 429 the first `times` times, with the headers `mode` names, then 200."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    if n <= request.path_params["times"]:
        body = _error_body(429, "Too many requests. Please try again later.")
        return JSONResponse(body, status_code=429, headers=_rate_limit_headers(request.path_params["mode"]))
    return JSONResponse({"ok": True, "hits": n})


async def remaining_zero(request: Request) -> Response:
    """The first answer exhausts Cal.com's window (Remaining 0, Reset 4 s); later ones do not."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    remaining = "0" if n == 1 else "100"
    headers = {"X-RateLimit-Remaining-Default": remaining, "X-RateLimit-Reset-Default": "4"}
    return JSONResponse({"ok": True, "hits": n}, headers=headers)


async def arrivals(request: Request) -> Response:
    """Records when each request arrived (server side, monotonic) to check client-side pacing."""
    state: FaultState = request.app.state.faults
    state.arrivals.setdefault(request.path_params["key"], []).append(time.monotonic())
    return JSONResponse({"ok": True})


async def slow(request: Request) -> Response:
    """Sleeps `seconds` on the first `times` requests, then answers at once."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    if n <= request.path_params["times"]:
        await asyncio.sleep(float(request.query_params.get("seconds", "1.0")))
    return JSONResponse({"ok": True, "hits": n})


async def truncated(request: Request) -> Response:
    """A 200 whose JSON stops half-way (with a correct Content-Length) the first `times` times."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    if n <= request.path_params["times"]:
        return Response(b'{"data": [{"id": 1, "uid": "a"}, {"id": 2, "u', media_type="application/json")
    return JSONResponse({"ok": True, "hits": n})


async def cut_body(request: Request) -> Response:
    """Announces 1000 bytes, sends 12 and ends the stream: the client sees the connection drop."""
    state: FaultState = request.app.state.faults
    n = state.hit(request)
    if n <= request.path_params["times"]:
        return _CutBody()
    return JSONResponse({"ok": True, "hits": n})


class _CutBody(Response):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data": [1,', "more_body": True})
        raise ConnectionAbortedError("fault injected: body cut short")


async def echo_headers(request: Request) -> Response:
    return JSONResponse({"headers": dict(request.headers)})


async def leaky_401(request: Request) -> Response:
    """A vendor that echoes the credentials it rejected: the client must not repeat them."""
    auth = request.headers.get("authorization", "")
    message = f"Invalid API key {auth.removeprefix('Bearer ')} for this account"
    return JSONResponse(_error_body(401, message), status_code=401)


async def long_error(request: Request) -> Response:
    """A 400 with a very long vendor message and a body field that must never reach a message."""
    body = _error_body(400, "bad request " + "x" * 1000)
    body["details"] = {"customer_email": "private@example.com"}
    return JSONResponse(body, status_code=400)


async def bare_array(request: Request) -> Response:
    """What the legacy `/v2/list-calls` answers: a bare array instead of `{items, has_more}`."""
    return JSONResponse([{"call_id": "call_legacy"}])


async def html_error(request: Request) -> Response:
    return Response(
        "<html><body>Bad gateway at the proxy</body></html>", status_code=502, media_type="text/html"
    )


def build_app(state: FaultState) -> Starlette:
    both = ["GET", "POST"]
    app = Starlette(
        routes=[
            Route("/status/{code:int}", status, methods=both),
            Route("/flaky/{key}/{failures:int}/{code:int}", flaky, methods=both),
            Route("/rate-limited/{key}/{mode}/{times:int}", rate_limited, methods=both),
            Route("/remaining-zero/{key}", remaining_zero, methods=both),
            Route("/arrivals/{key}", arrivals, methods=both),
            Route("/slow/{key}/{times:int}", slow, methods=both),
            Route("/truncated/{key}/{times:int}", truncated, methods=both),
            Route("/cut-body/{key}/{times:int}", cut_body, methods=both),
            Route("/echo-headers", echo_headers, methods=both),
            Route("/leaky-401", leaky_401, methods=both),
            Route("/long-error", long_error, methods=both),
            Route("/html-error", html_error, methods=both),
            Route("/bare-array/{rest:path}", bare_array, methods=both),
            Route("/calcom/{account}/v2/bookings", calcom_bookings),
            Route("/calcom/{account}/v2/event-types", calcom_event_types),
            Route("/retell/{account}/v3/list-calls", retell_list_calls, methods=["POST"]),
            Route("/retell/{account}/v2/get-call/{call_id:path}", retell_get_call),
        ]
    )
    app.state.faults = state
    return app


# -- servers ---------------------------------------------------------------------------------------


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port in a daemon thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # "critical": the cut-body route aborts on purpose, and uvicorn would log that as an error
    config = uvicorn.Config(
        app, log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fault server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class FaultServer:
    """The running fault app: its URL, fresh keys for counters, and vendor accounts to register."""

    def __init__(self, url: str, state: FaultState) -> None:
        self.url = url
        self.state = state

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[FaultServer]:
        state = FaultState()
        with serve(build_app(state)) as url:
            yield cls(url, state)

    @staticmethod
    def key() -> str:
        """A fresh path segment, so a route's failure counter starts at zero for this test."""
        return uuid.uuid4().hex

    def add_calcom(self, account: CalcomAccount) -> str:
        """Register an account; returns the base URL a `CalcomClient` should use (ends in /v2)."""
        name = self.key()
        self.state.calcom[name] = account
        return f"{self.url}/calcom/{name}/v2"

    def add_retell(self, account: RetellAccount) -> str:
        """Register an account; returns the base URL a `RetellClient` should use."""
        name = self.key()
        self.state.retell[name] = account
        return f"{self.url}/retell/{name}"


class DroppingServer:
    """Raw TCP: closes the first `drops` connections without a byte of response, then answers 200.

    Each answer closes its connection, so every request arrives on a new connection.
    """

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.connections = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                if outer.connections <= outer.drops:
                    return  # close without answering
                body = json.dumps({"ok": True, "connections": outer.connections}).encode()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                self.request.sendall(head.encode() + body)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[DroppingServer]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
