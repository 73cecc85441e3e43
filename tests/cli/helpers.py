"""Running the `dataguard` command as an operator does: a real subprocess, the contract's exit codes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from tests.fixtures.environment import subprocess_env

SECRET = "Sup3r-Secret-Pw"
DATAGUARD = str(Path(sys.executable).parent / "dataguard")


def run(args: list[str], env: dict[str, str], check: int | None = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [DATAGUARD, *args], env=subprocess_env(env), capture_output=True, text=True, timeout=600
    )
    if check is not None:
        assert result.returncode == check, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Warning:" not in result.stderr, result.stderr  # no stray library warnings for an operator
    return result


def assert_one_clear_sentence(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.count("error:") == 1, result.stderr  # notes may come before it
    for fragment in fragments:
        assert fragment in result.stderr.replace("\n", " ")


def unique_slot() -> str:
    """Every full backup sets capture up on its database: tests must not share the default slot name."""
    return f"dgtest_{uuid.uuid4().hex[:10]}"
