"""The documents table.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

from freezer_api.storage.sqlalchemy import models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # The first revision creates the table exactly as models.py declares
    # it; later revisions must spell out their changes with op.* calls.
    models.documents.create(op.get_bind(), checkfirst=True)
