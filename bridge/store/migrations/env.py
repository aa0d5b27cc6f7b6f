"""Alembic environment for the store.

At run time the daemon passes an open connection in ``config.attributes["connection"]``
(see `bridge.store.engine.upgrade`); no alembic.ini is involved.  For developers, the alembic
command line works too when given a synchronous URL, e.g.
``alembic -c /dev/null -x url=sqlite:///dev.db ...`` with ``script_location`` set.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from bridge.store.tables import Base

VERSION_TABLE = "alembic_version"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: later migrations copy-and-move tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give a synchronous database URL: alembic -x url=sqlite:///file.db ...")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
