"""The backend-inclusive ceiling: bare Falcon on the same server as the
service, answering each benchmark request with the one query its backend
needs, sent through the leanest client there is, and the rows returned as
they come (the stored JSON texts joined, never decoded and encoded again
where the backend hands them over as text).

No middleware, no policy, no validation, no domain rules: what the service
spends beyond it is its own work; what the database or the engine spends
is counted on both sides (run.py meters the backend's processes).

- PostgreSQL (``BENCH_CEILING_STORE=postgresql``): raw psycopg on one
  autocommit connection per thread, every statement prepared on its first
  use (``prepare_threshold=0``). A poll page is one SELECT of the page; its
  304 one SELECT of the page's (pk, changed) stamps; a job by id one
  SELECT; a session action and a job PATCH one SELECT of the document and
  one compare-and-set UPDATE (the least a read-modify-write of a JSON
  document takes).
- The search engine (``BENCH_CEILING_STORE=opensearch``): one raw HTTP
  request per benchmark request on a kept-alive http.client connection per
  thread: the page's search (the documents' ``_source`` and their write
  stamps, ``_seq_no``/``_primary_term``); its 304 the same search without
  sources; a job by id one GET of the document. (No ``filter_path`` and
  no ``_source_includes``: with them, in a first run, the ceiling's
  requests cost the engine more than the service's whole requests.)

Configured from the environment: BENCH_CEILING_STORE, BENCH_CEILING_URL
(the database URL, SQLAlchemy's form accepted; or the engine's base URL)
and BENCH_CEILING_INDEX_PREFIX (the search engine's index prefix).

    BENCH_CEILING_STORE=postgresql BENCH_CEILING_URL=postgresql://... \\
        gunicorn -w 2 -b 127.0.0.1:PORT benchmarks.backend_ceiling:app
"""

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.parse

import falcon
import orjson

from benchmarks import ceiling
from benchmarks import workload

_JOBS_OPEN = ("kind = 'jobs' AND project_id = %s AND client_id = %s "
              "AND (status IS NULL OR status <> 'completed') "
              "ORDER BY pk LIMIT %s OFFSET %s")
PG_PAGE = "SELECT pk, changed, doc FROM freezer_documents WHERE " + \
    _JOBS_OPEN
PG_STAMPS = "SELECT pk, changed FROM freezer_documents WHERE " + _JOBS_OPEN
PG_GET = ("SELECT pk, version, doc FROM freezer_documents WHERE kind = %s "
          "AND project_id = %s AND doc_id = %s LIMIT 1")
PG_UPDATE = ("UPDATE freezer_documents SET version = %s, doc = %s, "
             "changed = %s, status = %s WHERE pk = %s AND version = %s")


def _etag(data):
    return '"%s"' % hashlib.blake2b(data, digest_size=12).hexdigest()


class PostgreSQLStore:
    def __init__(self, url):
        # (SQLAlchemy's "postgresql+psycopg://" is libpq's "postgresql://".)
        scheme, rest = url.split("://", 1)
        self.conninfo = scheme.split("+")[0] + "://" + rest
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            import psycopg
            conn = self.local.conn = psycopg.connect(
                self.conninfo, autocommit=True, prepare_threshold=0)
        return conn

    def close(self):
        """Close this thread's connection."""
        conn, self.local.conn = getattr(self.local, "conn", None), None
        if conn is not None:
            conn.close()

    def _rows(self, sql, params):
        with self._conn().cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def page(self, client_id, limit, offset):
        rows = self._rows(PG_PAGE, (workload.PROJECT, client_id, limit,
                                    offset))
        body = '{"jobs":[' + ",".join(row[2] for row in rows) + "]}"
        return body.encode(), _etag(
            repr([(pk, changed) for pk, changed, _doc in rows]).encode())

    def stamps(self, client_id, limit, offset):
        return _etag(repr(self._rows(PG_STAMPS, (
            workload.PROJECT, client_id, limit, offset))).encode())

    def get(self, job_id):
        rows = self._rows(PG_GET, ("jobs", workload.PROJECT, job_id))
        if not rows:
            return None, None
        return rows[0][2].encode(), '"%d"' % rows[0][1]

    def rewrite(self, kind, doc_id, change):
        """Read the document, ``change(doc)``, write it back if nobody
        wrote it in between: its new version, or None."""
        rows = self._rows(PG_GET, (kind, workload.PROJECT, doc_id))
        if not rows:
            return None
        pk, version, text = rows[0]
        doc = orjson.loads(text)
        change(doc)
        status = doc.get("status") or doc.get("job_schedule", {}).get(
            "status")
        with self._conn().cursor() as cursor:
            cursor.execute(PG_UPDATE, (version + 1, orjson.dumps(doc).decode(),
                                       time.time_ns(), status, pk, version))
            return version + 1 if cursor.rowcount == 1 else None


