"""A fixed-window rate limiter per caller, with Cal.com's block-after-exceeding behaviour.

Cal.com's throttler (nest-lab Redis storage) counts hits per API key in a window; the first hit over the
limit blocks the key for `block_s`, and `X-RateLimit-Reset-*` reports the seconds left (apis.md §1.4).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request and the numbers the rate-limit headers carry."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int


@dataclass(slots=True)
class _Window:
    ends_at: float
    hits: int = 0
    blocked_until: float = 0.0


class FixedWindowLimiter:
    """`limit` requests per `window_s` per tracker (an API key); `limit=0` turns limiting off."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        block_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = limit
        self.window_s = window_s
        self.block_s = window_s if block_s is None else block_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def hit(self, tracker: str) -> Decision:
        """Count one request by `tracker` and say whether it may proceed."""
        if not self.enabled:
            return Decision(True, 0, 0, 0)
        now = self._clock()
        with self._lock:
            window = self._windows.get(tracker)
            if window is None or (now >= window.ends_at and now >= window.blocked_until):
                window = _Window(ends_at=now + self.window_s)
                self._windows[tracker] = window
            window.hits += 1
            remaining = max(0, self.limit - window.hits)
            if window.blocked_until > now:
                return Decision(False, self.limit, 0, _ceil(window.blocked_until - now))
            if window.hits > self.limit:
                window.blocked_until = now + self.block_s
                return Decision(False, self.limit, 0, _ceil(self.block_s))
            return Decision(True, self.limit, remaining, _ceil(window.ends_at - now))

    def reset(self) -> None:
        """Forget every window: the next request of each tracker starts fresh."""
        with self._lock:
            self._windows.clear()


def _ceil(seconds: float) -> int:
    return max(0, math.ceil(seconds))
