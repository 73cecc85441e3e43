"""Fault switches and request accounting for an emulator, as ASGI middleware in front of the vendor app.

Tests prove retry and resume logic against real sockets: a 5xx burst, a slow answer, a connection closed
without a response, a 200 whose JSON is cut short, a 429 with the vendor's headers. Faults queue in the order
they were set; each request takes the first pending one whose path prefix matches.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["fail", "slow", "drop", "malformed", "rate_limit"]
Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Fault:
    """One pending switch: applies to the next `remaining` requests under `path` (any path when None)."""

    kind: FaultKind
    remaining: int
    path: str | None = None
    status: int = 500
    seconds: float = 0.0
    retry_after_s: float | None = None


class VendorErrors(Protocol):
    """How one vendor words the errors a fault fakes."""

    def server_error(self, status: int, path: str) -> tuple[bytes, Headers]: ...

    def rate_limited(self, path: str, retry_after_s: float | None) -> tuple[bytes, Headers]: ...


class Faults:
    """Runtime switches plus counters of what the app was asked, safe to use from the test's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self._by_key: Counter[str] = Counter()
        self._by_path: Counter[str] = Counter()
        self._authorizations: list[str] = []

    # -- switches ----------------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, path: str | None = None) -> None:
        """The next `n` requests get a 5xx: 500 in the vendor's JSON envelope, 502/503 as a gateway page."""
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next status {status} is not a 5xx status")
        self._add(Fault("fail", n, path, status=status))

    def slow_next(self, n: int = 1, seconds: float = 1.0, *, path: str | None = None) -> None:
        """The next `n` requests are answered normally after `seconds`."""
        self._add(Fault("slow", n, path, seconds=seconds))

    def drop_next(self, n: int = 1, *, path: str | None = None) -> None:
        """The next `n` requests are read, then the connection is closed without a response."""
        self._add(Fault("drop", n, path))

    def malformed_next(self, n: int = 1, *, path: str | None = None) -> None:
        """The next `n` requests get status 200 with the real JSON body cut in half."""
        self._add(Fault("malformed", n, path))

    def rate_limit_next(
        self, n: int = 1, *, retry_after_s: float | None = None, path: str | None = None
    ) -> None:
        """The next `n` requests get the vendor's 429 (Retell adds retry-after headers when given)."""
        self._add(Fault("rate_limit", n, path, retry_after_s=retry_after_s))

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()

    @property
    def pending(self) -> int:
        """Requests still to be hit by a fault."""
        with self._lock:
            return sum(f.remaining for f in self._pending)

    # -- accounting --------------------------------------------------------------------------------------

    def requests_by_key(self) -> Counter[str]:
        """Requests per bearer token ("" for none), faulted ones included."""
        with self._lock:
            return Counter(self._by_key)

    def requests_by_path(self) -> Counter[str]:
        with self._lock:
            return Counter(self._by_path)

    def authorizations(self) -> list[str]:
        """Every Authorization header received, in order ("" when absent)."""
        with self._lock:
            return list(self._authorizations)

    def reset_counters(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._by_path.clear()
            self._authorizations.clear()

    # -- used by the middleware --------------------------------------------------------------------------

    def record(self, path: str, authorization: str) -> None:
        token = authorization[7:] if authorization[:7].lower() == "bearer " else authorization
        with self._lock:
            self._by_key[token] += 1
            self._by_path[path] += 1
            self._authorizations.append(authorization)

    def take(self, path: str) -> Fault | None:
        """The fault for this request, if any, counted down."""
        with self._lock:
            for fault in self._pending:
                if fault.path is None or path.startswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def _add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError(f"a fault must apply to at least one request, got n={fault.remaining}")
        with self._lock:
            self._pending.append(fault)


class FaultMiddleware:
    """Counts every request, then applies the pending fault (if any) before the vendor app sees it."""

    def __init__(self, app: ASGIApp, faults: Faults, errors: VendorErrors):
        self.app = app
        self.faults = faults
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        self.faults.record(path, authorization)
        fault = self.faults.take(path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)  # first, so a client that gives up while we wait is no error
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, _replay(body, receive), send)
            return
        if fault.kind == "fail":
            await _respond(send, fault.status, *self.errors.server_error(fault.status, path))
        elif fault.kind == "rate_limit":
            await _respond(send, 429, *self.errors.rate_limited(path, fault.retry_after_s))
        elif fault.kind == "drop":
            await _drop(send)
        else:
            await self._truncated(scope, _replay(body, receive), send)

    async def _truncated(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        cut = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await _respond(send, 200, cut, headers)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the app once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop(send: Send) -> None:
    """Close the TCP connection without a byte of response.

    Under uvicorn, `send` is bound to the connection's request cycle, which holds the transport. Elsewhere,
    start a response that promises more bytes than it sends and fail, which makes the server cut it short.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        for _ in range(3):  # let connection_lost run, so uvicorn knows not to send its own 500
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("emulator fault: connection dropped mid-response")
