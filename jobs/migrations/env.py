"""Alembic environment: runs on the connection :func:`jobs.storage.upgrade` passes in.

There is no ``alembic.ini``: the configuration is built in code, so the migrations ship
inside the package and run the same from a checkout or an installed wheel.
"""

from __future__ import annotations

from alembic import context


def _run() -> None:
    from jobs.storage import Base

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic -x url=...` from a shell
        import sqlalchemy as sa

        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
            "sqlalchemy.url"
        )
        with sa.create_engine(url).begin() as conn:
            context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()


try:
    context.config  # noqa: B018 - only set while Alembic runs this file
except AttributeError:  # imported by something else (pytest --doctest-modules): nothing to do
    pass
else:
    _run()
