"""Replace a small local file atomically, mode 0600: readers see the old file or the new one, never half.

Used for files that hold secrets or secret-adjacent state (settings, sealed credentials); the keyring
has its own writer because it must also refuse to overwrite.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a 0600 temp file beside ``path``, fsync it, rename it over ``path``, fsync the folder.

    The temp file sits in the same directory so the rename never crosses filesystems; it starts with a
    dot and ends in ``.tmp`` so directory listings (e.g. ``*.dgar``) never mistake it for the real file.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; filesystems that cannot fsync a directory are skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
