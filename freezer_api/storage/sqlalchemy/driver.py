"""SQL driver: filtering, paging and compare-and-set writes done in SQL.

One table (``models.documents``) holds every kind. Lists never load rows to
filter them in Python: the scope, the indexed fields and the generic
"any leaf named k equals v" match all become SQL (per-dialect JSON functions
for the last), ordered by the primary key so pages are stable.
"""

import contextlib
import fcntl
import json
import logging
import os

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from freezer_api.domain import kinds
from freezer_api import exceptions
from freezer_api.storage import base
from freezer_api.storage.sqlalchemy import models

LOG = logging.getLogger(__name__)
T = models.documents

# Error codes that mean "lost a race, try again" rather than "backend down".
_RETRYABLE_MYSQL = {1205, 1213}  # lock wait timeout, deadlock


def _dumps(doc):
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class SQLAlchemyDriver(base.StorageDriver):
    name = "sqlalchemy"

    def __init__(self, conf):
        self.url = conf.database.connection
        if not self.url:
            raise exceptions.StorageUnavailable(
                "[database] connection is not set")
        self.engine = self._create_engine(conf)
        self.dialect = self.engine.dialect.name

    # -- set-up -----------------------------------------------------------
    def _create_engine(self, conf):
        url = sa.engine.make_url(self.url)
        kwargs = {"pool_pre_ping": True}
        if url.get_backend_name() == "sqlite":
            path = url.database
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)),
                            exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            db = conf.database
            kwargs.update(pool_size=db.max_pool_size or 5,
                          max_overflow=db.max_overflow or 10,
                          pool_timeout=db.pool_timeout or 30,
                          pool_recycle=db.connection_recycle_time)
            if url.get_backend_name() in ("mysql", "mariadb"):
                kwargs["isolation_level"] = "READ COMMITTED"
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    def upgrade(self):
        """Bring the schema to the newest Alembic revision."""
        from freezer_api.storage.sqlalchemy import migration
        with self._sqlite_lock(), self._errors():
            migration.upgrade(self.engine)

    def schema_version(self):
        from freezer_api.storage.sqlalchemy import migration
        with self._errors():
            return migration.current(self.engine)

    @contextlib.contextmanager
    def _sqlite_lock(self):
        """Serialise migrations of one SQLite file across processes (several
        gunicorn or uwsgi workers may start at once)."""
        url = sa.engine.make_url(self.url)
        if url.get_backend_name() != "sqlite" or not url.database or \
                url.database == ":memory:":
            yield
            return
        with open(os.path.abspath(url.database) + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self):
        self.engine.dispose()

    # -- errors -----------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self):
        try:
            yield
        except exceptions.FreezerError:
            raise
        except sa_exc.DBAPIError as exc:
            raise self._translate(exc) from exc
        except sa_exc.SQLAlchemyError as exc:
            LOG.error("storage error: %s", exc)
            raise exceptions.StorageUnavailable(
                "The database failed to serve the request.") from exc

    def _translate(self, exc):
        orig = getattr(exc, "orig", None)
        code = orig.args[0] if orig is not None and orig.args and \
            isinstance(orig.args[0], int) else None
        text = str(orig or exc).lower()
        if code in _RETRYABLE_MYSQL or "database is locked" in text or \
                "deadlock" in text or "could not serialize" in text:
            return exceptions.VersionConflict("concurrent write")
        if isinstance(exc, sa_exc.IntegrityError):
            return exceptions.AlreadyExists("document already exists")
        if isinstance(exc, sa_exc.DataError):
            return exceptions.InvalidInput(
                "The database refused a value of the request.")
        LOG.error("database unavailable: %s", str(orig or exc)[:500])
        return exceptions.StorageUnavailable(
            "The database is unavailable; try again later.")

    # -- reads ------------------------------------------------------------
    @staticmethod
    def _scope(kind, scope):
        clauses = [T.c.kind == kind]
        if scope.all_projects:
            return clauses
        if scope.project_id is not None:
            clauses.append(T.c.project_id == scope.project_id)
        if scope.user_id is not None:
            clauses.append(T.c.user_id == scope.user_id)
        return clauses

    def get(self, kind, scope, doc_id):
        stmt = (sa.select(T.c.pk, T.c.version, T.c.doc)
                .where(*self._scope(kind, scope), T.c.doc_id == doc_id))
        if scope.project_id is None and scope.prefer_project is not None:
            stmt = stmt.order_by(
                sa.case((T.c.project_id == scope.prefer_project, 0),
                        else_=1), T.c.pk)
        stmt = stmt.limit(1)
        with self._errors(), self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise exceptions.NotFound(
                "No %s found with ID %s" % (kind[:-1], doc_id))
        return base.Record(kind=kind, doc=json.loads(row.doc),
                           version=row.version, key=row.pk)

    def search(self, kind, scope, query):
        clauses = self._scope(kind, scope)
        for key, value in query.match:
            clauses.append(self._term(kind, key, value, negate=False))
        for key, value in query.match_not:
            clauses.append(self._term(kind, key, value, negate=True))
        if query.time_after is not None:
            clauses.append(T.c.time_ts >= query.time_after)
        if query.time_before is not None:
            clauses.append(T.c.time_ts <= query.time_before)
        if query.text:
            clauses.append(self._text(query.text))
        stmt = (sa.select(T.c.doc).where(*clauses).order_by(T.c.pk)
                .limit(query.limit).offset(query.offset))
        with self._errors(), self.engine.connect() as conn:
            return [json.loads(doc) for doc, in conn.execute(stmt)]

    def count(self, kind):
        with self._errors(), self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(T)
                                .where(T.c.kind == kind)).scalar_one()

    def _term(self, kind, key, value, negate):
        column = kinds.FILTER_FIELDS[kind].get(key) or \
            kinds.COMMON_FILTER_FIELDS.get(key)
        if column is not None:
            col = T.c[column]
            if not isinstance(value, str) or isinstance(value, bool):
                return sa.true() if negate else sa.false()
            if negate:
                return sa.or_(col.is_(None), col != value)
            return col == value
        positive = self._leaf_equals(key, value)
        return sa.not_(positive) if negate else positive

    def _leaf_equals(self, key, value):
        """True where some leaf of the document named ``key`` equals
        ``value`` (a JSON scalar). ``key`` was checked against
        ``search.KEY_RE``, so it is safe inside a JSON path."""
        encoded = json.dumps(value)
        if self.dialect == "sqlite":
            tree = sa.func.json_tree(T.c.doc).table_valued(
                "key", "atom", "type").alias("leaf")
            return sa.exists(
                sa.select(sa.literal(1)).select_from(tree).where(
                    tree.c.key == key,
                    tree.c.type.not_in(("object", "array")),
                    tree.c.atom == sa.func.json_extract(encoded, "$")))
        if self.dialect == "postgresql":
            path = 'lax $.**."%s" ? (@ == $v)' % key
            return sa.func.jsonb_path_exists(
                sa.cast(T.c.doc, postgresql.JSONB),
                sa.cast(sa.literal(path), postgresql.JSONPATH),
                sa.func.jsonb_build_object(
                    "v", sa.cast(sa.literal(encoded), postgresql.JSONB)))
        # MySQL and MariaDB
        return sa.func.coalesce(sa.func.json_contains(
            sa.func.json_extract(T.c.doc, '$**."%s"' % key), encoded),
            0) == 1

    def _text(self, text):
        pattern = "%" + text.replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_") + "%"
        if self.dialect == "postgresql":
            return T.c.doc.ilike(pattern, escape="\\")
        return T.c.doc.like(pattern, escape="\\")

    # -- writes -----------------------------------------------------------
    @staticmethod
    def _row(kind, doc):
        row = kinds.indexed_fields(kind, doc)
        row.update(doc=_dumps(doc), doc_id=kinds.doc_id(kind, doc),
                   user_id=doc.get("user_id") or "",
                   project_id=doc.get("project_id") or "")
        return row

    def apply(self, operations):
        versions = []
        with self._errors(), self.engine.begin() as conn:
            for op in operations:
                if isinstance(op, base.Insert):
                    row = self._row(op.kind, op.doc)
                    row.update(kind=op.kind, version=1)
                    try:
                        conn.execute(sa.insert(T).values(**row))
                    except sa_exc.IntegrityError:
                        raise exceptions.AlreadyExists(
                            "A document with ID %s already exists"
                            % row["doc_id"])
                    versions.append(1)
                elif isinstance(op, base.Update):
                    rec = op.record
                    row = self._row(rec.kind, op.doc)
                    row["version"] = rec.version + 1
                    result = conn.execute(
                        sa.update(T).where(T.c.pk == rec.key,
                                           T.c.version == rec.version)
                        .values(**row))
                    if result.rowcount != 1:
                        raise exceptions.VersionConflict("stale version")
                    versions.append(rec.version + 1)
                elif isinstance(op, base.Delete):
                    rec = op.record
                    result = conn.execute(
                        sa.delete(T).where(T.c.pk == rec.key,
                                           T.c.version == rec.version))
                    if result.rowcount != 1:
                        raise exceptions.VersionConflict("stale version")
                    versions.append(None)
                else:
                    raise TypeError("unknown operation %r" % (op,))
        return versions

    def healthcheck(self):
        with self._errors(), self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


def _sqlite_on_connect(dbapi_conn, _record):
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
