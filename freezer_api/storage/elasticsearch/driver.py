"""Search-engine driver: Elasticsearch 7.10+/8/9 or OpenSearch 1-3.

It speaks only the REST API those engines share (document index/get/mget/
delete/bulk with ``if_seq_no``/``if_primary_term``, search with
``search_after``, index and alias management), through ``opensearch-py``
(over the lean connection of ``connection`` for plain-http hosts), and runs
no scripts.

Layout (see ``mappings``): one index per kind behind an alias; the engine
``_id`` is a hash of (project, document id), so an id is unique per project
and kind. Every stored document keeps its own ``version`` (1 on insert, +1
per update) and ``seq`` (taken from the clock on insert and kept on update:
lists are ordered by it, oldest first).

Reads: ``get`` reads by ``_id`` (real time) whenever the scope names the
project; a v1 scope first tries the preferred project the same way, then
finds the id with a search and reads it again by ``_id``. ``search`` pages
with ``from``/``size``, and with ``search_after`` beyond the engine's
result window.

Writes and their guarantee. ``Record.key`` holds the ``_seq_no`` and
``_primary_term`` the document was read at; an Update or Delete carries them
as ``if_seq_no``/``if_primary_term``, so the engine refuses it (409) if the
document changed or disappeared in between: that is ``VersionConflict``.
An Insert uses ``op_type=create`` (409: ``AlreadyExists``). ``apply``:

1. checks every operation against the engine first (one real-time ``mget``:
   ids to insert are free, documents to change are still at the read
   version) and raises, having written nothing, if one is not;
2. sends all operations in one ``bulk`` request that returns only once
   they are searchable (``refresh=wait_for``);
3. if any of them failed anyway (a race between 1 and 2), undoes the ones
   that succeeded with compensating compare-and-set writes (an insert is
   deleted, an update's previous document and version are written back, a
   deleted document is created again), then raises the first failure.

So without a failure or a race, all operations are applied; after a lost
race or a refused operation, none are — except in two cases: the engine
becomes unreachable during step 2 or before step 3 ends
(``StorageUnavailable``; some operations may remain), or another writer
changed one of our documents between steps 2 and 3 (its write, based on
what it read, is kept; logged as an error). This is not isolation: other
readers may see the operations of one ``apply`` land one by one, and, when
step 3 runs, briefly see writes that are then undone.

Failures: an unreachable or failing engine is ``StorageUnavailable``; no
exception of the client leaves this module.
"""

import contextlib
import hashlib
import json
import logging
import typing

import opensearchpy
from opensearchpy import exceptions as os_exc
from opensearchpy import serializer as os_serializer
import orjson

from freezer_api import exceptions
from freezer_api.conf import elasticsearch as es_conf
from freezer_api.domain import kinds
from freezer_api.storage import base
from freezer_api.storage.elasticsearch import connection
from freezer_api.storage.elasticsearch import mappings

LOG = logging.getLogger(__name__)

# The engine refuses a search whose from + size is larger than this (the
# default of the index setting index.max_result_window).
RESULT_WINDOW = 10000

# Appended to the searchable text so that every one- or two-character
# substring starts a trigram; JSON text never holds a raw NUL character.
TEXT_PADDING = "\x00\x00"

# Lists are in insertion order; (project_id, doc_id) is unique in an index,
# so the order is total and search_after never skips or repeats a document.
SORT = [{"seq": "asc"}, {"project_id": "asc"}, {"doc_id": "asc"}]

MATCH_NONE = {"match_none": {}}


class DocKey(typing.NamedTuple):
    """``Record.key`` of this driver: where and at what state a document
    was read."""

    id: str            # the engine's _id
    seq_no: int        # _seq_no and _primary_term: the compare-and-set pair
    primary_term: int
    seq: int           # insertion order, kept by updates


# -- pure helpers (unit-tested without an engine) --------------------------

