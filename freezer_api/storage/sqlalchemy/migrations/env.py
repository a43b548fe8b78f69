"""Alembic environment: always run with a connection handed in by
``freezer_api.storage.sqlalchemy.migration``."""

from alembic import context

from freezer_api.storage.sqlalchemy import migration
from freezer_api.storage.sqlalchemy import models

connection = context.config.attributes["connection"]
context.configure(connection=connection,
                  target_metadata=models.metadata,
                  version_table=migration.VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
