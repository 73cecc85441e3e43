"""The Cal.com API v2 emulator: `GET /v2/bookings`, `GET /v2/bookings/{uid}`, `GET /v2/event-types`.

Behaves like api.cal.com for a mirror client (apis.md §1 and §4.6): bearer `cal_…` keys, routing on
`cal-api-version` with the legacy 2024-04-15 shape when the header is missing or unknown, the NestJS error
envelope, and a per-key fixed-window throttler with `X-RateLimit-*-Default` headers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dataguard_pipelines.sandbox.emulators.calcom_query import (
    STATUSES,
    BookingQuery,
    QueryInvalid,
    pagination,
    parse_booking_query,
    run_booking_query,
)
from dataguard_pipelines.sandbox.emulators.faults import FaultMiddleware, Faults, Headers
from dataguard_pipelines.sandbox.emulators.ratelimit import Decision, FixedWindowLimiter
from dataguard_pipelines.sandbox.emulators.shapes import (
    dump_json,
    iso_ms,
    legacy_booking_doc,
    legacy_event_type_doc,
)
from dataguard_pipelines.sandbox.emulators.state import EmulatorState

KNOWN_VERSIONS = frozenset(
    {"2024-04-15", "2024-06-11", "2024-06-14", "2024-08-13", "2024-09-04", "2026-02-25"}
)
LEGACY_VERSION = "2024-04-15"
BOOKINGS_VERSIONS = frozenset({"2024-08-13", "2026-02-25"})
LEGACY_BOOKINGS_VERSIONS = frozenset({"2024-04-15", "2024-06-11", "2024-06-14"})
EVENT_TYPES_VERSION = "2024-06-14"
LEGACY_EVENT_TYPES_VERSIONS = frozenset({"2024-04-15", "2024-06-11"})
THROTTLED = "Too many requests. Please try again later."
_JSON = "application/json; charset=utf-8"
_GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class CalcomApp:
    """ASGI app emulating api.cal.com/v2 over an `EmulatorState`; `faults` and the quirk flags are live."""

    base_path = "/v2"

    def __init__(
        self,
        state: EmulatorState,
        *,
        rate_limit: int = 120,
        rate_window_s: float = 60.0,
        block_s: float | None = None,
        faults: Faults | None = None,
    ):
        """`rate_limit` requests per `rate_window_s` per API key (0 = unlimited); over it, the key is
        blocked for `block_s` (default: one window), as Cal.com's throttler does."""
        self.state = state
        self.faults = faults or Faults()
        self.limiter = FixedWindowLimiter(rate_limit, rate_window_s, block_s=block_s)
        self.null_total_when_full = False  # admin/team keys: totalItems is null when the page is full
        self.legacy_items_returned = False  # older servers said `itemsReturned`, not `returnedItems`
        routes = [
            Route("/v2/bookings", self._endpoint(self._list_bookings), methods=["GET"]),
            Route("/v2/bookings/{uid}", self._endpoint(self._get_booking), methods=["GET"]),
            Route("/v2/event-types", self._endpoint(self._list_event_types), methods=["GET"]),
            Route("/{path:path}", self._endpoint(None), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        self._app = FaultMiddleware(Starlette(routes=routes), self.faults, _CalcomErrors(self))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    # -- request pipeline: throttler, then auth, then the handler (Cal.com's guard order) --------------------

    def _endpoint(self, handler: Callable[[Request, int, str], Response] | None) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            token = _bearer(request)
            decision = self.limiter.hit(token or f"ip:{request.client.host if request.client else ''}")
            headers = {"X-Request-Id": str(uuid.uuid4()), **_rate_headers(decision, self.limiter)}
            if not decision.allowed:
                response = _error(request, 429, "ThrottlerException", THROTTLED, THROTTLED)
            elif handler is None:
                response = _no_route(request)
            else:
                company_id = self.state.company_for_calcom_key(token) if token.startswith("cal_") else None
                if company_id is None:
                    response = _unauthorized(request, token)
                else:
                    version = request.headers.get("cal-api-version", "")
                    version = version if version in KNOWN_VERSIONS else LEGACY_VERSION
                    try:
                        response = handler(request, company_id, version)
                    except QueryInvalid as exc:
                        details = {"errors": exc.errors}
                        response = _error(
                            request, 400, "BadRequestException", "Bad Request Exception", details
                        )
            response.headers.update(headers)
            return response

        return endpoint

    # -- handlers ----------------------------------------------------------------------------------------

    def _list_bookings(self, request: Request, company_id: int, version: str) -> Response:
        params = dict(request.query_params)
        if version in LEGACY_BOOKINGS_VERSIONS:
            return self._list_bookings_legacy(request, company_id, params)
        if version not in BOOKINGS_VERSIONS:
            return _no_route(request)
        query = parse_booking_query(params)
        page, total = run_booking_query(
            self.state, company_id, query, now_ms=self.state.now_ms(), team_id=4000 + company_id
        )
        reported_total = None if self.null_total_when_full and len(page) == query.take else total
        meta = pagination(reported_total, query.skip, query.take, legacy_key=self.legacy_items_returned)
        body = b'{"status":"success","data":[%b],"pagination":%b}' % (
            b",".join(r.json for r in page),
            dump_json(meta),
        )
        return Response(body, media_type=_JSON)

    def _list_bookings_legacy(self, request: Request, company_id: int, params: dict[str, str]) -> Response:
        status = params.get("filters[status]", "upcoming")
        if status not in STATUSES:
            raise QueryInvalid(
                [
                    _legacy_error(
                        params,
                        "status",
                        status,
                        "isEnum",
                        f"status must be one of the following values: {', '.join(STATUSES)}",
                    )
                ]
            )
        limit, cursor = _legacy_int(params, "limit", 10, 1), _legacy_int(params, "cursor", 0, 0)
        query = BookingQuery(statuses=(status,), take=limit, skip=cursor)
        page, total = run_booking_query(
            self.state, company_id, query, now_ms=self.state.now_ms(), team_id=4000 + company_id
        )
        next_cursor = cursor + limit if total > cursor + limit else None
        bookings = [legacy_booking_doc(r.doc, r.start_ms, r.end_ms) for r in page]
        data = {"bookings": bookings, "recurringInfo": [], "nextCursor": next_cursor}
        return Response(dump_json({"status": "success", "data": data}), media_type=_JSON)

    def _get_booking(self, request: Request, company_id: int, version: str) -> Response:
        uid = request.path_params["uid"]
        record = self.state.booking_record_by_uid(company_id, uid)
        if record is None:
            message = f"Booking with uid={uid} was not found in the database"
            details = {"message": message, "error": "Not Found", "statusCode": 404}
            return _error(request, 404, "NotFoundException", message, details)
        if version in LEGACY_BOOKINGS_VERSIONS:
            legacy = legacy_booking_doc(record.doc, record.start_ms, record.end_ms)
            return Response(dump_json({"status": "success", "data": legacy}), media_type=_JSON)
        if version not in BOOKINGS_VERSIONS:
            return _no_route(request)
        return Response(b'{"status":"success","data":%b}' % record.json, media_type=_JSON)

    def _list_event_types(self, request: Request, company_id: int, version: str) -> Response:
        records = self.state.event_type_records(company_id)
        if version in LEGACY_EVENT_TYPES_VERSIONS:
            return Response(
                dump_json(_legacy_event_types(company_id, [r.doc for r in records])), media_type=_JSON
            )
        if version != EVENT_TYPES_VERSION:
            return _no_route(request)
        params = request.query_params
        order = params.get("sortCreatedAt")
        if order is not None and order not in ("asc", "desc"):
            raise QueryInvalid(
                [
                    _legacy_error(
                        dict(params),
                        "sortCreatedAt",
                        order,
                        "isEnum",
                        "sortCreatedAt must be one of the following values: asc, desc",
                    )
                ]
            )
        if order:
            records = sorted(records, key=lambda r: (r.created_ms, r.id), reverse=order == "desc")
        if params.get("eventSlug"):
            records = [r for r in records if r.doc["slug"] == params["eventSlug"]]
        return Response(dump_json({"status": "success", "data": [r.doc for r in records]}), media_type=_JSON)


class _CalcomErrors:
    """Error bodies for injected faults, in Cal.com's wording."""

    def __init__(self, app: CalcomApp):
        self._app = app

    def server_error(self, status: int, path: str) -> tuple[bytes, Headers]:
        request_id = [(b"x-request-id", str(uuid.uuid4()).encode())]
        if status == 500:
            details = {"message": "Internal server error", "statusCode": 500}
            body = _envelope(path, "InternalServerErrorException", "Internal server error", details)
            return dump_json(body), [(b"content-type", _JSON.encode()), *request_id]
        page = _GATEWAY_PAGE.format(f"{status} {_REASONS.get(status, 'Server Error')}")
        return page.encode(), [(b"content-type", b"text/html"), *request_id]

    def rate_limited(self, path: str, retry_after_s: float | None) -> tuple[bytes, Headers]:
        limiter = self._app.limiter
        reset = str(max(1, round(retry_after_s if retry_after_s is not None else limiter.block_s))).encode()
        headers = [
            (b"content-type", _JSON.encode()),
            (b"x-ratelimit-limit-default", str(limiter.limit or 120).encode()),
            (b"x-ratelimit-remaining-default", b"0"),
            (b"x-ratelimit-reset-default", reset),
        ]
        return dump_json(_envelope(path, "ThrottlerException", THROTTLED, THROTTLED)), headers


def _envelope(path: str, code: str, message: str, details: Any) -> dict[str, Any]:
    """Cal.com's HttpExceptionFilter body."""
    return {
        "status": "error",
        "timestamp": iso_ms(time.time_ns() // 1_000_000),
        "path": path,
        "error": {"code": code, "message": message, "details": details},
    }


def _error(request: Request, status: int, code: str, message: str, details: Any) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Response(dump_json(_envelope(path, code, message, details)), status_code=status, media_type=_JSON)


def _unauthorized(request: Request, token: str) -> Response:
    if not token:
        message = "ApiAuthStrategy - Invalid Bearer token"
    elif token.startswith("cal_"):
        message = "ApiAuthStrategy - api key - Invalid API Key"
    else:
        message = "ApiAuthStrategy - access token - Invalid access token"
    details = {"message": message, "error": "Unauthorized", "statusCode": 401}
    return _error(request, 401, "UnauthorizedException", message, details)


def _no_route(request: Request) -> Response:
    """NestJS's 404 for a path, or a known version, that no controller serves."""
    message = f"Cannot {request.method} {request.url.path}"
    return _error(
        request,
        404,
        "NotFoundException",
        message,
        {"message": message, "error": "Not Found", "statusCode": 404},
    )


def _bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else ""


def _rate_headers(decision: Decision, limiter: FixedWindowLimiter) -> dict[str, str]:
    if not limiter.enabled:
        return {}
    return {
        "X-RateLimit-Limit-Default": str(decision.limit),
        "X-RateLimit-Remaining-Default": str(decision.remaining),
        "X-RateLimit-Reset-Default": str(decision.reset_s),
    }


def _legacy_int(params: dict[str, str], name: str, default: int, low: int) -> int:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        value = low - 1
    if value < low:
        raise QueryInvalid(
            [_legacy_error(params, name, params[name], "min", f"{name} must not be less than {low}")]
        )
    return value


def _legacy_error(
    params: dict[str, str], prop: str, value: Any, constraint: str, message: str
) -> dict[str, Any]:
    return {
        "target": params,
        "value": value,
        "property": prop,
        "children": [],
        "constraints": {constraint: message},
    }


def _legacy_event_types(company_id: int, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """`data.eventTypeGroups[*].eventTypes[*]`, the shape Airbyte's header-less stream reads."""
    owner = docs[0]["users"][0] if docs else {"id": None, "name": None, "username": None}
    profile = {
        "slug": owner["username"],
        "name": owner["name"],
        "image": None,
        "eventTypesLockedByOrg": False,
    }
    group = {
        "teamId": None,
        "parentId": None,
        "bookerUrl": "https://cal.com",
        "membershipRole": None,
        "profile": profile,
        "metadata": {"membershipCount": 0, "readOnly": False},
        "eventTypes": [legacy_event_type_doc(d) for d in docs],
    }
    return {"status": "success", "data": {"eventTypeGroups": [group], "profiles": [profile]}}
