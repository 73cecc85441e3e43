"""Definitions for the Dagster-layer tests."""

from collections.abc import Iterator

import dagster as dg
import pytest

from dataguard_pipelines.definitions import defs


@pytest.fixture
def definitions() -> Iterator[dg.Definitions]:
    """The code location, resolved inside a live test instance: the defs-folder loader reads the current
    instance's state storage, and an instance another test already disposed would fail that lookup."""
    with dg.instance_for_test():
        loaded = defs()
        dg.Definitions.validate_loadable(loaded)
        yield loaded
