"""Alembic's environment for the lab: migrations run on the connection ``store.migrate`` opened
(inside its transaction and lock), or for a developer on ``sqlalchemy.url``."""

from alembic import context
from sqlalchemy import create_engine

from voicesim.lab.store import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
