"""The long-running shipper behind `dataguard capture`: one cycle every N seconds until SIGTERM.

Database restarts and store outages are waited out (the slot keeps the changes meanwhile); a lost slot
or bad configuration stops the process, since waiting cannot fix them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..engines.postgres import PostgresDatabase
from ..errors import BusyError, ConfigError, DataguardError, SlotLostError, SourceError, StoreError
from ..keys import Keyring
from ..store import Store
from .shipper import ShipResult, ship_changes

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


@dataclass
class DaemonStats:
    cycles: int = 0
    failures: int = 0
    transactions: int = 0
    changes: int = 0
    segments: int = 0


def run_capture(
    db: PostgresDatabase,
    store: Store,
    keyring: Keyring,
    slot: str,
    *,
    interval_s: float = 30.0,
    level: int = 1,
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
    on_cycle: Callable[[ShipResult], None] | None = None,
) -> DaemonStats:
    """Ship every `interval_s` seconds until `stop` is set (SIGTERM/SIGINT set it when run in the main thread)."""
    stop = stop or threading.Event()
    _install_signal_handlers(stop)
    stats = DaemonStats()
    backoff = 1.0
    final = stop.is_set()
    while True:
        started = time.monotonic()
        try:
            result = ship_changes(db, store, keyring, slot, level=level)
        except (ConfigError, SlotLostError):
            raise
        except SourceError as exc:
            stats.failures += 1
            log.warning("capture cycle failed, retrying in %.0f s: %s", backoff, exc)
        except (StoreError, BusyError) as exc:
            stats.failures += 1
            log.warning("capture cycle failed, retrying in %.0f s: %s", backoff, exc)
        except DataguardError:
            raise
        except Exception as exc:  # a dropped connection mid-cycle (server restart, network): wait it out
            stats.failures += 1
            log.warning("capture cycle failed, retrying in %.0f s: %s", backoff, _one_line(exc))
        else:
            stats.cycles += 1
            stats.transactions += result.transactions
            stats.changes += result.changes
            stats.segments += len(result.segments)
            backoff = 1.0
            if on_cycle is not None:
                on_cycle(result)
            if final or (max_cycles is not None and stats.cycles >= max_cycles):
                log.info("capture stopped: %d cycles, %d changes shipped", stats.cycles, stats.changes)
                return stats
            # a stop signal still gets one more cycle: it ships what was committed before the signal
            final = stop.wait(max(0.0, interval_s - (time.monotonic() - started)))
            continue
        if stop.is_set():
            log.info(
                "capture stopped while the database or store was unreachable; the slot keeps the changes"
            )
            return stats
        stop.wait(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum, _frame) -> None:
        log.info("received %s: finishing the current cycle", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
