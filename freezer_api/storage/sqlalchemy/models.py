"""The one table every kind of document lives in.

Each row is a whole JSON document (``doc``) plus the columns the API filters,
scopes and sorts on. ``pk`` gives the stable order of lists; ``version`` is
the compare-and-set counter; ``changed`` is the write stamp (a new value on
every insert and update, never the one a deleted row had), from which the
fingerprint of a list page is computed.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()


def _id_type(length=255):
    # Ids compare byte-wise everywhere: MariaDB's default collation would
    # make "ABC" and "abc" the same id.
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"),
        "mysql", "mariadb")


DOC_TYPE = sa.Text().with_variant(
    mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_unicode_ci"),
    "mysql", "mariadb")

documents = sa.Table(
    "freezer_documents", metadata,
    sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("doc_id", _id_type(), nullable=False),
    sa.Column("user_id", _id_type(), nullable=False),
    sa.Column("project_id", _id_type(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("client_id", _id_type(), nullable=True),
    sa.Column("session_id", _id_type(), nullable=True),
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("time_ts", sa.BigInteger(), nullable=True),
    sa.Column("doc", DOC_TYPE, nullable=False),
    sa.Column("changed", sa.BigInteger(), nullable=False,
              server_default="0"),
    sa.UniqueConstraint("kind", "project_id", "doc_id",
                        name="uq_documents_kind_project_doc"),
    sa.Index("ix_documents_kind_user_doc", "kind", "user_id", "doc_id"),
    sa.Index("ix_documents_kind_user_pk", "kind", "user_id", "pk"),
    sa.Index("ix_documents_kind_project_pk", "kind", "project_id", "pk"),
    sa.Index("ix_documents_kind_user_client_pk",
             "kind", "user_id", "client_id", "pk"),
    sa.Index("ix_documents_kind_project_client_pk",
             "kind", "project_id", "client_id", "pk"),
    sa.Index("ix_documents_kind_session", "kind", "session_id"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)
