"""Shared test setup: real servers only (PostgreSQL 15 on the machine, embedded PostgreSQL 18, moto's S3
server over HTTP). In CI a missing server fails the run; it is never a silent skip."""

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.stores",
    "tests.fixtures.environment",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes more than a few seconds (pytest -m 'not slow' skips them)"
    )
    config.addinivalue_line("markers", "pg: needs a PostgreSQL server")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from dataguard_pipelines.core.engines.pgtools import installed_tools

    return [f"PostgreSQL client tools: {', '.join(str(t.major) for t in installed_tools())}"]
