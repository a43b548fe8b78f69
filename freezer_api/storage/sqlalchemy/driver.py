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
import threading
import time

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from freezer_api import cache
from freezer_api.domain import kinds
from freezer_api import exceptions
from freezer_api.storage import base
from freezer_api.storage.sqlalchemy import models

LOG = logging.getLogger(__name__)
T = models.documents

# Statement shapes kept (they are few: one per kind of list filter).
MAX_STATEMENTS = 512

# Error codes that mean "lost a race, try again" rather than "backend down".
_RETRYABLE_MYSQL = {1205, 1213}  # lock wait timeout, deadlock


def _dumps(doc):
    # Compact, not ASCII-escaped (MariaDB's JSON_CONTAINS compares "\u00e9"
    # and "é" as different strings), as json.dumps(ensure_ascii=False,
    # separators=(",", ":")) would write it, several times faster.
    return orjson.dumps(doc).decode()


# Stored documents are JSON that _dumps wrote: orjson reads them several
# times faster than json.loads (lists decode many per request).
_loads = orjson.loads


# The writes of ``apply``, built once (see "reads"): every column a write
# sets is bound, and updates and deletes only touch the version read
# (compare-and-set).
_WRITTEN = ("kind", "doc_id", "user_id", "project_id", "version",
            "client_id", "session_id", "status", "time_ts", "doc", "changed")
_INSERT = sa.insert(T).values(
    {name: sa.bindparam(name) for name in _WRITTEN})
_CAS = (T.c.pk == sa.bindparam("read_pk"),
        T.c.version == sa.bindparam("read_version"))
# The columns besides the document that an update may leave as they are:
# it sets only those whose value changes. Most are indexed; SQLite
# rewrites the entries of every index of a column an UPDATE sets, even to
# the same value (and a job's PATCH changes none of them).
_KEPT = ("doc_id", "user_id", "project_id", "client_id", "session_id",
         "status", "time_ts")
_DELETE = sa.delete(T).where(*_CAS)


