"""Alembic, driven from code: no alembic.ini is needed at run time."""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script

VERSION_TABLE = "freezer_alembic_version"
SCRIPTS = os.path.join(os.path.dirname(__file__), "migrations")


def _config(connection):
    cfg = alembic_config.Config()
    cfg.set_main_option("script_location", SCRIPTS)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine, revision="head"):
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def current(engine):
    with engine.connect() as conn:
        ctx = alembic_migration.MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def head():
    """The newest revision of the migration scripts."""
    return alembic_script.ScriptDirectory.from_config(
        _config(None)).get_current_head()
