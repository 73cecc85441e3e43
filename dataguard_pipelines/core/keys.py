"""The keyring: named 256-bit key-encryption keys (KEKs), one of them active for new objects.

Every object gets its own random data key (DEK) that is wrapped by a KEK (see docs/format.md), so
the keyring stays small and rotation only adds keys: old keys must stay to open old backups.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dataguard_pipelines.core.atomic_file import fsync_directory
from dataguard_pipelines.core.errors import ConfigError, KeyNotFoundError

KEYRING_FORMAT = "dataguard-keyring"
KEYRING_VERSION = 1
KEY_BYTES = 32
MAX_KEY_ID_BYTES = 64  # the archive header stores the id with a one-byte length (docs/format.md)


def new_key_id() -> str:
    """A sortable, collision-resistant id such as ``k20261127-3fa1b2c9`` (date says when it was made)."""
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _is_valid_key_id(key_id: object) -> bool:
    return (
        isinstance(key_id, str)
        and key_id.isascii()
        and key_id.isprintable()
        and 1 <= len(key_id) <= MAX_KEY_ID_BYTES
    )


@dataclass(frozen=True)
class Keyring:
    """Key ids mapped to 32-byte KEKs; ``active_id`` names the key that wraps new objects."""

    active_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        # Freeze a private copy so no caller can swap a key under a running backup.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))
        for key_id, key in self.keys.items():
            if not _is_valid_key_id(key_id):
                raise ConfigError(f"keyring key id {key_id!r} is not 1..64 printable ASCII characters")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ConfigError(f"keyring key {key_id!r} is not {KEY_BYTES} bytes")
        if self.active_id not in self.keys:
            raise ConfigError(f"keyring active key {self.active_id!r} is not among its keys")

    def __repr__(self) -> str:
        # Ids only: a repr ends up in logs and tracebacks, key bytes must not.
        return f"Keyring(active_id={self.active_id!r}, key_ids={sorted(self.keys)!r})"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> Keyring:
        """A new in-memory keyring with one fresh random key (tests and first-time setup)."""
        key_id = new_key_id()
        return cls(active_id=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)})

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read and validate a keyring file; refuses files other users can read."""
        path = Path(path)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"keyring {path} does not exist; point DATAGUARD_KEYRING at your keyring file "
                "(or restore it from your key backup)"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"keyring {path} cannot be read ({exc.strerror}); check its path") from exc
        if mode & 0o077:
            access = "readable" if mode & 0o044 else "accessible"
            raise ConfigError(
                f"keyring {path} is {access} by other users (mode {mode:04o}); run chmod 600 {path}"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"keyring {path} cannot be read as UTF-8 text; restore it from your key backup"
            ) from exc
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"keyring {path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                "restore it from your key backup"
            ) from exc
        return cls._from_document(doc, path)

    @classmethod
    def _from_document(cls, doc: Any, path: Path) -> Keyring:
        if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
            raise ConfigError(
                f"keyring {path} is not a dataguard keyring (expected format {KEYRING_FORMAT!r}); "
                "check DATAGUARD_KEYRING points at the right file"
            )
        if doc.get("version") != KEYRING_VERSION:
            raise ConfigError(
                f"keyring {path} has version {doc.get('version')!r} but this build reads {KEYRING_VERSION}; "
                "upgrade dataguard or use a matching keyring"
            )
        raw_keys, active_id = doc.get("keys"), doc.get("active")
        if not isinstance(raw_keys, dict) or not raw_keys:
            raise ConfigError(f'keyring {path} has no "keys" object; restore it from your key backup')
        keys: dict[str, bytes] = {}
        for key_id, encoded in raw_keys.items():
            if not _is_valid_key_id(key_id):
                raise ConfigError(
                    f"keyring {path} has key id {key_id!r}, which is not 1..64 printable ASCII characters; "
                    "fix or restore the file"
                )
            try:
                key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
            except (binascii.Error, ValueError):
                key = b""  # reported below; the decoder's message is not needed and may quote the value
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"keyring {path} key {key_id!r} is not {KEY_BYTES} bytes of base64; "
                    "restore the file from your key backup"
                )
            keys[key_id] = key
        if not isinstance(active_id, str) or active_id not in keys:
            raise ConfigError(
                f"keyring {path} names active key {active_id!r}, which is not among its keys; "
                'set "active" to one of its key ids'
            )
        return cls(active_id=active_id, keys=keys)

    @classmethod
    def create(cls, path: Path) -> Keyring:
        """Write a new keyring with one fresh key; never overwrites (that would orphan every backup)."""
        path = Path(path)
        if path.exists():
            raise ConfigError(
                f"keyring {path} already exists; load it instead, or move it away first if you really "
                "mean to start a new one"
            )
        keyring = cls.generate()
        _write_atomically(path, keyring._to_json(), overwrite=False)
        return keyring

    def kek(self, key_id: str) -> bytes:
        """The KEK named ``key_id``, as an archive header names it."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyNotFoundError(
                f"keyring has no key {key_id!r}; "
                "restore the keyring that wrote this backup (DATAGUARD_KEYRING)"
            ) from None

    def active(self) -> tuple[str, bytes]:
        """The id and KEK that new objects are wrapped with."""
        return self.active_id, self.keys[self.active_id]

    def with_new_active_key(self) -> Keyring:
        """A copy with one more fresh key, made active; old keys stay so old backups still open."""
        key_id = new_key_id()
        while key_id in self.keys:
            key_id = new_key_id()
        return Keyring(active_id=key_id, keys={**self.keys, key_id: secrets.token_bytes(KEY_BYTES)})

    def save(self, path: Path) -> None:
        """Replace ``path`` atomically with this keyring (mode 0600): readers see the old or the new file."""
        _write_atomically(Path(path), self._to_json(), overwrite=True)

    def _to_json(self) -> str:
        doc = {
            "format": KEYRING_FORMAT,
            "version": KEYRING_VERSION,
            "active": self.active_id,
            "keys": {
                key_id: base64.b64encode(key).decode("ascii") for key_id, key in sorted(self.keys.items())
            },
        }
        return json.dumps(doc, indent=2) + "\n"


@dataclass(frozen=True)
class InitializedKeyring:
    """What `dataguard keys init` reports: which key was made, where, and what the operator must do next."""

    key_id: str
    path: Path

    @property
    def advice(self) -> str:
        return (
            f"Keep a second copy of {self.path} off this machine (a password manager or offline media): "
            f"without key {self.key_id} nothing it seals can ever be restored."
        )

    def as_dict(self) -> dict[str, str]:
        return {"key_id": self.key_id, "path": str(self.path), "advice": self.advice}


def init_keyring(path: Path) -> InitializedKeyring:
    """Create a new keyring file (mode 0600) for a deployment; refuses to overwrite an existing one."""
    path = Path(path).expanduser().absolute()
    keyring = Keyring.create(path)
    return InitializedKeyring(key_id=keyring.active_id, path=path)


def open_keyring(path: Path, *, may_create: bool) -> Keyring:
    """Load the keyring; generate it only when ``may_create`` (Settings.may_create_keyring: the demo).

    Anywhere else a missing file is a configuration error and nothing is written: a key created behind the
    operator's back would seal backups that only this machine's disk could ever open.
    """
    path = Path(path)
    if path.exists():
        return Keyring.load(path)
    if not may_create:
        raise ConfigError(
            f"keyring {path} does not exist; point DATAGUARD_KEYRING at your keyring file, or create one "
            "with `dataguard keys init` (a new keyring cannot open backups sealed by another)"
        )
    try:
        return Keyring.create(path)
    except ConfigError:
        if path.exists():  # another process created it between our check and our write: use theirs
            return Keyring.load(path)
        raise


def _write_atomically(path: Path, text: str, *, overwrite: bool) -> None:
    """Write to a 0600 temp file in the same directory, fsync, then publish by rename (or link)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp_name, path)
        else:
            _publish_no_clobber(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    fsync_directory(path.parent)


def _publish_no_clobber(tmp_name: str, path: Path) -> None:
    # link() fails if the target exists, closing the race between exists() and rename.
    try:
        os.link(tmp_name, path)
    except FileExistsError as exc:
        raise ConfigError(f"keyring {path} already exists; load it instead of creating a new one") from exc
    except OSError:
        if path.exists():  # filesystem without hard links: fall back to check-then-rename
            raise ConfigError(
                f"keyring {path} already exists; load it instead of creating a new one"
            ) from None
        os.replace(tmp_name, path)
