"""Shared HTTP transport for the vendor clients: pacing, retries, rate-limit waits and stats.

Cal.com and Retell need the same discipline: stay under the rate limit before it is hit, wait it out
after, retry only what is transient, and never leak the API key. Each client adds only its paths,
headers and models on top of one `HttpTransport`.

The transport is not thread-safe: use one client per thread (a sync runs sequentially anyway).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import httpx

from dataguard_pipelines.core.errors import (
    ApiError,
    ApiUnavailable,
    AuthenticationError,
    ConfigError,
    MalformedResponse,
    RateLimited,
)

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], float]

CONNECT_TIMEOUT_S = 5.0
CREDENTIALS_HINT = "check `dataguard credentials set`"
_MAX_VENDOR_MESSAGE_CHARS = 200
_EPOCH_THRESHOLD = 1e9  # a reset header above this is a Unix timestamp, below it a number of seconds
_RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass
class TransportStats:
    """Counters a sync reports as metadata (`requests`, `retries`, `pages`, ...); updated in place."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_s: float = 0.0
    pacing_wait_s: float = 0.0
    pages: int = 0

    def as_dict(self) -> dict[str, int | float]:
        """The counters as plain values, for Dagster metadata."""
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    """What is retried and how long to wait; each client builds one with its vendor's defaults.

    Attributes:
        max_tries: attempts per request, the first one included.
        retry_4xx: client-error statuses that are transient (every 5xx is retried too).
        backoff_base_s, backoff_cap_s: full-jitter backoff, uniform in [0, min(cap, base * 2**n)].
        max_rate_limit_wait_s: cap on any server-directed wait (Retry-After, reset headers).
        default_429_wait_s: wait after a 429 that names no wait (Cal.com blocks for 60 s);
            None falls back to backoff.
        malformed_retries: how often a 2xx body that is not JSON is retried; one retry covers a
            body cut off by a proxy, while a server that keeps sending garbage fails fast.
    """

    max_tries: int = 5
    retry_4xx: frozenset[int] = frozenset({408, 429})
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_rate_limit_wait_s: float = 60.0
    default_429_wait_s: float | None = None
    malformed_retries: int = 1


class Pacer:
    """Client-side token bucket: `burst` requests back to back, then one every 60/rpm seconds."""

    def __init__(self, *, requests_per_minute: float, burst: int, clock: Clock) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ConfigError(
                f"requests_per_minute must be > 0 and burst >= 1 (got {requests_per_minute}, {burst})"
            )
        self._interval_s = 60.0 / requests_per_minute
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token; returns how many seconds to wait before sending (0 when one was free)."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) / self._interval_s)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens * self._interval_s


