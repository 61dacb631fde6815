"""Alembic environment: the connection comes from ``review.db.migrate`` (no alembic.ini)."""

from alembic import context

from review.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
