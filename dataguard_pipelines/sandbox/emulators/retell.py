"""The Retell API emulator: `POST /v3/list-calls`, `POST /v2/list-calls`, `GET /v2/get-call/{id}`,
`DELETE /v2/delete-call/{id}`.

Behaves like api.retellai.com for a mirror client (apis.md §2 and §4.6): bearer `key_…` keys, list items
without transcripts, an opaque cursor, `{"status":"error","message":…}` errors, and a 429 that carries
`retry-after-ms`/`Retry-After` only when configured (Retell documents no numeric limit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dataguard_pipelines.sandbox.emulators.faults import FaultMiddleware, Faults, Headers
from dataguard_pipelines.sandbox.emulators.ratelimit import FixedWindowLimiter
from dataguard_pipelines.sandbox.emulators.retell_query import (
    RequestInvalid,
    encode_cursor,
    parse_v2_body,
    parse_v3_body,
    run_call_query,
)
from dataguard_pipelines.sandbox.emulators.shapes import dump_json
from dataguard_pipelines.sandbox.emulators.state import EmulatorState

RATE_LIMITED = "Account rate limited, please throttle your requests."
UNAUTHORIZED = "API key is missing or invalid."
SERVER_ERROR = "An unexpected server error occurred."
_JSON = "application/json"
_GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

Handler = Callable[[Request, int], Response]


class RetellApp:
    """ASGI app emulating api.retellai.com over an `EmulatorState`; `faults` are live."""

    base_path = ""

    def __init__(
        self,
        state: EmulatorState,
        *,
        rate_limit: int = 0,
        rate_window_s: float = 1.0,
        retry_after_s: float | None = None,
        faults: Faults | None = None,
    ):
        """`rate_limit` requests per `rate_window_s` per key (0 = unlimited, as Retell publishes no number);
        a 429 carries `retry-after-ms` and `Retry-After` only when `retry_after_s` is set."""
        self.state = state
        self.faults = faults or Faults()
        self.limiter = FixedWindowLimiter(rate_limit, rate_window_s)
        self.retry_after_s = retry_after_s
        routes = [
            Route("/v3/list-calls", self._endpoint(self._list_calls_v3), methods=["POST"]),
            Route("/v2/list-calls", self._endpoint(self._list_calls_v2), methods=["POST"]),
            Route("/v2/get-call/{call_id}", self._endpoint(self._get_call), methods=["GET"]),
            Route("/v2/delete-call/{call_id}", self._endpoint(self._delete_call), methods=["DELETE"]),
            Route("/{path:path}", self._endpoint(None), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        self._app = FaultMiddleware(Starlette(routes=routes), self.faults, _RetellErrors(self))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def _endpoint(self, handler: Handler | None) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            token = _bearer(request)
            body = await request.body()
            if handler is None:
                return _error(404, "Not Found")
            company_id = self.state.company_for_retell_key(token) if token else None
            if company_id is None:
                return _error(401, UNAUTHORIZED)
            if not self.limiter.hit(token).allowed:
                body_bytes, headers = _rate_limited(self.retry_after_s)
                return Response(body_bytes, 429, headers=dict(_str(headers)), media_type=_JSON)
            request.state.raw_body = body
            try:
                return handler(request, company_id)
            except RequestInvalid as exc:
                return _error(400, str(exc))

        return endpoint

    def _list_calls_v3(self, request: Request, company_id: int) -> Response:
        query = parse_v3_body(_json_body(request))
        page, has_more, total = run_call_query(self.state, company_id, query)
        parts = [
            b'{"items":[',
            b",".join(r.listed_json for r in page),
            b'],"has_more":',
            b"true" if has_more else b"false",
        ]
        if has_more and page:
            parts.append(b',"pagination_key":' + dump_json(encode_cursor(page[-1])))
        if total is not None:
            parts.append(b',"total":%d' % total)
        parts.append(b"}")
        return Response(b"".join(parts), media_type=_JSON)

    def _list_calls_v2(self, request: Request, company_id: int) -> Response:
        query = parse_v2_body(_json_body(request), self.state, company_id)
        page, _has_more, _total = run_call_query(self.state, company_id, query)
        return Response(b"[" + b",".join(r.full_json for r in page) + b"]", media_type=_JSON)

    def _get_call(self, request: Request, company_id: int) -> Response:
        record = self.state.call_record(company_id, request.path_params["call_id"])
        if record is None:
            return _error(404, "Call not found.")
        return Response(record.full_json, media_type=_JSON)

    def _delete_call(self, request: Request, company_id: int) -> Response:
        call_id = request.path_params["call_id"]
        if self.state.call_record(company_id, call_id) is None:
            return _error(404, "Call not found.")
        self.state.hard_delete_call(call_id)
        return Response(status_code=204)


class _RetellErrors:
    """Error bodies for injected faults, in Retell's wording."""

    def __init__(self, app: RetellApp):
        self._app = app

    def server_error(self, status: int, path: str) -> tuple[bytes, Headers]:
        if status == 500:
            return dump_json({"status": "error", "message": SERVER_ERROR}), [
                (b"content-type", _JSON.encode())
            ]
        page = _GATEWAY_PAGE.format(f"{status} {_REASONS.get(status, 'Server Error')}")
        return page.encode(), [(b"content-type", b"text/html")]

    def rate_limited(self, path: str, retry_after_s: float | None) -> tuple[bytes, Headers]:
        return _rate_limited(retry_after_s if retry_after_s is not None else self._app.retry_after_s)


def _rate_limited(retry_after_s: float | None) -> tuple[bytes, Headers]:
    headers = [(b"content-type", _JSON.encode())]
    if retry_after_s is not None:
        headers += [
            (b"retry-after-ms", str(round(retry_after_s * 1000)).encode()),
            (b"retry-after", str(math.ceil(retry_after_s)).encode()),
        ]
    return dump_json({"status": "error", "message": RATE_LIMITED}), headers


def _error(status: int, message: str) -> Response:
    return Response(dump_json({"status": "error", "message": message}), status_code=status, media_type=_JSON)


def _json_body(request: Request) -> object:
    raw = request.state.raw_body
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RequestInvalid("Invalid request format, please check API reference.") from exc


def _bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _str(headers: Headers) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k != b"content-type"]
