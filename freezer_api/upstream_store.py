"""Reading upstream freezer-api's stores: ``freezer-manage import-upstream``.

Two kinds of store are read, never written:

* upstream's SQL database (18.0.0 or 19.0.0, on SQLite, MySQL/MariaDB or
  PostgreSQL), given as a SQLAlchemy URL. The layout is told by the
  tables: 18.0.0 keeps a job's actions as JSON in ``jobs.job_actions``,
  19.0.0 in the ``job_actions`` table (and has ``user_credentials``).
  Soft-deleted rows (``deleted`` true) are not documents any more and are
  skipped (and counted). Every other row becomes the document upstream's
  API answered for it (``GET`` by id), built the way upstream builds it:
  JSON text columns decoded, an action's ``freezer_action`` overwritten by
  its columns, 19.0.0's job actions rebuilt from their rows.
* upstream's Elasticsearch index (``http(s)://host:port/<index>``, index
  ``freezer`` when the URL names none): its ``_source`` bodies are the
  documents. The kind of a hit is its doc type (18.0.0 and before), or,
  in 19.0.0's untyped index, told by the document's own id field.

``UpstreamSource`` offers what ``freezer_api.transfer`` reads from a
source (``search`` of every document of a kind, oldest first, and
``count``), so the import shares migrate's batching, progress bar, resume
and count check. A row that cannot become a document of this service is
*refused* with its reason (``refusals``), never dropped silently.

A kind's documents are held in memory while it is copied (upstream stores
hold thousands of documents, not millions).
"""

import dataclasses
import json
import urllib.parse

import sqlalchemy as sa

from freezer_api import exceptions
from freezer_api.api import params
from freezer_api.domain import kinds

MAX_ID = 255
# The id field of each kind in upstream's Elasticsearch documents, in the
# order that tells the kinds of 19.0.0's untyped index apart (a job also
# holds a session_id, a backup's job_id is inside backup_metadata).
ES_KIND_FIELDS = ((kinds.CLIENTS, "client"), (kinds.BACKUPS, "backup_id"),
                  (kinds.JOBS, "job_id"), (kinds.ACTIONS, "action_id"),
                  (kinds.SESSIONS, "session_id"))
# The freezer_action keys upstream's SQL store keeps in columns of their
# own, and reads back over the JSON (``None`` when the column is NULL).
ACTION_COLUMNS = (("backup_name", "backup_name"), ("action", "action"),
                  ("mode", "actionmode"), ("container", "container"),
                  ("timeout", "timeout"), ("priority", "priority"),
                  ("path_to_backup", "path_to_backup"),
                  ("log_file", "log_file"))
RELEASES = {"23c8ad2655a6": "18.0.0", "7a3b9c1d2e4f": "19.0.0"}


class UnusableRow(Exception):
    """A row that cannot become a document; the message says why."""


@dataclasses.dataclass(frozen=True)
class Refusal:
    kind: str
    source_id: str
    reason: str


def is_search_engine_url(spec):
    return urllib.parse.urlsplit(spec).scheme.lower() in ("http", "https")


def open_source(spec):
    """The ``UpstreamSource`` of a SQLAlchemy or search-engine URL."""
    if is_search_engine_url(spec):
        return ElasticsearchSource(spec)
    return SQLSource(spec)


