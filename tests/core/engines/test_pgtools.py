"""Client tool choice: the server's own major version, else the nearest newer one, else a clear error."""

import pytest

from dataguard_pipelines.core.engines.pgtools import installed_tools, tools_for_restore, tools_for_server
from dataguard_pipelines.core.errors import SourceError


def test_both_installations_are_found():
    assert {t.major for t in installed_tools()} >= {15, 18}


def test_server_gets_its_own_major_version():
    assert tools_for_server(15).major == 15
    assert tools_for_server(18).major == 18
    assert tools_for_server(16).major == 18


def test_no_tools_new_enough_is_a_clear_error():
    with pytest.raises(SourceError, match="no PostgreSQL client tools of version 99 or newer"):
        tools_for_server(99)


def test_restore_tools_read_the_archive_and_fit_the_target():
    assert tools_for_restore(15, 18).major == 18
    assert tools_for_restore(15, 15).major == 15
