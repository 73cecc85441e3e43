"""PostgreSQL log sequence numbers: 'X/Y' text as PostgreSQL prints it, an int for comparing."""

from __future__ import annotations

from ..errors import ConfigError


def parse_lsn(text: str) -> int:
    """'16/B374D848' -> 0x16B374D848; a clear ConfigError for anything else (it may be user input)."""
    try:
        high, low = text.strip().split("/")
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ConfigError(f"{text!r} is not a PostgreSQL LSN such as 0/16B3748") from None


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def lsn_key(value: int) -> str:
    """Fixed-width hex, so store keys sort in LSN order."""
    return f"{value:016X}"