def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def document_id(project_id, doc_id):
    """The engine ``_id`` of document ``doc_id`` of ``project_id``: a
    SHA-256 of both, so it is unique per project, fixed-length and safe in a
    URL whatever the ids hold."""
    return hashlib.sha256(_dumps([project_id, doc_id]).encode()).hexdigest()


def leaf_term(key, value):
    """The ``leaves`` entry of a scalar ``value`` found under ``key``.

    The value is JSON-encoded, so types stay apart (2, "2" and true are
    three different terms); a float holding an integer is the integer, as
    JSON numbers compare in the SQL driver.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "%s=%s" % (key, _dumps(value))


def leaf_terms(doc):
    """Every scalar leaf of ``doc`` as a ``leaf_term``, at any depth.

    The elements of an array count as leaves of the array's key (like a
    JSON path ``$.**.key`` in lax mode); nulls are left out (a search value
    is never null).
    """
    terms = set()
    pending = [(None, doc)]
    while pending:
        key, value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.items())
        elif isinstance(value, list):
            pending.extend((key, item) for item in value)
        elif key is not None and value is not None:
            terms.add(leaf_term(key, value))
    return sorted(terms)


def searchable_text(doc):
    """What free-text search looks in: the document's compact JSON text,
    lowercased (the same text the SQL driver matches with LIKE)."""
    return _dumps(doc).lower() + TEXT_PADDING


def text_clause(text):
    """A query clause true where ``text`` occurs in ``searchable_text``,
    ignoring case. Every character is literal."""
    needle = text.lower()
    if not needle or "\x00" in needle:
        return MATCH_NONE
    if len(needle) >= 3:
        # The trigrams of the needle, at consecutive positions.
        return {"match_phrase": {"text": {"query": needle}}}
    # Shorter than a trigram: it starts one (thanks to TEXT_PADDING).
    return {"prefix": {"text": {"value": needle}}}


def scope_clauses(scope):
    if scope.all_projects:
        return []
    clauses = []
    if scope.project_id is not None:
        clauses.append({"term": {"project_id": scope.project_id}})
    if scope.user_id is not None:
        clauses.append({"term": {"user_id": scope.user_id}})
    if scope.central_clients:
        return [{"bool": {"should": [
            {"bool": {"filter": clauses}},
            {"term": {"status": kinds.CENTRAL}}],
            "minimum_should_match": 1}}]
    return clauses


def in_scope(scope, source):
    """Whether a stored document (its ``_source``) is visible to ``scope``;
    the same test as ``scope_clauses``, for documents read by ``_id``."""
    if scope.all_projects:
        return True
    if scope.central_clients and source.get("status") == kinds.CENTRAL:
        return True
    return (scope.project_id is None or
            source["project_id"] == scope.project_id) and \
        (scope.user_id is None or source["user_id"] == scope.user_id)


def term_clause(kind, key, value):
    """The clause "``key`` equals ``value``", or None when it can never
    hold (an indexed field holds only strings)."""
    field = kinds.FILTER_FIELDS[kind].get(key) or \
        kinds.COMMON_FILTER_FIELDS.get(key)
    if field is None:
        return {"term": {"leaves": leaf_term(key, value)}}
    if not isinstance(value, str):
        return None
    return {"term": {field: value}}


def build_query(kind, scope, query):
    """The engine query selecting what ``query`` (a ``search.Query``)
    selects among the documents of ``kind`` in ``scope``."""
    must, must_not = scope_clauses(scope), []
    for key, value in query.match:
        clause = term_clause(kind, key, value)
        must.append(MATCH_NONE if clause is None else clause)
    for key, value in query.match_not:
        clause = term_clause(kind, key, value)
        if clause is not None:
            must_not.append(clause)
    if query.time_after is not None or query.time_before is not None:
        bounds = {}
        if query.time_after is not None:
            bounds["gte"] = query.time_after
        if query.time_before is not None:
            bounds["lte"] = query.time_before
        must.append({"range": {"time_ts": bounds}})
    if query.text:
        must.append(text_clause(query.text))
    return {"bool": {"filter": must, "must_not": must_not}}


def stored_source(kind, doc, version, seq):
    """The ``_source`` indexed for ``doc`` (see ``mappings``)."""
    source = {"doc_id": kinds.doc_id(kind, doc),
              "user_id": doc.get("user_id") or "",
              "project_id": doc.get("project_id") or "",
              "seq": seq, "version": version,
              "leaves": leaf_terms(doc), "text": searchable_text(doc),
              "doc": doc}
    for field, value in kinds.indexed_fields(kind, doc).items():
        if value is not None:
            source[field] = value
    return source


def _error_type_of(answer):
    """The error type (``index_not_found_exception``...) in an answer of
    the engine, or ''."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return error.get("type") or ""
    return ""


