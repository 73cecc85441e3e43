"""`capture --status`: the slot, the shipped stream and its gaps, in one document an operator reads."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from ..engines.postgres import PostgresDatabase
from ..store import Store
from .health import capture_freshness, slot_hygiene
from .lsn import format_lsn
from .segments import list_chains, segment_ranges


@dataclass(frozen=True)
class CaptureReport:
    slot: str
    configured: bool
    fresh: bool
    freshness: str
    shipped_through: str | None
    slot_ok: bool
    slot_status: str
    retained_wal_bytes: int
    chains: list[str]
    segments: int
    gaps: list[str]

    @property
    def healthy(self) -> bool:
        """Not set up counts as healthy: there is nothing to be late or broken yet."""
        return not self.configured or (self.fresh and self.slot_ok and not self.gaps)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_gaps(ranges: list[tuple[int, int, str]]) -> list[str]:
    """Each place where a segment does not start where the one before it ended."""
    return [
        f"no changes captured between LSN {format_lsn(end)} and {format_lsn(start)}"
        for (_, end, _), (start, _, _) in itertools.pairwise(ranges)
        if start != end
    ]


def capture_report(db: PostgresDatabase, store: Store, slot: str, *, max_wal_bytes: int) -> CaptureReport:
    """Freshness, slot hygiene and gaps; segment ranges come from key names, cheap however long the stream."""
    freshness = capture_freshness(store, slot)
    hygiene = slot_hygiene(db, slot, max_wal_bytes=max_wal_bytes, configured=freshness.configured)
    ranges = segment_ranges(store, slot)
    return CaptureReport(
        slot=slot,
        configured=freshness.configured,
        fresh=freshness.passed,
        freshness=freshness.message,
        shipped_through=freshness.shipped_through.isoformat() if freshness.shipped_through else None,
        slot_ok=hygiene.passed,
        slot_status=hygiene.message,
        retained_wal_bytes=hygiene.retained_bytes,
        chains=[chain.lsn for chain in list_chains(store, slot)],
        segments=len(ranges),
        gaps=stream_gaps(ranges),
    )