class SQLAlchemyDriver(base.StorageDriver):
    name = "sqlalchemy"

    def __init__(self, conf):
        self.stamps = base.Stamps()
        self._statements = cache.Bounded(MAX_STATEMENTS)
        self._compiled = cache.Bounded(MAX_STATEMENTS)
        self.url = conf.database.connection
        if not self.url:
            raise exceptions.StorageUnavailable(
                "[database] connection is not set")
        self.engine = self._create_engine(conf)
        self.dialect = self.engine.dialect.name
        database = self.engine.url.database
        in_memory = self.dialect == "sqlite" and (
            not database or database == ":memory:")
        # Each thread's reading connection (see _reader); None: reads use
        # the pool.
        self._readers = None if in_memory else []
        self._local = threading.local()

    # -- set-up -----------------------------------------------------------
    def _create_engine(self, conf):
        """The engine of [database]: every option there is read here."""
        db = conf.database
        url = sa.engine.make_url(self.url)
        if db.connection_parameters:
            url = url.update_query_string(db.connection_parameters,
                                          append=True)
        kwargs = {"echo": ("debug" if db.connection_debug >= 100 else
                           db.connection_debug >= 50)}
        if url.get_backend_name() == "sqlite":
            path = url.database
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)),
                            exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=db.max_pool_size,
                          max_overflow=db.max_overflow,
                          pool_timeout=db.pool_timeout,
                          pool_recycle=db.connection_recycle_time)
            if url.get_backend_name() in ("mysql", "mariadb"):
                kwargs["isolation_level"] = "READ COMMITTED"
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            synchronous = "NORMAL" if db.sqlite_synchronous else "OFF"
            mmap_size = db.sqlite_mmap_size
            sa.event.listen(engine, "connect",
                            lambda dbapi_conn, _record: _sqlite_on_connect(
                                dbapi_conn, synchronous, mmap_size))
        else:
            if url.get_backend_name() in ("mysql", "mariadb") and \
                    db.mysql_sql_mode:
                mode = db.mysql_sql_mode
                sa.event.listen(engine, "connect",
                                lambda dbapi_conn, _record: _set_sql_mode(
                                    dbapi_conn, mode))
            sa.event.listen(engine, "checkout", _ping_if_idle)
            sa.event.listen(engine, "checkin", _stamp_checkin)
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

    def schema_status(self):
        from freezer_api.storage.sqlalchemy import migration
        head = migration.head()
        current = self.schema_version()
        if current == head:
            return True, "The database schema is at revision %s (head)." \
                % head
        if current is None:
            return False, ("The database has no freezer-api schema: run "
                           "'freezer-manage db sync'.")
        return False, ("The database schema is at revision %s, the code "
                       "needs %s: run 'freezer-manage db sync'."
                       % (current, head))

    def wipe(self):
        with self._errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(T))

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
        for reader in list(self._readers or ()):
            with contextlib.suppress(Exception):
                reader.close()
        if self._readers:
            self._readers.clear()
        self._local = threading.local()
        self.engine.dispose()

    # -- errors -----------------------------------------------------------
    client_errors = (sa_exc.SQLAlchemyError,)

    def _translate(self, exc):
        if not isinstance(exc, sa_exc.DBAPIError):
            LOG.error("storage error: %s", exc)
            return exceptions.StorageUnavailable(
                "The database failed to serve the request.")
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
    # Building a SELECT costs more CPU than SQLite takes to run it: each
    # statement is built once per shape (which scope, which filters on
    # which kinds of values, which columns) and kept; a request only binds
    # its values.
    def _cached(self, shape, build):
        stmt = self._statements.get(shape)
        if stmt is None:
            stmt = self._statements.put(shape, build())
        return stmt

    def _bind(self, stmt, params):
        """``(sql, values)``: the SQL text of a cached statement (compiled
        once per statement) and ``params`` as the DBAPI takes them; None
        for a statement with a parameter rendered at execution (none of
        ours has one)."""
        prepared = self._compiled.get(stmt)
        if prepared is None:
            compiled = stmt.compile(dialect=self.engine.dialect)
            sql = compiled.string
            prepared = self._compiled.put(stmt, (
                None if "POSTCOMPILE" in sql else sql,
                compiled.positiontup, compiled))
        sql, positions, compiled = prepared
        if sql is None:
            return None
        values = compiled.construct_params(params)
        if positions is not None:
            values = tuple(values[name] for name in positions)
        return sql, values

    def _fetch(self, stmt, params):
        """The rows of a cached SELECT, run on a DBAPI connection itself:
        SQLAlchemy's work around every execution (a Connection, the
        compiled-cache lookup, result rows) cost more than SQLite's own."""
        bound = self._bind(stmt, params)
        if bound is None or self._readers is None:
            # (A statement with a parameter rendered at execution, none of
            # ours; an in-memory SQLite database, which exists only in the
            # pool's one connection.)
            with self._errors(), self.engine.connect() as conn:
                return conn.execute(stmt, params).all()
        sql, values = bound
        dbapi = self.engine.dialect.loaded_dbapi
        with self._errors():
            for attempt in (1, 2):
                reader = self._reader()
                try:
                    cursor = reader.cursor()
                    try:
                        cursor.execute(sql, values)
                        return cursor.fetchall()
                    finally:
                        cursor.close()
                except dbapi.Error as exc:
                    lost = self.engine.dialect.is_disconnect(
                        exc, reader, None)
                    if lost:
                        self._drop_reader()
                        if attempt == 1:
                            continue  # a read: once more, reconnected
                    raise sa_exc.DBAPIError.instance(
                        sql, values, exc, dbapi.Error,
                        connection_invalidated=lost) from exc

    # Reads run on a connection of their own per thread, kept open and in
    # autocommit mode: no pool checkout and return around every statement,
    # and on PostgreSQL no BEGIN and ROLLBACK round trips around a SELECT
    # (together more CPU than the SELECT itself). Autocommit reads see
    # every committed write, as the pooled ones did. A write of one
    # statement runs on it too; writes of several use the pool, in
    # transactions (see _write).
    def _reader(self, write=False):
        """This thread's connection, opened on first use. Before a write,
        one idle for longer than PING_AFTER is pinged, and replaced if the
        server dropped it (a restart, a failover, an idle timeout): a
        failed write is not retried (whether it committed cannot be
        known), while a read is (see _fetch)."""
        reader = getattr(self._local, "reader", None)
        now = time.monotonic()
        if reader is not None and write and self.dialect != "sqlite" and \
                now - self._local.used > PING_AFTER and \
                not _answers(reader):
            self._drop_reader()
            reader = None
        if reader is None:
            fairy = self._checkout()
            fairy.detach()  # ours now: the pool neither counts nor resets it
            reader = fairy.dbapi_connection
            try:
                _autocommit(self.dialect, reader)
            except Exception:
                with contextlib.suppress(Exception):
                    reader.close()
                raise
            self._local.reader = reader
            self._local.memo = None  # see _unless_changed
            self._readers.append(reader)
        self._local.used = now
        return reader

    def _checkout(self):
        """A DBAPI connection of the pool (the pool's errors come as they
        are, unlike Engine.connect's: made SQLAlchemy's here)."""
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            return self.engine.raw_connection()
        except dbapi.Error as exc:
            raise sa_exc.DBAPIError.instance(
                None, None, exc, dbapi.Error) from exc

    def _drop_reader(self):
        reader = getattr(self._local, "reader", None)
        self._local.reader = None
        self._local.memo = None
        if reader is not None:
            with contextlib.suppress(ValueError):
                self._readers.remove(reader)
            with contextlib.suppress(Exception):
                reader.close()

    @staticmethod
    def _scope(scope):
        """The scope's clauses, binding ``kind``, ``project_id`` and
        ``user_id`` (see ``_scope_params``)."""
        kind = T.c.kind == sa.bindparam("kind")
        if scope.all_projects:
            return [kind]
        owned = []
        if scope.project_id is not None:
            owned.append(T.c.project_id == sa.bindparam("project_id"))
        if scope.user_id is not None:
            owned.append(T.c.user_id == sa.bindparam("user_id"))
        if scope.central_clients:
            return [kind, sa.or_(sa.and_(*owned),
                                 T.c.status == sa.bindparam("central"))]
        return [kind] + owned

    @staticmethod
    def _scope_params(kind, scope):
        params = {"kind": kind}
        if not scope.all_projects:
            if scope.project_id is not None:
                params["project_id"] = scope.project_id
            if scope.user_id is not None:
                params["user_id"] = scope.user_id
            if scope.central_clients:
                params["central"] = kinds.CENTRAL
        return params

    @staticmethod
    def _scope_shape(scope):
        return (scope.project_id is not None, scope.user_id is not None,
                scope.all_projects, scope.central_clients)

    def get(self, kind, scope, doc_id):
        prefer = scope.project_id is None and \
            scope.prefer_project is not None
        params = self._scope_params(kind, scope)
        params["doc_id"] = doc_id
        if prefer:
            params["prefer_project"] = scope.prefer_project

        def build():
            stmt = (sa.select(T.c.pk, T.c.version, T.c.doc,
                              *(T.c[name] for name in _KEPT))
                    .where(*self._scope(scope),
                           T.c.doc_id == sa.bindparam("doc_id")))
            if prefer:
                stmt = stmt.order_by(sa.case(
                    (T.c.project_id == sa.bindparam("prefer_project"), 0),
                    else_=1), T.c.pk)
            return stmt.limit(1)
        stmt = self._cached(("get", self._scope_shape(scope), prefer), build)
        rows = self._fetch(stmt, params)
        if not rows:
            raise exceptions.NotFound(
                "No %s found with ID %s" % (kind[:-1], doc_id))
        pk, version, doc, *kept = rows[0]
        # The key: the row, and what its columns other than the document
        # hold (an update writes only those that change, see apply).
        return base.Record(kind=kind, doc=_loads(doc), version=version,
                           key=(pk, tuple(kept)))

    def statement(self, kind, scope, query, *columns):
        """The SELECT of ``columns`` of one page of ``search``, and the
        values to bind: ``(statement, params)``."""
        params = self._scope_params(kind, scope)
        params.update(limit=query.limit, offset=query.offset)
        terms = []
        for negate, pairs in ((False, query.match), (True, query.match_not)):
            for key, value in pairs:
                how, bound = self._term_value(kind, key, value)
                if bound is not None:
                    params["term%d" % len(terms)] = bound
                terms.append((key, negate, how))
        if query.time_after is not None:
            params["time_after"] = query.time_after
        if query.time_before is not None:
            params["time_before"] = query.time_before
        if query.text:
            params["text"] = "%" + query.text.replace("\\", "\\\\").replace(
                "%", "\\%").replace("_", "\\_") + "%"

        def build():
            clauses = self._scope(scope)
            for number, (key, negate, how) in enumerate(terms):
                clauses.append(self._term(key, negate, how,
                                          sa.bindparam("term%d" % number)))
            if query.time_after is not None:
                clauses.append(T.c.time_ts >= sa.bindparam("time_after"))
            if query.time_before is not None:
                clauses.append(T.c.time_ts <= sa.bindparam("time_before"))
            if query.text:
                clauses.append(self._text(sa.bindparam("text")))
            return (sa.select(*columns).where(*clauses).order_by(T.c.pk)
                    .limit(sa.bindparam("limit", type_=sa.Integer))
                    .offset(sa.bindparam("offset", type_=sa.Integer)))
        shape = ("search", self._scope_shape(scope), tuple(terms),
                 query.time_after is not None, query.time_before is not None,
                 bool(query.text), tuple(column.key for column in columns))
        return self._cached(shape, build), params

    def search(self, kind, scope, query):
        stmt, params = self.statement(kind, scope, query, T.c.doc)
        return [_loads(doc) for doc, in self._fetch(stmt, params)]

    def page(self, kind, scope, query):
        stmt, params = self.statement(kind, scope, query, T.c.pk,
                                      T.c.changed, T.c.doc)
        rows = self._fetch(stmt, params)
        return base.Page([_loads(doc) for _pk, _changed, doc in rows],
                         base.page_fingerprint(
                             (pk, changed) for pk, changed, _doc in rows))

    def fingerprint(self, kind, scope, query):
        def read():
            # The same walk of the index as the page, without reading (or
            # decoding) the documents.
            stmt, params = self.statement(kind, scope, query, T.c.pk,
                                          T.c.changed)
            return base.page_fingerprint(self._fetch(stmt, params))
        return self._unless_changed(_memo_key(kind, scope, query), read)

    # An agent whose jobs did not change asks for the same fingerprint
    # poll after poll. SQLite says, for the price of a pragma, whether any
    # other connection (any process) committed since a connection last
    # asked: ``PRAGMA data_version``. While it holds still, what the
    # last reads found is still the answer. (A write on the reading
    # connection itself, which that pragma does not count, forgets it all:
    # see _write.)
    MAX_REMEMBERED = 4096

    def _unless_changed(self, key, read):
        """``read()``, or what it returned for ``key`` since the database
        last changed (SQLite; elsewhere, or without a key: ``read()``)."""
        if key is None or self.dialect != "sqlite" or self._readers is None:
            return read()
        dbapi = self.engine.dialect.loaded_dbapi
        with self._errors():
            reader = self._reader()
            try:
                version = reader.execute("PRAGMA data_version").fetchone()
            except dbapi.Error as exc:
                raise sa_exc.DBAPIError.instance(
                    "PRAGMA data_version", (), exc, dbapi.Error) from exc
        memo = self._local.memo
        if memo is None or memo[0] != version:
            # (The version is read before ``read()``: a commit in between
            # only makes the next call read again.)
            memo = self._local.memo = (
                version, cache.Bounded(self.MAX_REMEMBERED))
        found = memo[1].get(key)
        if found is None:
            found = memo[1].put(key, read())
        return found

    def count(self, kind):
        with self._errors(), self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(T)
                                .where(T.c.kind == kind)).scalar_one()

    @staticmethod
    def _term_value(kind, key, value):
        """How the term ``key`` = ``value`` is matched, and the value it
        binds: ``("column", name)`` and the value for an indexed column,
        ``("never", None)`` and None when it cannot hold (an indexed
        column holds only strings), ``("leaf", None)`` and the JSON text of
        the value for any other key."""
        column = kinds.FILTER_FIELDS[kind].get(key) or \
            kinds.COMMON_FILTER_FIELDS.get(key)
        if column is None:
            # Not ASCII-escaped: MariaDB's JSON_CONTAINS compares "\u00e9"
            # and "é" as different strings (documents are stored
            # unescaped).
            return ("leaf", None), json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str):
            return ("never", None), None
        return ("column", column), value

    def _term(self, key, negate, how, bound):
        """The clause of a term (see ``_term_value``)."""
        if how[0] == "never":
            return sa.true() if negate else sa.false()
        if how[0] == "column":
            col = T.c[how[1]]
            if negate:
                return sa.or_(col.is_(None), col != bound)
            return col == bound
        positive = self._leaf_equals(key, bound)
        return sa.not_(positive) if negate else positive

    def _leaf_equals(self, key, encoded):
        """True where some leaf of the document named ``key`` equals the
        JSON scalar ``encoded`` (its JSON text, bound). ``key`` was checked
        against ``search.KEY_RE``, so it is safe inside a JSON path."""
        if self.dialect == "sqlite":
            tree = sa.func.json_tree(T.c.doc).table_valued(
                "key", "atom", "type").alias("leaf")
            return sa.exists(
                sa.select(sa.literal(1)).select_from(tree).where(
                    tree.c.key == key,
                    tree.c.type != "object", tree.c.type != "array",
                    tree.c.atom == sa.func.json_extract(encoded, "$")))
        if self.dialect == "postgresql":
            path = 'lax $.**."%s" ? (@ == $v)' % key
            return sa.func.jsonb_path_exists(
                sa.cast(T.c.doc, postgresql.JSONB),
                sa.cast(sa.literal(path), postgresql.JSONPATH),
                sa.func.jsonb_build_object(
                    "v", sa.cast(encoded, postgresql.JSONB)))
        # MySQL and MariaDB
        return sa.func.coalesce(sa.func.json_contains(
            sa.func.json_extract(T.c.doc, '$**."%s"' % key), encoded),
            0) == 1

    def _text(self, pattern):
        if self.dialect == "postgresql":
            return T.c.doc.ilike(pattern, escape="\\")
        return T.c.doc.like(pattern, escape="\\")

    # -- writes -----------------------------------------------------------
    def _row(self, kind, doc):
        row = kinds.indexed_fields(kind, doc)
        row.update(doc=_dumps(doc), doc_id=kinds.doc_id(kind, doc),
                   user_id=doc.get("user_id") or "",
                   project_id=doc.get("project_id") or "",
                   changed=self.stamps.next())
        return row

    def apply(self, operations):
        if len(operations) > 1 and \
                all(isinstance(op, base.Insert) for op in operations):
            try:
                return self._insert_many(operations)
            except exceptions.AlreadyExists:
                pass  # one by one below, to name the id that is taken
        steps, versions = [], []
        for op in operations:
            if isinstance(op, base.Insert):
                row = self._row(op.kind, op.doc)
                row.update(kind=op.kind, version=1)
                steps.append((_INSERT, row))
                versions.append(1)
            elif isinstance(op, base.Update):
                rec = op.record
                row = self._row(rec.kind, op.doc)
                row["version"] = rec.version + 1
                pk, kept = rec.key
                row.update(read_pk=pk, read_version=rec.version)
                steps.append((self._update(tuple(
                    name for name, old in zip(_KEPT, kept)
                    if row[name] != old)), row))
                versions.append(rec.version + 1)
            elif isinstance(op, base.Delete):
                rec = op.record
                steps.append((_DELETE, {"read_pk": rec.key[0],
                                        "read_version": rec.version}))
                versions.append(None)
            else:
                raise TypeError("unknown operation %r" % (op,))
        with self._errors():
            self._write(steps)
        return versions

    def _update(self, changed):
        """The compare-and-set UPDATE setting ``version``, ``doc``,
        ``changed`` and the columns named in ``changed`` (in _KEPT's
        order)."""
        return self._cached(("update", changed), lambda: sa.update(T).where(
            *_CAS).values({name: sa.bindparam(name) for name in (
                "version", "doc", "changed") + changed}))

    def _write(self, steps):
        """Run ``steps`` (``(statement, params)``: inserts and
        compare-and-set updates and deletes) as one transaction, committed
        only if every insert added its row and every update or delete
        found its row at the version read: AlreadyExists or
        VersionConflict otherwise, and nothing is written.

        One statement is atomic by itself: it runs on this thread's
        autocommit connection (see _reader), without the BEGIN and COMMIT
        round trips and the pool checkout. Several run in a transaction on
        a pooled connection. Like reads, writes skip SQLAlchemy's
        Connection (the statements are few and fixed; its work per
        statement was more than a write's own). (psycopg's pipeline mode,
        BEGIN and the statements in one round trip, measured slower here
        than one statement at a time.)"""
        dbapi = self.engine.dialect.loaded_dbapi
        alone = len(steps) == 1 and self._readers is not None
        conn = self._reader(write=True) if alone else self._checkout()
        current = [None, None]  # the statement running, for errors
        cursor = None
        try:
            cursor = conn.cursor()
            for stmt, params in steps:
                current[:] = self._bind(stmt, params)
                try:
                    cursor.execute(*current)
                except dbapi.IntegrityError:
                    if stmt is _INSERT:
                        raise exceptions.AlreadyExists(
                            "A document with ID %s already exists"
                            % params["doc_id"])
                    raise
                if stmt is not _INSERT and cursor.rowcount != 1:
                    raise exceptions.VersionConflict("stale version")
            if not alone:
                conn.commit()
        except BaseException as exc:
            if not alone:
                with contextlib.suppress(Exception):
                    conn.rollback()
            if not isinstance(exc, dbapi.Error):
                raise
            lost = self.engine.dialect.is_disconnect(
                exc, conn if alone else conn.dbapi_connection, cursor)
            if lost:
                if alone:
                    self._drop_reader()
                else:
                    conn.invalidate(exc)  # not back into the pool
            raise sa_exc.DBAPIError.instance(
                current[0], current[1], exc, dbapi.Error,
                connection_invalidated=lost) from exc
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            if alone:
                # Its own commits do not move the reading connection's
                # data_version: forget what it remembered.
                self._local.memo = None
            else:
                conn.close()

    def _insert_many(self, operations):
        """Only inserts: one multi-row statement (freezer-manage copies
        pages of 500 documents), in order, in one transaction."""
        rows = []
        for op in operations:
            row = self._row(op.kind, op.doc)
            row.update(kind=op.kind, version=1)
            rows.append(row)
        if self.dialect == "postgresql":
            # One INSERT ... VALUES (...), (...): psycopg's executemany
            # pipeline would log a warning whenever an id is taken.
            stmt, params = sa.insert(T).values(rows), None
        else:
            stmt, params = sa.insert(T), rows
        with self._errors(), self.engine.begin() as conn:
            try:
                conn.execute(stmt, params)
            except sa_exc.IntegrityError:
                raise exceptions.AlreadyExists("a document already exists")
        return [1] * len(rows)

    def load(self, operations):
        # One executemany (psycopg pipelines it): several times faster
        # than _insert_many's multi-row statements on PostgreSQL.
        rows = []
        for op in operations:
            if not isinstance(op, base.Insert):
                raise TypeError("load takes only inserts, not %r" % (op,))
            row = self._row(op.kind, op.doc)
            row.update(kind=op.kind, version=1)
            rows.append(row)
        with self._errors(), self.engine.begin() as conn:
            try:
                conn.execute(_INSERT, rows)
            except sa_exc.IntegrityError:
                raise exceptions.AlreadyExists("a document already exists")

    def healthcheck(self):
        with self._errors(), self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))


