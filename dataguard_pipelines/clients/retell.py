"""Retell AI client: list calls by start time (`POST /v3/list-calls`) and fetch one call with transcript.

Calls have no `updated_at`, so a mirror lists a start-time window with a generous lookback and
re-fetches what may have changed with `get_call` (apis.md §4.2); list items carry no transcripts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from dataguard_pipelines.clients.http import Clock, HttpTransport, RetryPolicy, Secret, Sleep, VendorClient
from dataguard_pipelines.clients.models import Call, CallSummary
from dataguard_pipelines.core.errors import ConfigError, MalformedResponse

BASE_URL = "https://api.retellai.com"
MAX_LIMIT = 1000
LIST_TIMEOUT_S = 300.0  # Retell's own SDK allows list-calls five minutes
RETRY_4XX = frozenset({408, 409, 429})  # 409 is transient at Retell (its SDK retries it)


class RetellClient(VendorClient):
    """Reads one company's Retell account with its API key; returns frozen models from `models.py`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = BASE_URL,
        timeout_s: float = 60.0,
        list_timeout_s: float = LIST_TIMEOUT_S,
        max_tries: int = 5,
        requests_per_minute: float | None = 300,
        max_rate_limit_wait_s: float = 60.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        """Retell publishes no HTTP rate limit; 300/min (5/s) is a polite default until one is known."""
        self._list_timeout_s = list_timeout_s
        self._http = HttpTransport(
            vendor="Retell",
            base_url=base_url,
            api_key=Secret(api_key),
            policy=RetryPolicy(
                max_tries=max_tries,
                retry_4xx=RETRY_4XX,
                max_rate_limit_wait_s=max_rate_limit_wait_s,
            ),
            requests_per_minute=requests_per_minute,
            timeout_s=timeout_s,
            sleep=sleep,
            clock=clock,
        )

    def iter_calls(
        self,
        *,
        start_after_ms: int | None,
        start_before_ms: int | None = None,
        statuses: list[str] | None = None,
        limit: int = MAX_LIMIT,
    ) -> Iterator[CallSummary]:
        """Calls whose `start_timestamp` lies in [start_after_ms, start_before_ms], oldest first, each once.

        Both bounds are inclusive (Retell's `bt` range); overlapping windows are deduped downstream
        anyway. Calls that never started have no `start_timestamp` and match no bound: list them with
        `start_after_ms=None` and `statuses` (e.g. `["not_connected", "error"]`).
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ConfigError(f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
        body: dict[str, Any] = {"sort_order": "ascending", "limit": limit}
        criteria = _filter_criteria(start_after_ms, start_before_ms, statuses)
        if criteria:
            body["filter_criteria"] = criteria
        source = f"Retell {self._http.describe('POST', '/v3/list-calls')}"
        seen: set[str] = set()
        pagination_key: str | None = None
        while True:
            if pagination_key is not None:
                body["pagination_key"] = pagination_key
            page = self._http.request_json(
                "POST", "/v3/list-calls", json_body=body, timeout_s=self._list_timeout_s
            )
            items = page.get("items") if isinstance(page, Mapping) else None
            if not isinstance(items, list):
                raise MalformedResponse(
                    f"{source}: the answer has no `items` list; check the base URL points at Retell "
                    "(the legacy /v2/list-calls returns a bare array)"
                )
            self.stats.pages += 1
            for item in items:
                call = CallSummary.from_api(item, source=source)
                if call.call_id not in seen:
                    seen.add(call.call_id)
                    yield call
            if page.get("has_more") is not True:
                return
            next_key = page.get("pagination_key")
            if not isinstance(next_key, str) or not next_key or next_key == pagination_key:
                raise MalformedResponse(
                    f"{source}: `has_more` is true but the `pagination_key` is missing or repeats; "
                    "stopped instead of looping"
                )
            pagination_key = next_key

    def get_call(self, call_id: str) -> Call | None:
        """The full call, transcript included; None when Retell answers 404 (the call was deleted)."""
        if not call_id:
            raise ConfigError("get_call needs a non-empty call_id")
        path = f"/v2/get-call/{quote(call_id, safe='')}"
        body = self._http.request_json("GET", path, missing_ok=True)
        if body is None:
            return None
        return Call.from_api(body, source=f"Retell {self._http.describe('GET', path)}")


def _filter_criteria(
    start_after_ms: int | None, start_before_ms: int | None, statuses: list[str] | None
) -> dict[str, Any]:
    """Retell v3 typed filters (apis.md §2.2); unknown status strings are passed through as given."""
    criteria: dict[str, Any] = {}
    if start_after_ms is not None and start_before_ms is not None:
        criteria["start_timestamp"] = {
            "type": "range",
            "op": "bt",
            "value": [start_after_ms, start_before_ms],
        }
    elif start_after_ms is not None:
        criteria["start_timestamp"] = {"type": "number", "op": "ge", "value": start_after_ms}
    elif start_before_ms is not None:
        criteria["start_timestamp"] = {"type": "number", "op": "le", "value": start_before_ms}
    if statuses:
        criteria["call_status"] = {"type": "enum", "op": "in", "value": list(statuses)}
    return criteria
