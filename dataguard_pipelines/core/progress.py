"""Progress reporting shared by the CLI (rich bars) and Dagster (log lines): one callback shape."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where a long operation is: a phase, bytes done, and an estimate of the total when known."""

    phase: str
    done_bytes: int = 0
    total_bytes: int | None = None
    detail: str = ""


ProgressFn = Callable[[Progress], None]


def silent(_: Progress) -> None:
    """The default: report nothing."""


class Throttle:
    """Passes at most one update per interval (plus every phase change) to the callback."""

    def __init__(self, callback: ProgressFn | None, interval_s: float = 0.5) -> None:
        self.callback = callback or silent
        self.interval_s = interval_s
        self._last = 0.0
        self._phase = ""

    def __call__(self, update: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or update.phase != self._phase or now - self._last >= self.interval_s:
            self._last, self._phase = now, update.phase
            self.callback(update)