class SearchStore:
    def __init__(self, url, prefix):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 9200
        self.alias = "%s-jobs" % prefix
        self.local = threading.local()

    def close(self):
        """Close this thread's connection."""
        conn, self.local.conn = getattr(self.local, "conn", None), None
        if conn is not None:
            conn.close()

    def _request(self, method, path, body=None):
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=30)
            try:
                conn.request(method, path, body, {
                    "Content-Type": "application/json"} if body else {})
                answer = conn.getresponse()
                return answer.status, answer.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def _search(self, client_id, limit, offset, source):
        body = json.dumps({
            "query": {"bool": {
                "filter": [{"term": {"project_id": workload.PROJECT}},
                           {"term": {"client_id": client_id}}],
                "must_not": [{"term": {"status": "completed"}}]}},
            "sort": [{"seq": "asc"}, {"project_id": "asc"},
                     {"doc_id": "asc"}],
            "track_total_hits": False, "seq_no_primary_term": True,
            "size": limit, "from": offset, "_source": source})
        return orjson.loads(self._request(
            "POST", "/%s/_search?request_cache=true" % self.alias, body)[1]
        )["hits"]["hits"]

    def page(self, client_id, limit, offset):
        hits = self._search(client_id, limit, offset, ["doc"])
        return orjson.dumps({"jobs": [hit["_source"]["doc"] for hit in hits]}
                            ), self._etag(hits)

    def stamps(self, client_id, limit, offset):
        return self._etag(self._search(client_id, limit, offset, False))

    @staticmethod
    def _etag(hits):
        return _etag(repr([(hit["_id"], hit["_seq_no"], hit["_primary_term"])
                           for hit in hits]).encode())

    def get(self, job_id):
        engine_id = hashlib.sha256(json.dumps(
            [workload.PROJECT, job_id], separators=(",", ":")).encode()
        ).hexdigest()
        status, data = self._request(
            "GET", "/%s/_doc/%s" % (self.alias, engine_id))
        if status != 200:
            return None, None
        found = orjson.loads(data)
        return orjson.dumps(found["_source"]["doc"]), \
            '"%d"' % found["_source"]["version"]


class Jobs:
    def __init__(self, store):
        self.store = store

    def on_get(self, req, resp, project_id):
        media = ceiling._media(req)
        limit = req.get_param_as_int("limit") or 10
        offset = req.get_param_as_int("offset") or 0
        client_id = req.get_param("client_id") or \
            media["match"][0]["client_id"]
        wanted = req.get_header("If-None-Match")
        if wanted is not None:
            etag = self.store.stamps(client_id, limit, offset)
            resp.etag = etag
            if wanted == etag:
                resp.status = falcon.HTTP_304
                return
        body, etag = self.store.page(client_id, limit, offset)
        resp.etag = etag
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body


class Job:
    def __init__(self, store):
        self.store = store

    def on_get(self, req, resp, project_id, job_id):
        body, etag = self.store.get(job_id)
        if body is None:
            raise falcon.HTTPNotFound()
        resp.etag = etag
        resp.content_type = falcon.MEDIA_JSON
        resp.data = body

    def on_patch(self, req, resp, project_id, job_id):
        patch = ceiling._media(req)

        def change(doc):
            doc["job_schedule"].update(patch.get("job_schedule", {}))
            doc.update((key, value) for key, value in patch.items()
                       if key != "job_schedule")
        version = self.store.rewrite("jobs", job_id, change)
        if version is None:
            raise falcon.HTTPConflict()
        resp.etag = '"%d"' % version
        resp.media = {"job_id": job_id, "version": version}


class SessionAction:
    def __init__(self, store):
        self.store = store

    def on_post(self, req, resp, project_id, session_id):
        action = ceiling._media(req)
        start = "start" in action
        tag = {}

        def change(doc):
            tag["value"] = doc.get("session_tag", 0) + (1 if start else 0)
            doc["session_tag"] = tag["value"]
            doc["status"] = "running" if start else "completed"
            doc["result"] = "" if start else action["end"].get("result")
        if self.store.rewrite("sessions", session_id, change) is None:
            raise falcon.HTTPConflict()
        resp.status = falcon.HTTP_202
        resp.media = {"result": "success", "session_tag": tag["value"]}


def create_app(store):
    application = falcon.App()
    application.req_options.strip_url_path_trailing_slash = True
    application.add_route("/healthcheck", ceiling.Health())
    application.add_route("/v2/{project_id}/jobs", Jobs(store))
    application.add_route("/v2/{project_id}/jobs/{job_id}", Job(store))
    application.add_route("/v2/{project_id}/sessions/{session_id}/action",
                          SessionAction(store))
    return application


def store_from_environ(environ=os.environ):
    kind = environ.get("BENCH_CEILING_STORE")
    url = environ.get("BENCH_CEILING_URL")
    if kind == "postgresql":
        return PostgreSQLStore(url)
    if kind == "opensearch":
        return SearchStore(url, environ["BENCH_CEILING_INDEX_PREFIX"])
    raise RuntimeError("BENCH_CEILING_STORE: postgresql or opensearch, "
                       "not %r" % kind)


app = create_app(store_from_environ()) \
    if os.environ.get("BENCH_CEILING_STORE") else None