class UpstreamSource:
    """What ``transfer`` reads from a source, over upstream's store."""

    name = "upstream"
    layout = "?"

    def __init__(self):
        self._docs = {}        # the kind being copied: its documents
        self.refusals = {kind: [] for kind in kinds.ALL_KINDS}
        self.deleted = dict.fromkeys(kinds.ALL_KINDS, 0)
        self.live = dict.fromkeys(kinds.ALL_KINDS, 0)

    def rows(self, kind):
        """``(source id, document)`` of each live row of ``kind``, oldest
        first; the document is an ``UnusableRow`` for a row that cannot
        be read. Counts the deleted rows it skips in ``self.deleted``."""
        raise NotImplementedError

    def documents(self, kind):
        if kind not in self._docs:
            self._docs = {kind: self._load(kind)}
        return self._docs[kind]

    def _load(self, kind):
        self.refusals[kind], self.deleted[kind] = [], 0
        docs, seen = [], {}
        for source_id, doc in self.rows(kind):
            try:
                if isinstance(doc, UnusableRow):
                    raise doc
                key = storable(kind, doc)
                if key in seen:
                    raise UnusableRow(
                        "its %s %r is already the id of %s in project %r "
                        "(ids are unique per project here; the first "
                        "created is imported)" % (
                            kinds.ID_FIELDS[kind], key[1], seen[key],
                            key[0]))
            except UnusableRow as exc:
                self.refusals[kind].append(Refusal(kind, source_id,
                                                   str(exc)))
                continue
            seen[key] = source_id
            docs.append(doc)
        self.live[kind] = len(docs) + len(self.refusals[kind])
        return docs

    # -- the source side of StorageDriver that transfer uses --------------
    def search(self, kind, scope, query):
        docs = self.documents(kind)
        return docs[query.offset:query.offset + query.limit]

    def count(self, kind):
        return len(self.documents(kind))

    def close(self):
        self._docs = {}


def storable(kind, doc):
    """``(project, id)`` of ``doc`` when this service can hold it;
    UnusableRow saying why not otherwise."""
    doc_id = kinds.doc_id(kind, doc)
    for field, value, empty_ok in (
            (kinds.ID_FIELDS[kind], doc_id, False),
            ("user_id", doc.get("user_id"), False),
            ("project_id", doc.get("project_id"), True)):
        if not isinstance(value, str) or not (value or empty_ok):
            raise UnusableRow("%s is %r, not an id" % (field, value))
        if len(value) > MAX_ID or any(ord(c) < 32 or c == "\x7f"
                                      for c in value):
            raise UnusableRow("%s %r is not an id of at most %d printable "
                              "characters" % (field, value[:64], MAX_ID))
    try:
        params.parse_document(json.dumps(doc))
    except exceptions.InvalidInput as exc:
        raise UnusableRow("it holds a value no backend stores: %s" % exc)
    return doc.get("project_id"), doc_id


def decode(row, column, default=None):
    """The JSON text of ``row[column]`` decoded (``default`` when NULL)."""
    text = row[column]
    if text is None:
        return default
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UnusableRow("column %s is not valid JSON (%s; cut short by a "
                          "MySQL TEXT limit?)" % (column, exc))


def project_of(row):
    """v1 rows have no project; here they belong to the empty project,
    which v1 callers reach (by user) and v2 callers never do."""
    return row["project_id"] or ""


# -- SQL ------------------------------------------------------------------
FALLBACK_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql"}