# A server may have dropped a pooled connection (restart, failover, idle
# timeout): a connection that has waited in the pool longer than this is
# pinged before use, and replaced if the ping fails. SQLAlchemy's
# pool_pre_ping pinged on every checkout, a second round trip for every
# statement of a busy server; a connection used a moment ago is known to
# work. (A SQLite file needs no ping.)
PING_AFTER = 1.0


def _ping_if_idle(dbapi_conn, record, _proxy):
    returned = record.info.get("returned")
    if returned is None or time.monotonic() - returned <= PING_AFTER:
        return  # new, or used a moment ago
    if not _answers(dbapi_conn):
        # The pool replaces the connection and tries again.
        raise sa_exc.DisconnectionError("the database server dropped the "
                                        "connection")


def _memo_key(kind, scope, query):
    """A key equal for two searches exactly when they are the same search,
    or None. Only string values: Python finds 1, 1.0 and True equal, JSON
    does not."""
    for _key, value in query.match + query.match_not:
        if type(value) is not str:
            return None
    return (kind, scope, query)


def _answers(dbapi_conn):
    """Whether a DBAPI connection still reaches its server."""
    try:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()
    except Exception:
        return False
    return True


def _autocommit(dialect, dbapi_conn):
    """Put a DBAPI connection of ``dialect`` in autocommit mode (out of
    the transaction the dialect's first-connection queries may have left
    open)."""
    dbapi_conn.rollback()
    if dialect == "sqlite":
        dbapi_conn.isolation_level = None
    elif dialect == "postgresql":
        dbapi_conn.autocommit = True
    else:  # MySQL, MariaDB (PyMySQL, mysqlclient)
        dbapi_conn.autocommit(True)


def _stamp_checkin(_dbapi_conn, record):
    record.info["returned"] = time.monotonic()


def _sqlite_on_connect(dbapi_conn, synchronous, mmap_size):
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=%s" % synchronous)
    cursor.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map copy no page from the OS's cache into
    # SQLite's own: the poll's index pages are read where they are.
    cursor.execute("PRAGMA mmap_size=%d" % mmap_size)
    cursor.close()


def _set_sql_mode(dbapi_conn, mode):
    cursor = dbapi_conn.cursor()
    cursor.execute("SET SESSION sql_mode = %s", (mode,))
    cursor.close()
