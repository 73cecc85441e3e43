"""Secrets never reach the audit trail: passwords in URLs and DSNs, and values under secret-sounding keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
# key names whose values are secret whatever they hold ("key_id" is a name, not a key: it stays)
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|api_?key|private_?key|credentials?|key|dsn_password)$",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\b(?:password|PGPASSWORD|DB_PASSWORD)\s*=\s*)(?:'[^']*'|\S+)")


def redact_text(text: str) -> str:
    """A string with every URL password and `password=…` / `PGPASSWORD=…` value replaced by ***."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}", text)


def redact_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of `parameters` without secrets (nested mappings and lists included)."""
    return {str(key): _redact(str(key), value) for key, value in parameters.items()}


def _redact(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, Mapping):
        return redact_parameters(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_redact("", item) for item in items]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return redact_text(str(value))