def _error_type(exc):
    """The engine's error type of a TransportError, or ''."""
    return _error_type_of(exc.info) or \
        (exc.error if isinstance(exc.error, str) else "")


def translate_error(exc):
    """The freezer exception for an exception of the client."""
    if isinstance(exc, os_exc.ConnectionError):
        LOG.warning("search engine unreachable: %s", exc)
        return exceptions.StorageUnavailable(
            "The search engine cannot be reached; try again later.")
    if isinstance(exc, os_exc.TransportError):
        status, error = exc.status_code, _error_type(exc)
        if error == "index_not_found_exception":
            LOG.error("search engine: %s (run 'freezer-manage db sync')",
                      exc)
            return exceptions.StorageUnavailable(
                "The search engine has no freezer indices yet.")
        if status == 400:
            LOG.warning("search engine refused a request: %s", exc)
            return exceptions.InvalidInput(
                "The search engine refused a value of the request.")
        LOG.error("search engine error: %s", exc)
        return exceptions.StorageUnavailable(
            "The search engine failed to serve the request; try again "
            "later.")
    LOG.error("search engine client error: %s", exc)
    return exceptions.StorageUnavailable(
        "The search engine failed to serve the request.")


def item_error(action, item):
    """The freezer exception for one failed item of a bulk answer (the
    inner object of ``{action: {...}}``), or None if it succeeded."""
    status = item.get("status", 500)
    if 200 <= status < 300:
        return None
    error_type = _error_type_of(item)
    if status == 409 and action == "create":
        return exceptions.AlreadyExists(
            "A document with this ID already exists")
    if status in (404, 409) and error_type != "index_not_found_exception":
        # A changed or vanished document: only updates and deletes carry
        # a compare-and-set pair.
        return exceptions.VersionConflict("stale version")
    return translate_error(os_exc.TransportError(status, error_type, item))


def _fingerprint(hits):
    """``base.page_fingerprint`` of search hits: the engine's ``_id`` and
    its ``_seq_no``/``_primary_term`` pair, which every write of the
    document (a re-creation too) replaces."""
    return base.page_fingerprint(
        (hit["_id"], "%d/%d" % (hit["_seq_no"], hit["_primary_term"]))
        for hit in hits)


class _Write(typing.NamedTuple):
    """One operation of ``apply`` as a bulk item, with what undoes it."""

    action: str               # "create", "index" or "delete"
    index: str                # the alias
    id: str
    source: dict | None       # create and index
    cas: tuple | None         # (seq_no, primary_term): index and delete
    previous: dict | None     # the source before an update or a delete
    version: int | None       # what apply returns for it

    def line(self):
        meta = {"_index": self.index, "_id": self.id}
        if self.cas is not None:
            meta.update(if_seq_no=self.cas[0], if_primary_term=self.cas[1])
        return {self.action: meta}


def _bulk_lines(writes):
    lines = []
    for write in writes:
        lines.append(write.line())
        if write.source is not None:
            lines.append(write.source)
    return lines


class _Serializer(os_serializer.JSONSerializer):
    """The client's JSON serializer, with orjson: a page of hits decodes
    several times faster than with json.loads, a query encodes faster."""

    def loads(self, s):
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return super().loads(s)  # its error, as before

    def dumps(self, data):
        if isinstance(data, str):
            return data
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # what orjson does not take (an int > 64 bits)
            return super().dumps(data)