def with_installed_driver(url):
    """``url``, naming a database driver this service has when the one it
    names is not installed: upstream's ``postgresql://`` (psycopg2) and
    ``mysql://`` (mysqlclient) are read with psycopg and PyMySQL. MySQL
    is read in utf8mb4 whatever the URL says (devstack and kolla write
    ``charset=utf8``, which reads 4-byte characters as ``?``)."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() == "mysql":
        url = url.update_query_dict({"charset": "utf8mb4"})
    try:
        url.get_dialect().import_dbapi()
    except ImportError:
        fallback = FALLBACK_DRIVERS.get(url.get_backend_name())
        if fallback is None:
            raise
        url = url.set(drivername="%s+%s" % (url.get_backend_name(),
                                            fallback))
    return url


class SQLSource(UpstreamSource):
    """Upstream's SQL database, 18.0.0 or 19.0.0 layout."""

    name = "upstream SQL"

    def __init__(self, url):
        super().__init__()
        try:
            self.engine = sa.create_engine(with_installed_driver(url))
            self.meta = sa.MetaData()
            self.meta.reflect(self.engine)
        except (sa.exc.ArgumentError, ValueError, ImportError) as exc:
            raise exceptions.FreezerError("not a usable database URL: %s"
                                          % exc)
        except sa.exc.SQLAlchemyError as exc:
            raise exceptions.StorageUnavailable(
                "cannot read the upstream database: %s" % exc)
        tables = self.meta.tables
        missing = [t for t in ("clients", "actions", "jobs", "sessions",
                               "backups") if t not in tables]
        if missing:
            raise exceptions.FreezerError(
                "not an upstream freezer-api database (no table %s)"
                % ", ".join(missing))
        self.v19 = "job_actions" in tables
        self.revision = self._revision()
        self.layout = "%s (alembic revision %s)" % (
            RELEASES.get(self.revision, "19.0.0-like" if self.v19
                         else "18.0.0-like"), self.revision or "none")

    def _revision(self):
        table = self.meta.tables.get("alembic_version")
        if table is None:
            return None
        with self.engine.connect() as conn:
            return conn.execute(sa.select(table.c.version_num)).scalar()

    def _live(self, conn, name, kind=None):
        """The rows of table ``name``: live ones in order, deleted ones
        counted (for ``kind``)."""
        table = self.meta.tables[name]
        order = [table.c.created_at, table.c.id]
        for row in conn.execute(sa.select(table).order_by(*order)).mappings():
            if row["deleted"]:
                if kind:
                    self.deleted[kind] += 1
                continue
            yield row

    def rows(self, kind):
        build = getattr(self, "_" + kind)
        with self.engine.connect() as conn:
            extra = self._job_extras(conn) if kind == kinds.JOBS else None
            for row in self._live(conn, kind, kind):
                try:
                    doc = build(row, extra) if extra is not None \
                        else build(row)
                except UnusableRow as exc:
                    doc = exc
                yield row["id"], doc

    def close(self):
        super().close()
        self.engine.dispose()

    # -- one builder per kind: upstream's GET answer ----------------------
    def _clients(self, row):
        client = {"uuid": row["uuid"], "hostname": row["hostname"],
                  "client_id": row["client_id"],
                  "description": row["description"]}
        for listing in ("supported_actions", "supported_modes",
                        "supported_storages", "supported_engines"):
            client[listing] = decode(row, listing) or []
        if "is_central" in row:
            client["is_central"] = bool(row["is_central"])
        return {"client": client, "client_id": row["client_id"],
                "user_id": row["user_id"], "project_id": project_of(row)}

    @staticmethod
    def _action(row):
        freezer_action = decode(row, "backup_metadata") or {}
        if not isinstance(freezer_action, dict):
            raise UnusableRow("column backup_metadata is not an object")
        for key, column in ACTION_COLUMNS:
            freezer_action[key] = row[column]
        return {"project_id": project_of(row), "action_id": row["id"],
                "user_id": row["user_id"],
                "max_retries": row["max_retries"],
                "max_retries_interval": row["max_retries_interval"],
                "freezer_action": freezer_action}

    def _actions(self, row):
        return self._action(row)

    def _job_extras(self, conn):
        """19.0.0: each job's actions (as upstream rebuilds them) and
        credentials; 18.0.0: nothing."""
        extra = {"actions": {}, "credentials": {}}
        if not self.v19:
            return extra
        actions = {}
        for row in self._live(conn, "actions"):
            try:
                actions[row["id"]] = (row["project_id"], self._action(row))
            except UnusableRow:
                pass  # refused as an action, and absent from its jobs
        links = self.meta.tables["job_actions"]
        query = sa.select(links).where(
            sa.not_(sa.func.coalesce(links.c.deleted, False))).order_by(
            links.c.job_id, links.c.position, links.c.id)
        for link in conn.execute(query).mappings():
            extra["actions"].setdefault(link["job_id"], []).append(
                actions.get(link["action_id"]))
        if "user_credentials" in self.meta.tables:
            for row in self._live(conn, "user_credentials"):
                extra["credentials"][row["job_id"]] = {
                    "trust_id": row["trust_id"],
                    "trustor_user_id": row["trustor_user_id"]}
        return extra

    def _jobs(self, row, extra):
        doc = {"job_id": row["id"], "project_id": project_of(row),
               "user_id": row["user_id"],
               "job_schedule": decode(row, "schedule"),
               "client_id": row["client_id"],
               "session_id": row["session_id"],
               "session_tag": row["session_tag"],
               "description": row["description"]}
        if self.v19:
            # Upstream reads the job's actions in the job's project; a
            # missing (deleted) action is left out.
            doc["job_actions"] = [
                action for project, action in filter(
                    None, extra["actions"].get(row["id"], []))
                if row["project_id"] is None or project == row["project_id"]]
            if row["id"] in extra["credentials"]:
                doc["user_credentials"] = extra["credentials"][row["id"]]
        else:
            doc["job_actions"] = decode(row, "job_actions")
        return doc

    def _sessions(self, row):
        doc = {"project_id": project_of(row), "session_id": row["id"],
               "user_id": row["user_id"], "description": row["description"],
               "session_tag": row["session_tag"], "result": row["result"],
               "hold_off": row["hold_off"], "status": row["status"],
               "time_ended": row["time_ended"],
               "time_started": row["time_started"],
               "time_end": row["time_end"], "time_start": row["time_start"],
               "schedule": decode(row, "schedule")}
        if row["job"] is not None:
            doc["jobs"] = decode(row, "job")
        return doc

    def _backups(self, row):
        doc = {"project_id": project_of(row), "backup_id": row["id"],
               "user_id": row["user_id"]}
        if "user_name" in row:
            doc["user_name"] = row["user_name"]
        if "status" in row:
            doc["status"] = row["status"]
        doc["backup_metadata"] = decode(row, "backup_metadata")
        return doc


