"""One error hierarchy: every failure dataguard raises on purpose, with the CLI exit code it maps to."""

from __future__ import annotations


class DataguardError(Exception):
    """Base for every error dataguard raises on purpose."""

    exit_code = 1


class ConfigError(DataguardError):
    """A setting is missing or malformed."""

    exit_code = 2


class SourceError(DataguardError):
    """pg_dump, pg_restore or the database failed."""


class SlotLostError(SourceError):
    """The replication slot lost WAL it still needed: waiting cannot bring the changes back."""


class StoreError(DataguardError):
    """The fsspec store refused a read or write, or an object is missing."""


class FormatError(DataguardError):
    """A backup object is truncated, tampered with, or of an unknown version."""


class TruncatedError(FormatError):
    """An object ends before its end marker or before its final chunk."""


class ChunkOrderError(FormatError):
    """A chunk authenticates, but at another position: chunks were reordered."""


class TamperedError(FormatError):
    """A chunk or header fails authentication: the bytes were modified or corrupted."""


class WrongKeyError(FormatError):
    """The key named in the header does not open the object's data key."""


class KeyNotFoundError(FormatError):
    """The keyring holds no key with the id named in the header."""


class UnknownVersionError(FormatError):
    """The object was written by a newer format version than this build reads."""


class VerificationError(DataguardError):
    """A restored database or a stored object does not match its manifest."""


class RestoreError(DataguardError):
    """A restore was refused or failed."""


class BusyError(DataguardError):
    """Another operation holds the lock this one needs."""


class ApiError(DataguardError):
    """A SaaS API answered with an error, or not at all.

    `vendor`, `path` and `status` let callers decide without parsing the message; none of them
    ever holds a secret (paths are logged and raised without their query string).
    """

    def __init__(self, message: str, *, vendor: str = "", path: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.path = path
        self.status = status


class AuthenticationError(ApiError):
    """The API rejected the key (401) or the key lacks a permission (403)."""

    exit_code = 2


class RateLimited(ApiError):
    """Still HTTP 429 after every retry."""


class ApiUnavailable(ApiError):
    """5xx, timeouts or dropped connections outlasted every retry."""


class MalformedResponse(ApiError):
    """The API answered 2xx with a body that is not JSON or lacks a key field."""