def default_burst(requests_per_minute: float) -> int:
    """A tenth of the per-minute rate, so any 60 s window stays within rpm * 1.1 requests."""
    return max(1, int(requests_per_minute // 10))


def retry_after_s(headers: httpx.Headers, *, now: float) -> float | None:
    """Seconds the server asked us to wait via `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError):
        return None


def _reset_to_seconds(value: str, *, now: float) -> float | None:
    try:
        reset = float(value)
    except ValueError:
        return None
    return reset - now if reset > _EPOCH_THRESHOLD else reset


def reset_s(headers: httpx.Headers, *, now: float) -> float | None:
    """The longest `X-RateLimit-Reset-*` wait in seconds (Cal.com sends seconds; its docs say epoch)."""
    waits = [
        wait
        for key, value in headers.items()
        if key.lower().startswith("x-ratelimit-reset")
        and (wait := _reset_to_seconds(value, now=now)) is not None
    ]
    return max(waits) if waits else None


def exhausted_limit_reset_s(headers: httpx.Headers, *, now: float) -> float | None:
    """Seconds until the longest exhausted limit resets, when any `X-RateLimit-Remaining-*` is 0."""
    lowered = {key.lower(): value for key, value in headers.items()}
    waits: list[float] = []
    for key, value in lowered.items():
        if not key.startswith("x-ratelimit-remaining"):
            continue
        try:
            remaining = float(value)
        except ValueError:
            continue
        if remaining > 0:
            continue
        reset = lowered.get("x-ratelimit-reset" + key.removeprefix("x-ratelimit-remaining"))
        wait = _reset_to_seconds(reset, now=now) if reset is not None else None
        waits.append(wait if wait is not None else 1.0)
    return max(waits) if waits else None


class Secret:
    """Holds the API key so that no repr, log line or traceback local shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


@dataclass(eq=False)
class HttpTransport:
    """One `httpx.Client` for one vendor and one API key, with pacing, retries and stats.

    `sleep` and `clock` (monotonic seconds) are injectable so tests can measure waits without
    waiting; absolute dates in headers are converted with the wall clock (`time.time`).
    """

    vendor: str
    base_url: str
    api_key: Secret = field(repr=False)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    requests_per_minute: float | None = None
    burst: int | None = None
    timeout_s: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    sleep: Sleep = field(default=time.sleep, repr=False)
    clock: Clock = field(default=time.monotonic, repr=False)
    stats: TransportStats = field(default_factory=TransportStats, init=False)

    def __post_init__(self) -> None:
        if not self.api_key.value:
            raise ConfigError(f"the {self.vendor} API key is empty; {CREDENTIALS_HINT}")
        if not self.api_key.value.isascii() or not self.api_key.value.isprintable():
            raise ConfigError(
                f"the {self.vendor} API key holds characters an HTTP header cannot carry; {CREDENTIALS_HINT}"
            )
        if self.policy.max_tries < 1:
            raise ConfigError(f"max_tries must be at least 1 (got {self.policy.max_tries})")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=_timeout(self.timeout_s),
            headers={
                "Authorization": f"Bearer {self.api_key.value}",
                "Accept": "application/json",
                "User-Agent": "dataguard",
                **self.headers,
            },
        )
        self._base_path = self._client.base_url.path.rstrip("/")
        self._pacer = (
            Pacer(
                requests_per_minute=self.requests_per_minute,
                burst=self.burst or default_burst(self.requests_per_minute),
                clock=self.clock,
            )
            if self.requests_per_minute
            else None
        )
        self._not_before = 0.0  # monotonic time before which the vendor asked us not to call

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def describe(self, method: str, path: str) -> str:
        """`GET /v2/bookings`: how messages name a request (never with the query string)."""
        return f"{method} {self._base_path}/{path.lstrip('/')}"

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Send one logical request, retrying per the policy; returns the decoded JSON body.

        Returns None for a 404 when `missing_ok` (a deleted record). Raises only `ApiError` subclasses.
        """
        shown = self.describe(method, path)
        timeout = _timeout(timeout_s) if timeout_s is not None else httpx.USE_CLIENT_DEFAULT
        malformed_left = self.policy.malformed_retries
        max_tries = self.policy.max_tries
        for attempt in range(1, max_tries + 1):
            self._wait_before_sending()
            self.stats.requests += 1
            started = time.perf_counter()
            try:
                response = self._client.request(
                    method, path, params=params, json=json_body, headers=headers, timeout=timeout
                )
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                problem = _describe_transport_error(exc)
                logger.debug("%s %s: %s (try %d/%d)", self.vendor, shown, problem, attempt, max_tries)
                if attempt == max_tries:
                    raise self._error(
                        ApiUnavailable,
                        f"{self.vendor} did not answer {shown} after {attempt} tries (last: {problem}); "
                        "retry later or check the vendor's status page",
                        path=shown,
                    ) from exc
                self._back_off(attempt, shown, problem, hinted_s=None)
                continue
            except httpx.HTTPError as exc:
                raise self._error(
                    ApiError,
                    f"{self.vendor} {shown} failed before any answer ({type(exc).__name__}); "
                    "check the base URL and proxy settings",
                    path=shown,
                ) from exc
            self._note_exhausted_limits(response)
            status = response.status_code
            logger.debug(
                "%s %s -> %d in %.0f ms (try %d/%d%s)",
                self.vendor,
                shown,
                status,
                (time.perf_counter() - started) * 1000,
                attempt,
                max_tries,
                _request_id_note(response),
            )
            if 200 <= status < 300:
                try:
                    return response.json()
                except ValueError as exc:
                    problem = f"{status} with a body that is not JSON"
                    if malformed_left > 0 and attempt < max_tries:
                        malformed_left -= 1
                        self._back_off(attempt, shown, problem, hinted_s=None)
                        continue
                    raise self._error(
                        MalformedResponse,
                        f"{self.vendor} answered {shown} with {status} but a body that is not JSON "
                        f"({len(response.content)} bytes{_request_id_note(response)}); retry later, "
                        "and report it to the vendor if it persists",
                        path=shown,
                        status=status,
                    ) from exc
            if status == 404 and missing_ok:
                return None
            if status == 429:
                if attempt == max_tries:
                    raise self._error(
                        RateLimited,
                        f"{self.vendor} still rate-limited {shown} (429) after {attempt} tries"
                        f"{_vendor_message(response)}; lower requests_per_minute or run later",
                        path=shown,
                        status=status,
                    )
                self._defer_after_429(response, attempt, shown)
                continue
            if self._is_retryable(response):
                if attempt == max_tries:
                    raise self._error(
                        ApiUnavailable,
                        f"{self.vendor} answered {shown} with {status} {attempt} times"
                        f"{_vendor_message(response)}{_request_id_note(response)}; "
                        "retry later or check the vendor's status page",
                        path=shown,
                        status=status,
                    )
                hinted = retry_after_s(response.headers, now=time.time())
                self._back_off(attempt, shown, f"status {status}", hinted_s=hinted)
                continue
            raise self._status_error(response, shown)
        raise AssertionError("unreachable: the loop returns or raises on its last try")

    # -- waiting ---------------------------------------------------------------------------------

    def _wait_before_sending(self) -> None:
        wait = self._not_before - self.clock()
        if wait > 0:
            logger.info("%s rate limit: waiting %.1f s before the next request", self.vendor, wait)
            self.sleep(wait)
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_s += wait
        if self._pacer is not None:
            pace = self._pacer.reserve()
            if pace > 0:
                self.sleep(pace)
                self.stats.pacing_wait_s += pace

    def _note_exhausted_limits(self, response: httpx.Response) -> None:
        wait = exhausted_limit_reset_s(response.headers, now=time.time())
        if wait is not None:
            self._defer(wait)

    def _defer(self, wait_s: float) -> None:
        wait_s = min(max(wait_s, 0.0), self.policy.max_rate_limit_wait_s)
        self._not_before = max(self._not_before, self.clock() + wait_s)

    def _defer_after_429(self, response: httpx.Response, attempt: int, shown: str) -> None:
        now = time.time()
        wait = retry_after_s(response.headers, now=now)
        if wait is None:
            wait = reset_s(response.headers, now=now)
        if wait is None:
            wait = self.policy.default_429_wait_s
        if wait is None:
            wait = self._backoff_s(attempt)
        self._defer(wait)
        self.stats.retries += 1
        logger.info(
            "%s answered 429 on %s; retry %d/%d after %.1f s",
            self.vendor,
            shown,
            attempt + 1,
            self.policy.max_tries,
            max(self._not_before - self.clock(), 0.0),
        )

    def _backoff_s(self, attempt: int) -> float:
        bound = min(self.policy.backoff_cap_s, self.policy.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0.0, bound)

    def _back_off(self, attempt: int, shown: str, problem: str, *, hinted_s: float | None) -> None:
        if hinted_s is not None:
            wait = min(max(hinted_s, 0.0), self.policy.max_rate_limit_wait_s)
        else:
            wait = self._backoff_s(attempt)
        self.stats.retries += 1
        logger.info(
            "%s %s: %s; retry %d/%d in %.2f s",
            self.vendor,
            shown,
            problem,
            attempt + 1,
            self.policy.max_tries,
            wait,
        )
        if wait > 0:
            self.sleep(wait)

    # -- classifying -----------------------------------------------------------------------------

    def _is_retryable(self, response: httpx.Response) -> bool:
        should = response.headers.get("x-should-retry", "").lower()  # Retell's explicit override
        if should in ("true", "false"):
            return should == "true"
        status = response.status_code
        return status >= 500 or status in self.policy.retry_4xx

    def _status_error(self, response: httpx.Response, shown: str) -> ApiError:
        status = response.status_code
        detail = f"{_vendor_message(response)}{_request_id_note(response)}"
        if status == 401:
            return self._error(
                AuthenticationError,
                f"{self.vendor} rejected the API key for this company (401 on {shown}{detail}); "
                f"{CREDENTIALS_HINT}",
                path=shown,
                status=status,
            )
        if status == 403:
            return self._error(
                AuthenticationError,
                f"{self.vendor} refused {shown} for this company's API key (403{detail}); give the key "
                f"the read permission it needs, or {CREDENTIALS_HINT}",
                path=shown,
                status=status,
            )
        if status == 404:
            return self._error(
                ApiError,
                f"{self.vendor} has no {shown} (404{detail}); check the base URL {self.base_url}",
                path=shown,
                status=status,
            )
        return self._error(
            ApiError,
            f"{self.vendor} rejected {shown} ({status}{detail}); not retried: the request or the API "
            "changed, compare with the vendor's API reference",
            path=shown,
            status=status,
        )

    def _error(self, cls: type[ApiError], message: str, *, path: str, status: int | None = None) -> ApiError:
        """Builds an error whose text cannot carry the key, even if the vendor echoed it back."""
        key = self.api_key.value
        return cls(message.replace(key, "<secret>"), vendor=self.vendor, path=path, status=status)


def _timeout(timeout_s: float) -> httpx.Timeout:
    return httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__} (no answer in time)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "RemoteProtocolError (the connection closed without a complete response)"
    return f"{type(exc).__name__} (the connection failed)"


def _request_id_note(response: httpx.Response) -> str:
    request_id = response.headers.get("x-request-id")
    return f", request id {request_id}" if request_id else ""


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's short error message (Cal.com `error.message`, Retell `message`), never the body."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message: object = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        if not isinstance(message, str):
            message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        return ""
    message = " ".join(message.split())
    if len(message) > _MAX_VENDOR_MESSAGE_CHARS:
        message = message[: _MAX_VENDOR_MESSAGE_CHARS - 1] + "…"
    return f': "{message}"'


class VendorClient:
    """What both clients share: the transport, its stats, closing, and a repr without the key."""

    _http: HttpTransport

    @property
    def stats(self) -> TransportStats:
        """Counters since this client was created; read them after a sync."""
        return self._http.stats

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._http.base_url!r})"
