"""`POST /v3/list-calls` semantics: typed filters, start_timestamp ordering and the opaque cursor.

Follows apis.md §2.2 and the SDK's `CallListParams`: every filter_criteria key holds one typed filter (lists
only for `agent` and the keyed maps), conditions are AND'ed, calls sort by start_timestamp (calls that have
not started sort before all others) and call_id, and the cursor is a keyset position, so calls added or
deleted between pages never shift what the next page returns.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dataguard_pipelines.sandbox.emulators.state import CallRecord, EmulatorState

LIMIT_MAX = 1000
LIMIT_DEFAULT = 50
_OPS = {
    "string": {"eq", "ne", "sw", "ew", "co"},
    "number": {"eq", "ne", "gt", "ge", "lt", "le"},
    "range": {"bt"},
    "enum": {"in"},
    "boolean": {"eq"},
    "present": {"pr", "np"},
}


def _path(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def get(doc: dict[str, Any]) -> Any:
        value: Any = doc
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


SCALAR_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    name: _path(name)
    for name in (
        "call_id",
        "batch_call_id",
        "agent_tag",
        "call_status",
        "call_type",
        "direction",
        "from_number",
        "to_number",
        "disconnection_reason",
        "data_storage_setting",
        "start_timestamp",
        "end_timestamp",
        "duration_ms",
    )
} | {
    "user_sentiment": _path("call_analysis", "user_sentiment"),
    "call_successful": _path("call_analysis", "call_successful"),
    "in_voicemail": _path("call_analysis", "in_voicemail"),
    "combined_cost": _path("call_cost", "combined_cost"),
    "e2e_latency_p50": _path("latency", "e2e", "p50"),
}
KEYED_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "metadata": _path("metadata"),
    "dynamic_variables": _path("retell_llm_dynamic_variables"),
    "custom_analysis_data": _path("call_analysis", "custom_analysis_data"),
}


class RequestInvalid(Exception):
    """The body does not follow the API reference; the message goes into the 400 body."""


@dataclass
class CallQuery:
    """A validated list-calls request."""

    predicates: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    start_range: tuple[float, float] | None = None  # inclusive start_timestamp bounds, applied by bisecting
    descending: bool = True
    limit: int = LIMIT_DEFAULT
    skip: int = 0
    after: tuple[int, str] | None = None  # the last sort key of the previous page
    include_total: bool = False


def parse_v3_body(body: Any) -> CallQuery:
    """Validate a `/v3/list-calls` body; raises RequestInvalid."""
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid request format, please check API reference.")
    query = _common(body, skip_allowed=True)
    if "skip" in body and "pagination_key" in body:
        raise RequestInvalid("skip and pagination_key cannot be used together.")
    if "pagination_key" in body:
        query.after = decode_cursor(body["pagination_key"])
    include_total = body.get("include_total", False)
    if not isinstance(include_total, bool):
        raise RequestInvalid("include_total must be a boolean.")
    query.include_total = include_total
    criteria = body.get("filter_criteria") or {}
    if not isinstance(criteria, dict):
        raise RequestInvalid("filter_criteria must be an object.")
    for key, spec in criteria.items():
        _add_filter(query, key, spec)
    return query


def parse_v2_body(body: Any, state: EmulatorState, company_id: int) -> CallQuery:
    """Validate a legacy `/v2/list-calls` body (array filters, thresholds, call-id cursor)."""
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid request format, please check API reference.")
    query = _common(body, skip_allowed=False)
    criteria = body.get("filter_criteria") or {}
    if not isinstance(criteria, dict):
        raise RequestInvalid("filter_criteria must be an object.")
    for key, spec in criteria.items():
        if key in ("start_timestamp", "end_timestamp", "duration_ms", "e2e_latency_p50"):
            if not isinstance(spec, dict):
                raise RequestInvalid(f"filter_criteria.{key} must be an object.")
            low, high = spec.get("lower_threshold", float("-inf")), spec.get("upper_threshold", float("inf"))
            _add_filter(query, key, {"type": "range", "op": "bt", "value": [low, high]})
        elif key == "agent_id":
            _add_filter(query, key, {"type": "enum", "op": "in", "value": spec}, getter=_path("agent_id"))
        elif key in SCALAR_FIELDS and isinstance(spec, list):
            _add_filter(query, key, {"type": "enum", "op": "in", "value": spec})
        else:
            raise RequestInvalid(f"filter_criteria.{key} is not supported.")
    if "pagination_key" in body:
        record = state.call_record(company_id, str(body["pagination_key"]))
        if record is None:
            raise RequestInvalid("pagination_key does not name a call.")
        query.after = record.sort_key
    return query


def run_call_query(
    state: EmulatorState, company_id: int, query: CallQuery
) -> tuple[list[CallRecord], bool, int | None]:
    """The page, whether more calls follow, and the total (when asked for)."""
    view = state.sorted_calls(company_id)
    keys, records = view.keys, view.records
    lo, hi = 0, len(records)
    if query.start_range is not None:
        low, high = query.start_range
        lo = bisect_left(keys, (max(low, 0),))  # calls not yet started (key -1) never match a range
        hi = bisect_right(keys, (high, "\uffff"))
    hi = max(lo, hi)
    start, stop = lo, hi
    if query.after is not None:
        if query.descending:
            stop = max(lo, min(hi, bisect_left(keys, query.after)))
        else:
            start = min(hi, max(lo, bisect_right(keys, query.after)))
    positions = range(stop - 1, start - 1, -1) if query.descending else range(start, stop)
    matches = _matching(records, positions, query.predicates)
    for _ in range(query.skip):
        if next(matches, None) is None:
            break
    page: list[CallRecord] = []
    for record in matches:
        if len(page) == query.limit:
            return page, True, _total(records, lo, hi, query)
        page.append(record)
    return page, False, _total(records, lo, hi, query)


def encode_cursor(record: CallRecord) -> str:
    """An opaque pagination key holding the last call's sort position."""
    start, call_id = record.sort_key
    raw = json.dumps({"last": call_id, "ts": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(key: Any) -> tuple[int, str]:
    if not isinstance(key, str) or not key:
        raise RequestInvalid("pagination_key is invalid.")
    try:
        data = json.loads(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))
        return int(data["ts"]), str(data["last"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise RequestInvalid("pagination_key is invalid.") from exc


def _common(body: Mapping[str, Any], *, skip_allowed: bool) -> CallQuery:
    query = CallQuery()
    order = body.get("sort_order", "descending")
    if order not in ("ascending", "descending"):
        raise RequestInvalid("sort_order must be one of: ascending, descending.")
    query.descending = order == "descending"
    limit = body.get("limit", LIMIT_DEFAULT)
    if not _is_int(limit) or not 1 <= limit <= LIMIT_MAX:
        raise RequestInvalid(f"limit must be an integer between 1 and {LIMIT_MAX}.")
    query.limit = limit
    if skip_allowed and "skip" in body:
        if not _is_int(body["skip"]) or body["skip"] < 0:
            raise RequestInvalid("skip must be a non-negative integer.")
        query.skip = body["skip"]
    return query


def _add_filter(
    query: CallQuery, key: str, spec: Any, getter: Callable[[dict[str, Any]], Any] | None = None
) -> None:
    if key == "agent":
        query.predicates.append(_agent_predicate(spec))
        return
    if key in KEYED_FIELDS:
        if not isinstance(spec, list):
            raise RequestInvalid(f"filter_criteria.{key} must be an array of filters.")
        for item in spec:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise RequestInvalid(f"each filter in filter_criteria.{key} needs a key.")
            test = _test(key, item)
            get, name = KEYED_FIELDS[key], item["key"]
            query.predicates.append(lambda d, get=get, name=name, test=test: test((get(d) or {}).get(name)))
        return
    get = getter or SCALAR_FIELDS.get(key)
    if get is None:
        raise RequestInvalid(f"filter_criteria.{key} is not supported.")
    test = _test(key, spec)
    if key == "start_timestamp" and spec["op"] in ("ge", "gt", "le", "lt", "bt"):
        query.start_range = _intersect(query.start_range, _start_bounds(spec))
        return
    query.predicates.append(lambda d: test(get(d)))


def _test(key: str, spec: Any) -> Callable[[Any], bool]:
    """A value test for one typed filter; raises RequestInvalid when the filter is malformed."""
    if not isinstance(spec, dict) or spec.get("type") not in _OPS or spec.get("op") not in _OPS[spec["type"]]:
        raise RequestInvalid(f"filter_criteria.{key} must be a typed filter with a valid type and op.")
    kind, op, value = spec["type"], spec["op"], spec.get("value")
    if kind == "present":
        return lambda v: (v is not None) == (op == "pr")
    if kind == "string":
        if not isinstance(value, str):
            raise RequestInvalid(f"filter_criteria.{key}.value must be a string.")
        tests = {
            "eq": str.__eq__,
            "ne": str.__ne__,
            "sw": str.startswith,
            "ew": str.endswith,
            "co": str.__contains__,
        }
        return lambda v: isinstance(v, str) and bool(tests[op](v, value))
    if kind == "number":
        if not _is_number(value):
            raise RequestInvalid(f"filter_criteria.{key}.value must be a number.")
        compare = {
            "eq": float.__eq__,
            "ne": float.__ne__,
            "gt": float.__gt__,
            "ge": float.__ge__,
            "lt": float.__lt__,
            "le": float.__le__,
        }[op]
        return lambda v: _is_number(v) and bool(compare(float(v), float(value)))
    if kind == "range":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(x) for x in value)):
            raise RequestInvalid(f"filter_criteria.{key}.value must be [lower_bound, upper_bound].")
        low, high = value
        return lambda v: _is_number(v) and low <= v <= high
    if kind == "enum":
        if not isinstance(value, list):
            raise RequestInvalid(f"filter_criteria.{key}.value must be an array.")
        allowed = set(value)
        return lambda v: v in allowed
    if not isinstance(value, bool):
        raise RequestInvalid(f"filter_criteria.{key}.value must be a boolean.")
    return lambda v: v is value


def _agent_predicate(spec: Any) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(spec, list) or not all(
        isinstance(a, dict) and isinstance(a.get("agent_id"), str) for a in spec
    ):
        raise RequestInvalid("filter_criteria.agent must be an array of {agent_id, version?}.")
    wanted = [(a["agent_id"], set(a["version"]) if a.get("version") else None) for a in spec]
    return lambda d: any(
        d.get("agent_id") == agent and (versions is None or d.get("agent_version") in versions)
        for agent, versions in wanted
    )


def _start_bounds(spec: dict[str, Any]) -> tuple[float, float]:
    """Inclusive bounds for integer timestamps: `gt x` is `ge floor(x)+1`, `lt x` is `le ceil(x)-1`."""
    op, value = spec["op"], spec["value"]
    if op == "bt":
        return float(value[0]), float(value[1])
    if op == "ge":
        return float(value), math.inf
    if op == "gt":
        return float(math.floor(value) + 1), math.inf
    if op == "le":
        return -math.inf, float(value)
    return -math.inf, float(math.ceil(value) - 1)


def _intersect(a: tuple[float, float] | None, b: tuple[float, float]) -> tuple[float, float]:
    return b if a is None else (max(a[0], b[0]), min(a[1], b[1]))


def _matching(
    records: list[CallRecord], positions: range, predicates: list[Callable[[dict[str, Any]], bool]]
) -> Iterator[CallRecord]:
    for i in positions:
        record = records[i]
        if all(p(record.doc) for p in predicates):
            yield record


def _total(records: list[CallRecord], lo: int, hi: int, query: CallQuery) -> int | None:
    if not query.include_total:
        return None
    if not query.predicates:
        return hi - lo
    return sum(1 for _ in _matching(records, range(lo, hi), query.predicates))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
