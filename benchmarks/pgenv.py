"""Hand a database to a client tool without its password on the command line: argv shows in `ps`."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def password_free(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without any password, and the variables that carry it (PGPASSWORD).

    psql, pg_dump, pg_restore, pgbench and psycopg all read PGPASSWORD, so the string run with
    `{**os.environ, **variables}` connects as the URL did. Without a password the variables are empty."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    variables = {"PGPASSWORD": str(password)} if password else {}
    return make_conninfo(**{key: str(value) for key, value in params.items()}), variables
