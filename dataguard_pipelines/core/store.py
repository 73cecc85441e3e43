"""The object store: an fsspec filesystem (local folder or S3 via s3fs) with atomic publish.

Objects are written under a temporary name and published by rename (local) or by completing the upload
(S3: an object exists only once its PUT or multipart upload completes; a failed write aborts the upload).
Nothing that looks complete is ever left half-written, and published objects are never overwritten in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO
from urllib.parse import urlsplit

from dataguard_pipelines.core.errors import ConfigError, StoreError

log = logging.getLogger(__name__)

_S3_ERROR_MODULES = frozenset({"botocore", "aiobotocore", "aiohttp", "s3fs"})
READ_BLOCK_BYTES = 8 << 20
S3_BLOCK_BYTES = 16 << 20


class Store:
    """Keys are '/'-separated paths relative to the store's root."""

    def __init__(self, url: str, *, s3_endpoint_url: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = _filesystem(url, s3_endpoint_url)
        self.is_local = "file" in _protocols(self.fs)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def uri(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"invalid store key {key!r}")
        return f"{self.root}/{key}"

    @contextlib.contextmanager
    def open_write(self, key: str, *, lock_until: datetime | None = None) -> Iterator[BinaryIO]:
        """Write a new object; it appears at `key` only if the block finishes without an exception.

        `lock_until` makes it write-once: S3 Object Lock in COMPLIANCE mode until then (the bucket must have
        Object Lock enabled), a read-only file locally; an existing object at `key` is then refused."""
        final = self._path(key)
        if lock_until is not None and self.exists(key):
            raise StoreError(f"{self.uri(key)} already exists and is write-once; nothing was changed")
        if self.is_local:
            tmp = f"{final}.tmp-{uuid.uuid4().hex[:12]}"
            self._guard(lambda: self.fs.makedirs(os.path.dirname(final), exist_ok=True), key)
            handle = self._guard(lambda: open(tmp, "wb"), key)  # noqa: SIM115 - closed below on every path
            try:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                if lock_until is not None:
                    os.chmod(tmp, 0o444)
                self._guard(lambda: os.replace(tmp, final), key)
            except BaseException as exc:
                handle.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                self._translate(exc, key)
                raise
            return
        lock = (
            {}
            if lock_until is None
            else {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": lock_until}
        )
        handle = self._guard(lambda: self.fs.open(final, "wb", block_size=S3_BLOCK_BYTES, **lock), key)
        try:
            yield handle
        except BaseException as exc:
            with contextlib.suppress(Exception):
                handle.discard()  # aborts the multipart upload: no object appears
                handle.closed = True  # or garbage collection would try to finish the upload
            self._translate(exc, key)
            raise
        self._guard(handle.close, key)

    def put_bytes(self, key: str, data: bytes, *, lock_until: datetime | None = None) -> None:
        with self.open_write(key, lock_until=lock_until) as handle:
            handle.write(data)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            if self.is_local:
                return open(path, "rb", buffering=READ_BLOCK_BYTES)
            return self.fs.open(path, "rb", block_size=READ_BLOCK_BYTES)
        except Exception as exc:
            self._translate(exc, key)
            raise

    def copy(self, source: str, target: str, *, lock_until: datetime | None = None) -> None:
        """Stream one object to a new key (never through memory whole); `lock_until` as in open_write."""
        with self.open_read(source) as reader, self.open_write(target, lock_until=lock_until) as writer:
            while block := reader.read(READ_BLOCK_BYTES):
                writer.write(block)

    def sha256(self, key: str) -> tuple[str, int]:
        """SHA-256 and size of a stored object, streamed."""
        digest, size = hashlib.sha256(), 0
        with self.open_read(key) as reader:
            while block := reader.read(READ_BLOCK_BYTES):
                digest.update(block)
                size += len(block)
        return digest.hexdigest(), size

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as handle:
            return handle.read()

    def exists(self, key: str) -> bool:
        return bool(self._guard(lambda: self.fs.exists(self._path(key)), key))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError as exc:
            raise StoreError(f"{self.uri(key)} does not exist") from exc

    def glob(self, pattern: str) -> list[str]:
        """Keys matching a glob, sorted; temporary files of unfinished writes are never listed."""
        self._invalidate()
        matches = self._guard(lambda: self.fs.glob(self._path(pattern)), pattern)
        prefix = self.root.rstrip("/") + "/"
        keys = [m[len(prefix) :] if m.startswith(prefix) else m for m in matches]
        return sorted(k for k in keys if ".tmp-" not in k.rsplit("/", 1)[-1])

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        self._invalidate()
        if self.fs.exists(path):
            self._guard(lambda: self.fs.rm(path, recursive=True), prefix)

    def _invalidate(self) -> None:
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache()

    def _guard(self, action, key: str):
        try:
            return action()
        except Exception as exc:
            self._translate(exc, key)
            raise

    def _translate(self, exc: BaseException, key: str) -> None:
        """Raise a StoreError for filesystem and S3 client failures; leave every other exception alone."""
        if isinstance(exc, FileNotFoundError):
            raise StoreError(f"{self.uri(key)} does not exist") from exc
        if isinstance(exc, OSError | ValueError) or type(exc).__module__.split(".")[0] in _S3_ERROR_MODULES:
            raise StoreError(
                f"store {self.url} refused an operation on {key}: {exc.__class__.__name__}: {_short(exc)}"
            ) from exc


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return tuple(proto) if isinstance(proto, list | tuple) else (proto,)


def _filesystem(url: str, s3_endpoint_url: str | None):
    import fsspec

    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        root = parts.path if parts.scheme else url
        if not root:
            raise ConfigError(f"DATAGUARD_STORE_URL={url!r} names no folder; use file:///absolute/path")
        os.makedirs(root, exist_ok=True)
        return fsspec.filesystem("file"), os.path.abspath(root).rstrip("/")
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"DATAGUARD_STORE_URL={url!r} names no bucket; use s3://bucket/prefix")
        options: dict = {"default_block_size": S3_BLOCK_BYTES}
        if s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": s3_endpoint_url}
        fs = fsspec.filesystem("s3", **options)
        return fs, f"{parts.netloc}{parts.path}".rstrip("/")
    raise ConfigError(
        f"DATAGUARD_STORE_URL={url!r}: unsupported scheme {parts.scheme!r}; use file:// or s3://"
    )


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


def open_store(url: str, s3_endpoint_url: str | None = None) -> Store:
    return Store(url, s3_endpoint_url=s3_endpoint_url)