class _QuietAttempts:
    """A connection whose attempts that could not reach the engine are one
    debug line each. The client would log each such attempt (up to
    ``max_retries`` + 1 per request) as a warning with its whole
    traceback: during an outage, well over a hundred log lines per API
    request. The driver logs each failed request once
    (``translate_error``)."""

    def log_request_fail(self, method, full_url, path, body, duration,
                         status_code=None, response=None, exception=None):
        if exception is None:  # an answer with an error status: one line
            super().log_request_fail(method, full_url, path, body,
                                     duration, status_code, response)
            return
        LOG.debug("search engine: %s %s failed after %.3fs: %r", method,
                  full_url, duration, exception)


class _Connection(_QuietAttempts, connection.Connection):
    """Plain-http hosts: the lean connection (see ``connection``)."""


class _TLSConnection(_QuietAttempts, opensearchpy.Urllib3HttpConnection):
    """https hosts: the client's own urllib3 connection."""


def connection_class(hosts):
    """The connection class for ``hosts`` (``[elasticsearch] hosts``): the
    lean one unless a host is https."""
    if any(host.strip().lower().startswith("https:") for host in hosts):
        return _TLSConnection
    return _Connection


class ElasticsearchDriver(base.StorageDriver):
    """Documents in Elasticsearch or OpenSearch; see the module docstring
    for the guarantee of ``apply``."""

    name = "elasticsearch"

    def __init__(self, conf):
        self.conf = conf.elasticsearch
        self.prefix = self.conf.index_prefix
        # Unset [storage] auto_upgrade: missing indices are created on
        # first use; False: only by 'freezer-manage db sync'.
        self.auto_create = conf.storage.auto_upgrade is not False
        self._ready = False
        self.stamps = base.Stamps()
        self.client = self._client()

    def _client(self):
        es = self.conf
        hosts = es_conf.hosts(es)
        kwargs = {"hosts": hosts, "timeout": es.timeout,
                  "max_retries": es.max_retries, "retry_on_timeout": False,
                  "verify_certs": es.verify_certs, "pool_maxsize": 32,
                  "serializer": _Serializer(),
                  "connection_class": connection_class(hosts)}
        if es.ca_certs:
            kwargs["ca_certs"] = es.ca_certs
        credentials = es_conf.credentials(es)
        if credentials:
            # A header rather than http_auth, so that https hosts (urllib3)
            # get the UTF-8 encoding the lean connection sends too.
            kwargs["headers"] = {"authorization": connection.
                                 basic_authorization(credentials)}
        try:
            return opensearchpy.OpenSearch(**kwargs)
        except (os_exc.ImproperlyConfigured, ValueError) as exc:
            raise exceptions.StorageUnavailable(
                "[elasticsearch] options are not usable: %s" % exc) from exc

    def alias(self, kind):
        return mappings.alias_name(self.prefix, kind)

    def _all_aliases(self):
        return ",".join(self.alias(kind) for kind in kinds.ALL_KINDS)

    client_errors = (os_exc.OpenSearchException, os_exc.ImproperlyConfigured)

    def _translate(self, exc):
        return translate_error(exc)

    # -- schema -----------------------------------------------------------
    def upgrade(self):
        """Create each kind's index and alias if missing (safe to run any
        number of times, from many processes at once), and apply the
        dynamic settings (replicas, refresh interval) to existing ones."""
        self._create_missing(update_settings=True)

    def _create_missing(self, update_settings):
        with self._errors():
            for kind in kinds.ALL_KINDS:
                self._upgrade_kind(kind, update_settings)
        self._ready = True

    def _upgrade_kind(self, kind, update_settings):
        alias = self.alias(kind)
        if self.client.indices.exists_alias(name=alias):
            if update_settings:
                self.client.indices.put_settings(
                    index=alias,
                    body={"index": mappings.dynamic_settings(self.conf)})
            return
        index = mappings.index_name(self.prefix, kind)
        try:
            self.client.indices.create(
                index=index, body=mappings.create_body(self.conf, kind))
            LOG.info("created index %s behind alias %s", index, alias)
        except os_exc.RequestError as exc:
            if _error_type(exc) != "resource_already_exists_exception":
                # e.g. an index named like the alias is in the way
                LOG.error("cannot create index %s behind alias %s: %s",
                          index, alias, exc)
                raise exceptions.StorageUnavailable(
                    "The search engine refused to create the index %s "
                    "behind the alias %s." % (index, alias)) from exc
            # Created meanwhile by another process (with its alias), or
            # left without its alias: (re)attach the alias.
            self.client.indices.put_alias(index=index, name=alias,
                                          body={"is_write_index": True})

    def _ensure_ready(self):
        if not self._ready and self.auto_create:
            self._create_missing(update_settings=False)

    def schema_version(self):
        """The mapping versions behind the aliases ("v1"), or None while
        an alias is missing (``freezer-manage db version``)."""
        versions = set()
        with self._errors():
            for kind in kinds.ALL_KINDS:
                answer = self.client.indices.get_alias(
                    name=self.alias(kind), ignore=404)
                if "error" in answer or "status" in answer:
                    return None
                versions.update(name.rpartition("-")[2] for name in answer)
        return ", ".join(sorted(versions))

    def schema_status(self):
        head = "v%d" % mappings.MAPPING_VERSION
        current = self.schema_version()
        names = "%s-<kind>" % self.prefix
        if current == head:
            return True, "The aliases %s are at mapping %s." % (names, head)
        if current is None:
            if self.auto_create:
                return True, ("Some aliases %s are missing; the service "
                              "creates them on first use." % names)
            return False, ("Some aliases %s are missing: run "
                           "'freezer-manage db sync'." % names)
        return False, ("The aliases %s are at mapping %s, the code needs "
                       "%s." % (names, current, head))

    def wipe(self):
        with self._errors():
            self.client.delete_by_query(
                index=self._all_aliases(),
                body={"query": {"match_all": {}}},
                refresh=True, conflicts="proceed")

    def drop_indices(self):
        """Delete this prefix's indices (and so their aliases)."""
        names = ",".join(mappings.index_name(self.prefix, kind)
                         for kind in kinds.ALL_KINDS)
        with self._errors():
            self.client.indices.delete(index=names, ignore_unavailable=True)
        self._ready = False

    def close(self):
        with contextlib.suppress(Exception):
            self.client.close()

    # -- reads ------------------------------------------------------------
    def get(self, kind, scope, doc_id):
        self._ensure_ready()
        with self._errors():
            record = self._find(kind, scope, doc_id)
        if record is None:
            raise exceptions.NotFound(
                "No %s found with ID %s" % (kind[:-1], doc_id))
        return record

    def _find(self, kind, scope, doc_id):
        if scope.project_id is not None and not scope.all_projects:
            record = self._read(kind, scope,
                                document_id(scope.project_id, doc_id))
            if record is not None or not scope.central_clients:
                return record
        elif scope.prefer_project is not None and scope.project_id is None:
            record = self._read(kind, scope,
                                document_id(scope.prefer_project, doc_id))
            if record is not None:
                return record
        # Not in a known project (v1, the whole cloud, or a central
        # client of another project): the oldest document with this id in
        # scope, read again in real time.
        body = {"query": {"bool": {"filter": [{"term": {"doc_id": doc_id}}]
                                   + scope_clauses(scope)}},
                "sort": SORT, "size": 1, "_source": False,
                "track_total_hits": False}
        hits = self._send("POST", "/%s/_search" % self.alias(kind),
                          body)["hits"]["hits"]
        if not hits:
            return None
        return self._read(kind, scope, hits[0]["_id"])

    def _read(self, kind, scope, engine_id):
        """The Record stored under ``engine_id`` if ``scope`` sees it."""
        # ignore=404: a missing document is an answer, not an error to log.
        found = self._send("GET", "/%s/_doc/%s" % (self.alias(kind),
                                                   engine_id), ignore=(404,))
        if "error" in found:  # the index is missing
            raise os_exc.NotFoundError(404, _error_type_of(found), found)
        if not found.get("found"):
            return None
        source = found["_source"]
        if not in_scope(scope, source):
            return None
        return base.Record(
            kind=kind, doc=source["doc"], version=source["version"],
            key=DocKey(found["_id"], found["_seq_no"],
                       found["_primary_term"], source["seq"]))

    def search(self, kind, scope, query):
        return [hit["_source"]["doc"]
                for hit in self._search(kind, scope, query, ["doc"])]

    def page(self, kind, scope, query):
        hits = self._search(kind, scope, query, ["doc"])
        return base.Page([hit["_source"]["doc"] for hit in hits],
                         _fingerprint(hits))

    def fingerprint(self, kind, scope, query):
        # The same search as the page, without fetching the documents.
        return _fingerprint(self._search(kind, scope, query, False))

    def _search(self, kind, scope, query, source):
        self._ensure_ready()
        # _seq_no and _primary_term: the engine's own stamp of the last
        # write of each hit, for fingerprints.
        body = {"query": build_query(kind, scope, query), "sort": SORT,
                "track_total_hits": False, "seq_no_primary_term": True}
        with self._errors():
            return self._page(self.alias(kind), body, query.offset,
                              query.limit, source)

    def _page(self, index, body, offset, limit, source):
        if limit <= 0:
            return []
        if offset + limit <= RESULT_WINDOW:
            return self._hits(index, dict(body, size=limit, **{
                "from": offset, "_source": source}))
        # A deep page: step over `offset` documents with search_after (sort
        # values only), then collect the page the same way.
        after = None
        while offset > 0:
            step = min(offset, RESULT_WINDOW)
            hits = self._hits(index, dict(body, size=step, _source=False),
                              after)
            if len(hits) < step:
                return []
            after, offset = hits[-1]["sort"], offset - step
        page = []
        while len(page) < limit:
            step = min(limit - len(page), RESULT_WINDOW)
            hits = self._hits(index, dict(body, size=step,
                                          _source=source), after)
            page.extend(hits)
            if len(hits) < step:
                break
            after = hits[-1]["sort"]
        return page

    def _hits(self, index, body, search_after=None):
        if search_after is not None:
            body = dict(body, search_after=search_after)
        # request_cache: the engine keeps the answer of a search until the
        # next refresh that changes the shard (so never a stale one); an
        # agent asking again for unchanged jobs costs it a lookup.
        return self._send("POST", "/%s/_search?request_cache=true" % index,
                          body)["hits"]["hits"]

    def _send(self, method, path, body=None, ignore=()):
        """A request of the read path, straight to the client's transport
        (its retries, hosts and errors), past the per-call handling of its
        API methods (argument decorator, path escaping: a fifth of the
        client's CPU per search). ``path`` is made of aliases and hex ids
        only: nothing to escape."""
        return self.client.transport.perform_request(
            method, path, body=body, ignore=ignore)

    def count(self, kind):
        self._ensure_ready()
        with self._errors():
            return self.client.count(index=self.alias(kind))["count"]

    def healthcheck(self):
        self._ensure_ready()
        with self._errors():
            self.client.count(index=self._all_aliases())

    # -- writes -----------------------------------------------------------
    def apply(self, operations):
        writes = [self._write(op) for op in operations]
        if not writes:
            return []
        self._ensure_ready()
        with self._errors():
            self._check(writes)
            answer = self.client.bulk(body=_bulk_lines(writes),
                                      refresh="wait_for", require_alias=True)
            done, failure = [], None
            for write, item in zip(writes, answer["items"]):
                result = item[write.action]
                error = item_error(write.action, result)
                if error is None:
                    done.append((write, (result["_seq_no"],
                                         result["_primary_term"])))
                elif failure is None:
                    failure = error
            if failure is not None:
                self._undo(done)
                raise failure
        return [write.version for write in writes]

    def load(self, operations):
        # One bulk request, without the check of apply and without
        # waiting for a refresh; then one refresh of the aliases written.
        writes = []
        for op in operations:
            if not isinstance(op, base.Insert):
                raise TypeError("load takes only inserts, not %r" % (op,))
            writes.append(self._write(op))
        if not writes:
            return
        self._ensure_ready()
        with self._errors():
            answer = self.client.bulk(body=_bulk_lines(writes),
                                      require_alias=True)
            failures = [item_error(write.action, item[write.action])
                        for write, item in zip(writes, answer["items"])]
            self.client.indices.refresh(index=",".join(sorted(
                {write.index for write in writes})))
        for failure in failures:
            if failure is not None:
                raise failure

    def _write(self, op):
        if isinstance(op, base.Insert):
            source = stored_source(op.kind, op.doc, 1, self.stamps.next())
            return _Write("create", self.alias(op.kind),
                          document_id(source["project_id"],
                                      source["doc_id"]),
                          source, None, None, 1)
        if isinstance(op, (base.Update, base.Delete)):
            record, key = op.record, op.record.key
            previous = stored_source(record.kind, record.doc,
                                     record.version, key.seq)
            cas = (key.seq_no, key.primary_term)
            if isinstance(op, base.Delete):
                return _Write("delete", self.alias(record.kind), key.id,
                              None, cas, previous, None)
            source = stored_source(record.kind, op.doc, record.version + 1,
                                   key.seq)
            if document_id(source["project_id"], source["doc_id"]) != key.id:
                raise ValueError("an update cannot change the id or the "
                                 "project of a document")
            return _Write("index", self.alias(record.kind), key.id, source,
                          cas, previous, record.version + 1)
        raise TypeError("unknown operation %r" % (op,))

    def _check(self, writes):
        """Raise, before anything is written, if an operation is bound to
        fail: an id to insert is taken, a document to change has changed
        or is gone. Only the first operation on each document is checked
        against the engine (later ones depend on it)."""
        first = {}
        for write in writes:
            first.setdefault((write.index, write.id), write)
        answer = self.client.mget(body={"docs": [
            {"_index": index, "_id": engine_id, "_source": False}
            for index, engine_id in first]})
        for write, found in zip(first.values(), answer["docs"]):
            if "error" in found:
                raise translate_error(os_exc.TransportError(
                    500, _error_type_of(found), found))
            exists = found.get("found", False)
            if write.action == "create":
                if exists:
                    raise exceptions.AlreadyExists(
                        "A document with ID %s already exists"
                        % write.source["doc_id"])
            elif not exists or (found["_seq_no"], found["_primary_term"]) \
                    != write.cas:
                raise exceptions.VersionConflict("stale version")

    def _undo(self, done):
        """Compensate the successful writes ``done`` ([(write, (seq_no,
        primary_term))]) of a failed ``apply``, newest first."""
        undo = []
        for write, cas in reversed(done):
            if write.action == "create":
                undo.append(_Write("delete", write.index, write.id, None,
                                   cas, None, None))
            elif write.action == "index":
                undo.append(_Write("index", write.index, write.id,
                                   write.previous, cas, None, None))
            else:
                undo.append(_Write("create", write.index, write.id,
                                   write.previous, None, None, None))
        if not undo:
            return
        try:
            answer = self.client.bulk(body=_bulk_lines(undo),
                                      refresh="wait_for", require_alias=True)
        except (os_exc.OpenSearchException,
                os_exc.ImproperlyConfigured) as exc:
            LOG.error("apply failed half-way and could not be undone; "
                      "%d write(s) remain: %s", len(undo), exc)
            return
        for write, item in zip(undo, answer["items"]):
            result = item[write.action]
            if item_error(write.action, result) is not None:
                LOG.error("apply failed half-way: could not undo a write "
                          "of %s/%s (%s)", write.index, write.id,
                          result.get("error"))
