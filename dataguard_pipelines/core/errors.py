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
