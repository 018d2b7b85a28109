"""Alembic's environment for the lab: migrations run on the connection ``store.migrate`` opened
(inside its transaction and lock), or for a developer on ``sqlalchemy.url``."""

from alembic import context
from sqlalchemy import create_engine

from voicesim.lab.store import Base


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # run by Alembic; a plain import (a package walk) does nothing
    run_migrations()
