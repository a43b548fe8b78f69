"""The write stamp of every document (``changed``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "freezer_documents"


def upgrade():
    # 0001 creates the table as models.py declares it today, so on a new
    # database the column is there already.
    columns = sa.inspect(op.get_bind()).get_columns(TABLE)
    if any(column["name"] == "changed" for column in columns):
        return
    # Rows written before this revision keep 0 until their next write;
    # their pk still tells them apart in a fingerprint.
    op.add_column(TABLE, sa.Column("changed", sa.BigInteger(),
                                   nullable=False, server_default="0"))


def downgrade():
    op.drop_column(TABLE, "changed")