# -- Elasticsearch ------------------------------------------------------------
class ElasticsearchSource(UpstreamSource):
    """Upstream's index: typed (18.0.0 and before) or untyped (19.0.0)."""

    name = "upstream Elasticsearch"
    PAGE = 500

    def __init__(self, url):
        super().__init__()
        import opensearchpy  # only needed here

        parts = urllib.parse.urlsplit(url)
        self.index = parts.path.strip("/") or "freezer"
        host = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "",
                                        ""))
        self.client = opensearchpy.OpenSearch(hosts=[host], timeout=60)
        self._errors = opensearchpy.exceptions.OpenSearchException
        self.layout = "Elasticsearch index %s" % self.index
        self._hits = None

    def _all_hits(self):
        """Every hit of the index, in index order, read once."""
        if self._hits is None:
            hits, after = [], None
            try:
                while True:
                    body = {"query": {"match_all": {}}, "size": self.PAGE,
                            "sort": ["_doc"]}
                    page = self.client.search(
                        index=self.index, body=body, scroll="2m") \
                        if after is None else self.client.scroll(
                            scroll_id=after, scroll="2m")
                    after = page.get("_scroll_id")
                    batch = page["hits"]["hits"]
                    hits.extend(batch)
                    if len(batch) < self.PAGE:
                        break
            except self._errors as exc:
                raise exceptions.StorageUnavailable(
                    "cannot read the index %s: %s" % (self.index, exc))
            finally:
                if after:
                    try:
                        self.client.clear_scroll(scroll_id=after)
                    except self._errors:
                        pass
            self._hits = hits
        return self._hits

    @staticmethod
    def kind_of(hit):
        if hit.get("_type") in kinds.ALL_KINDS:
            return hit["_type"]
        source = hit.get("_source") or {}
        for kind, field in ES_KIND_FIELDS:
            if field in source:
                return kind
        return None

    def rows(self, kind):
        for hit in self._all_hits():
            if self.kind_of(hit) != kind:
                continue
            doc = dict(hit.get("_source") or {})
            doc.pop("_version", None)
            doc["project_id"] = doc.get("project_id") or ""
            if kind == kinds.CLIENTS:
                client = doc.get("client")
                if not isinstance(client, dict) or \
                        not client.get("client_id"):
                    doc = UnusableRow("no client.client_id")
                else:
                    doc["client_id"] = client["client_id"]
            elif not doc.get(kinds.ID_FIELDS[kind]):
                doc = UnusableRow("no %s" % kinds.ID_FIELDS[kind])
            yield hit["_id"], doc

    def unknown(self):
        """Hits of no known kind: ``(_id, reason)``."""
        return [(hit["_id"], "of no kind (type %r, keys %s)" % (
            hit.get("_type"), ", ".join(sorted(hit.get("_source") or {}))))
            for hit in self._all_hits() if self.kind_of(hit) is None]

    def close(self):
        super().close()
        self.client.close()
