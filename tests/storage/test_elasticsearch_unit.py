"""The search-engine driver's pure helpers, and its behaviour when the
engine cannot be reached (no engine needed: the driver contract suite runs
it against a real one)."""

import socket
import time

import opensearchpy
import pytest
from opensearchpy import exceptions as os_exc

from freezer_api import conf as conf_module
from freezer_api import exceptions
from freezer_api.domain import kinds
from freezer_api.domain.search import Query
from freezer_api.storage import base
from freezer_api.storage.elasticsearch import connection
from freezer_api.storage.elasticsearch import driver as es
from freezer_api.storage.elasticsearch import mappings
from tests.conftest import BACKENDS, make_conf

ALICE = base.Scope(user_id="alice", prefer_project="pa")
PROJECT_A = base.Scope(project_id="pa")
EVERYONE = base.Scope(all_projects=True)


# -- leaves ------------------------------------------------------------------
def test_leaf_terms_cover_every_depth_and_keep_types():
    doc = {"job_id": "j", "level": 2, "dry": True, "ratio": 0.5,
           "job_actions": [{"freezer_action": {"mode": "fs", "n": None}}],
           "tags": ["a", ["b"], {"deep": "c"}], "empty": {}, "none": []}
    assert es.leaf_terms(doc) == sorted([
        'job_id="j"', "level=2", "dry=true", "ratio=0.5", 'mode="fs"',
        'tags="a"', 'tags="b"', 'deep="c"'])


def test_leaf_terms_are_unique_and_keep_unicode():
    doc = {"a": {"x": "ü"}, "b": {"x": "ü"}}
    assert es.leaf_terms(doc) == ['x="ü"']


def test_leaf_term_types_differ():
    terms = {es.leaf_term("k", v) for v in (2, "2", True, "true", 1, False)}
    assert len(terms) == 6
    # JSON numbers compare by value: 2.0 is 2.
    assert es.leaf_term("k", 2.0) == es.leaf_term("k", 2) == "k=2"
    assert es.leaf_term("k", 'say "hi"') == 'k="say \\"hi\\""'


# -- ids ---------------------------------------------------------------------
def test_document_id_is_unique_per_project_and_case_sensitive():
    ids = {es.document_id("pa", "j1"), es.document_id("pb", "j1"),
           es.document_id("pa", "J1"), es.document_id("pa/j", "1"),
           es.document_id("pa", "j/1"), es.document_id("", "pa:j1")}
    assert len(ids) == 6
    assert es.document_id("pa", "j1") == es.document_id("pa", "j1")
    assert all(len(i) == 64 and i.isalnum() for i in ids)


def test_names():
    assert mappings.alias_name("freezer", "jobs") == "freezer-jobs"
    assert mappings.index_name("freezer", "jobs") == "freezer-jobs-v1"


# -- free text ---------------------------------------------------------------
def test_searchable_text_is_the_lowercased_json():
    text = es.searchable_text({"d": "Nightly \"DUMP\"", "n": 1})
    assert text == '{"d":"nightly \\"dump\\"","n":1}' + es.TEXT_PADDING


def test_text_clause():
    assert es.text_clause("Postgres") == {
        "match_phrase": {"text": {"query": "postgres"}}}
    assert es.text_clause("0%") == {"prefix": {"text": {"value": "0%"}}}
    assert es.text_clause("a\x00") == es.MATCH_NONE


# -- queries -----------------------------------------------------------------
def test_scope_clauses():
    assert es.scope_clauses(ALICE) == [{"term": {"user_id": "alice"}}]
    assert es.scope_clauses(PROJECT_A) == [{"term": {"project_id": "pa"}}]
    assert es.scope_clauses(base.Scope(user_id="u", project_id="p")) == [
        {"term": {"project_id": "p"}}, {"term": {"user_id": "u"}}]
    assert es.scope_clauses(EVERYONE) == []


def test_in_scope():
    source = {"user_id": "alice", "project_id": "pa"}
    assert es.in_scope(ALICE, source)
    assert es.in_scope(PROJECT_A, source)
    assert es.in_scope(EVERYONE, dict(source, project_id="pz"))
    assert not es.in_scope(base.Scope(user_id="bob"), source)
    assert not es.in_scope(base.Scope(project_id="pb"), source)


def test_build_query_maps_indexed_fields_and_leaves():
    query = Query(match=(("client_id", "c1"), ("job_id", "j"),
                         ("user_id", "alice"), ("mode", "fs")),
                  match_not=(("status", "completed"), ("level", 2)),
                  time_after=10, time_before=20, text="Dump")
    assert es.build_query(kinds.JOBS, PROJECT_A, query) == {"bool": {
        "filter": [
            {"term": {"project_id": "pa"}},
            {"term": {"client_id": "c1"}},
            {"term": {"doc_id": "j"}},
            {"term": {"user_id": "alice"}},
            {"term": {"leaves": 'mode="fs"'}},
            {"range": {"time_ts": {"gte": 10, "lte": 20}}},
            {"match_phrase": {"text": {"query": "dump"}}}],
        "must_not": [
            {"term": {"status": "completed"}},
            {"term": {"leaves": "level=2"}}]}}


def test_build_query_per_kind_and_non_string_ids():
    # client_id is an indexed field of jobs but a plain leaf of backups.
    backups = es.build_query(kinds.BACKUPS, EVERYONE, Query(
        match=(("client_id", "c1"),), time_after=5))
    assert backups["bool"]["filter"] == [
        {"term": {"leaves": 'client_id="c1"'}},
        {"range": {"time_ts": {"gte": 5}}}]
    # An indexed field holds strings only: 2 never equals it.
    never = es.build_query(kinds.JOBS, ALICE, Query(match=(("status", 2),)))
    assert es.MATCH_NONE in never["bool"]["filter"]
    always = es.build_query(kinds.JOBS, ALICE, Query(
        match_not=(("status", 2),)))
    assert always["bool"]["must_not"] == []


def test_stored_source():
    doc = {"job_id": "j", "user_id": "u", "client_id": "c",
           "job_schedule": {"status": "", "time_created": 7}}
    source = es.stored_source(kinds.JOBS, doc, version=3, seq=11)
    assert source["doc"] is doc
    assert {k: source[k] for k in ("doc_id", "user_id", "project_id",
                                   "client_id", "time_ts", "seq",
                                   "version")} == {
        "doc_id": "j", "user_id": "u", "project_id": "", "client_id": "c",
        "time_ts": 7, "seq": 11, "version": 3}
    assert "status" not in source and "session_id" not in source
    assert set(source) <= set(mappings.MAPPING["properties"])


def test_mapping_indexes_what_the_driver_filters_on():
    props = mappings.MAPPING["properties"]
    for field in kinds.INDEXED + ("doc_id", "user_id", "project_id"):
        assert field in props
    assert props["doc"] == {"type": "object", "enabled": False}
    assert mappings.MAPPING["dynamic"] == "strict"
    conf = make_conf(**{"elasticsearch.index_prefix": "p"}).elasticsearch
    body = mappings.create_body(conf, kinds.JOBS)
    assert body["aliases"] == {"p-jobs": {"is_write_index": True}}
    assert body["settings"]["index"]["number_of_shards"] == 1


# -- errors ------------------------------------------------------------------
@pytest.mark.parametrize("action,item,expected", [
    ("create", {"status": 201}, None),
    ("index", {"status": 200}, None),
    ("create", {"status": 409, "error": {
        "type": "version_conflict_engine_exception"}},
     exceptions.AlreadyExists),
    ("index", {"status": 409, "error": {
        "type": "version_conflict_engine_exception"}},
     exceptions.VersionConflict),
    ("delete", {"status": 404}, exceptions.VersionConflict),
    ("create", {"status": 404, "error": {
        "type": "index_not_found_exception"}},
     exceptions.StorageUnavailable),
    ("index", {"status": 429, "error": {
        "type": "es_rejected_execution_exception"}},
     exceptions.StorageUnavailable),
    ("index", {"status": 400, "error": {
        "type": "mapper_parsing_exception"}}, exceptions.InvalidInput),
])
def test_item_error(action, item, expected):
    error = es.item_error(action, item)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected


def test_translate_error():
    refused = os_exc.ConnectionError("N/A", "refused", OSError("x"))
    assert isinstance(es.translate_error(refused),
                      exceptions.StorageUnavailable)
    missing = os_exc.NotFoundError(404, "index_not_found_exception", {
        "error": {"type": "index_not_found_exception"}})
    assert isinstance(es.translate_error(missing),
                      exceptions.StorageUnavailable)
    assert isinstance(es.translate_error(os_exc.TransportError(
        503, "unavailable", {})), exceptions.StorageUnavailable)


# -- options -----------------------------------------------------------------
def test_options_are_listed_with_their_defaults():
    groups = dict(conf_module.list_opts())
    names = {opt.name for opt in groups["elasticsearch"]}
    assert {"hosts", "index_prefix", "number_of_shards",
            "number_of_replicas", "ca_certs", "verify_certs", "username",
            "password", "timeout", "max_retries"} <= names
    assert [o for o in groups["elasticsearch"]
            if o.name == "password"][0].secret
    es_conf = make_conf().elasticsearch
    assert es_conf.hosts == ["http://127.0.0.1:9200"]
    assert es_conf.index_prefix == "freezer"
    assert (es_conf.number_of_shards, es_conf.number_of_replicas) == (1, 0)


def test_an_update_cannot_move_a_document():
    driver = es.ElasticsearchDriver(make_conf())
    key = es.DocKey(es.document_id("pa", "j"), 3, 1, 10)
    record = base.Record(kinds.JOBS, {"job_id": "j", "project_id": "pa"},
                         1, key)
    write = driver._write(base.Update(record, dict(record.doc, x=1)))
    assert (write.action, write.cas, write.version) == ("index", (3, 1), 2)
    assert write.source["seq"] == 10 and write.previous["version"] == 1
    with pytest.raises(ValueError):
        driver._write(base.Update(record, dict(record.doc, project_id="pb")))


# -- an engine that cannot be reached ---------------------------------------
def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("auto_upgrade", [None, False])
def test_unreachable_engine_is_storage_unavailable(auto_upgrade):
    driver = es.ElasticsearchDriver(make_conf(**{
        "elasticsearch.hosts": ["http://127.0.0.1:%d" % _closed_port()],
        "elasticsearch.timeout": 2, "elasticsearch.max_retries": 1,
        "storage.auto_upgrade": auto_upgrade}))
    doc = {"job_id": "j", "user_id": "alice", "project_id": "pa"}
    record = base.Record(kinds.JOBS, doc, 1,
                         es.DocKey(es.document_id("pa", "j"), 0, 1, 1))
    calls = [
        lambda: driver.get(kinds.JOBS, ALICE, "j"),
        lambda: driver.get(kinds.JOBS, PROJECT_A, "j"),
        lambda: driver.search(kinds.JOBS, ALICE, Query()),
        lambda: driver.apply([base.Insert(kinds.JOBS, doc)]),
        lambda: driver.apply([base.Update(record, doc)]),
        lambda: driver.apply([base.Delete(record)]),
        driver.healthcheck,
        driver.upgrade,
        driver.schema_status,
        lambda: driver.count(kinds.JOBS),
    ]
    start = time.monotonic()
    for call in calls:
        with pytest.raises(exceptions.StorageUnavailable):
            call()
    assert time.monotonic() - start < 10
    driver.close()


def test_unreachable_engine_logs_no_traceback(caplog):
    """An outage must not flood the log: the client's failed attempts
    (max_retries + 1 per request) are one debug line each, without a
    traceback, and the driver warns once per request."""
    driver = es.ElasticsearchDriver(make_conf(**{
        "elasticsearch.hosts": ["http://127.0.0.1:%d" % _closed_port()],
        "elasticsearch.timeout": 2, "elasticsearch.max_retries": 2,
        "storage.auto_upgrade": False}))
    caplog.set_level("DEBUG")
    with pytest.raises(exceptions.StorageUnavailable):
        driver.get(kinds.JOBS, PROJECT_A, "j")
    driver.close()
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    attempts = [r for r in caplog.records if "failed after" in r.message]
    assert len(attempts) == 3
    assert all(r.levelname == "DEBUG" for r in attempts)
    warnings = [r for r in caplog.records if r.levelno >= 30]
    assert [r.message.split(":")[0] for r in warnings] == [
        "search engine unreachable"]


# -- against the engine: only collected when one is configured --------------
# (`make test` always configures one.) They reach paths the contract suite
# cannot: a race between apply's check and its writes, deep pages.
def _job(job_id, project="pa", **extra):
    return dict({"job_id": job_id, "user_id": "alice", "project_id": project,
                 "client_id": "c1", "job_schedule": {}}, **extra)


def _ids(docs):
    return [d["job_id"] for d in docs]


ENGINES = [b for b in ("opensearch", "elasticsearch") if b in BACKENDS]
if ENGINES:
    on_engine = pytest.mark.parametrize("backend_driver", ENGINES,
                                        indirect=True)

    @pytest.fixture
    def unchecked(driver, monkeypatch):
        """The driver with apply's up-front check switched off, as if
        another writer got in between the check and the writes."""
        monkeypatch.setattr(driver, "_check", lambda writes: None)
        return driver

    @on_engine
    def test_a_failed_apply_undoes_its_writes(unchecked):
        driver = unchecked
        driver.apply([base.Insert(kinds.JOBS, _job(i))
                      for i in ("j1", "j2", "j0")])
        one = driver.get(kinds.JOBS, ALICE, "j1")
        two = driver.get(kinds.JOBS, ALICE, "j2")
        gone = driver.get(kinds.JOBS, ALICE, "j0")
        driver.apply([base.Update(two, dict(two.doc, description="moved"))])
        with pytest.raises(exceptions.VersionConflict):
            driver.apply([
                base.Update(one, dict(one.doc, description="lost")),
                base.Delete(gone),
                base.Insert(kinds.JOBS, _job("j3")),
                base.Update(two, dict(two.doc, description="stale"))])
        again = driver.get(kinds.JOBS, ALICE, "j1")
        assert (again.doc, again.version) == (one.doc, 1)
        assert driver.get(kinds.JOBS, ALICE, "j0").doc == gone.doc
        with pytest.raises(exceptions.NotFound):
            driver.get(kinds.JOBS, ALICE, "j3")
        # The order of the list is the insertion order still.
        assert _ids(driver.search(kinds.JOBS, ALICE, Query())) == \
            ["j1", "j2", "j0"]
        # The old read is stale now: the rolled-back writes moved it on.
        with pytest.raises(exceptions.VersionConflict):
            driver.apply([base.Update(one, one.doc)])
        assert driver.apply([base.Update(again, again.doc)]) == [2]

    @on_engine
    def test_a_taken_id_undoes_the_writes_before_it(unchecked):
        driver = unchecked
        driver.apply([base.Insert(kinds.JOBS, _job(i)) for i in ("a", "b")])
        a = driver.get(kinds.JOBS, ALICE, "a")
        with pytest.raises(exceptions.AlreadyExists):
            driver.apply([base.Delete(a), base.Insert(kinds.JOBS, _job("b"))])
        assert driver.get(kinds.JOBS, ALICE, "a").version == 1
        assert driver.count(kinds.JOBS) == 2

    @on_engine
    def test_the_check_refuses_before_writing(driver):
        driver.apply([base.Insert(kinds.JOBS, _job("a"))])
        a = driver.get(kinds.JOBS, ALICE, "a")
        driver.apply([base.Update(a, dict(a.doc, x=1))])
        writes = []
        real_bulk = driver.client.bulk
        driver.client.bulk = lambda **kw: writes.append(kw) or \
            real_bulk(**kw)
        try:
            with pytest.raises(exceptions.VersionConflict):
                driver.apply([base.Insert(kinds.JOBS, _job("new")),
                              base.Update(a, a.doc)])
            with pytest.raises(exceptions.AlreadyExists):
                driver.apply([base.Insert(kinds.JOBS, _job("a"))])
        finally:
            del driver.client.bulk
        assert writes == []

    @on_engine
    def test_deep_pages_walk_with_search_after(driver, monkeypatch):
        driver.apply([base.Insert(kinds.JOBS, _job("j%02d" % i))
                      for i in range(11)])
        everything = _ids(driver.search(kinds.JOBS, ALICE, Query(limit=50)))
        assert everything == ["j%02d" % i for i in range(11)]
        monkeypatch.setattr(es, "RESULT_WINDOW", 4)
        for offset in range(13):
            for limit in (1, 3, 4, 5, 9, 20):
                page = driver.search(kinds.JOBS, ALICE, Query(
                    limit=limit, offset=offset))
                assert _ids(page) == everything[offset:offset + limit]

    @on_engine
    def test_v1_finds_an_id_outside_the_preferred_project(driver):
        driver.apply([base.Insert(kinds.JOBS, _job("x", project="pz")),
                      base.Insert(kinds.JOBS, _job("x", project="py"))])
        scope = base.Scope(user_id="alice", prefer_project="pa")
        assert driver.get(kinds.JOBS, scope, "x").doc["project_id"] == "pz"
        assert driver.get(kinds.JOBS, EVERYONE, "x").doc["project_id"] == \
            "pz"
        with pytest.raises(exceptions.NotFound):
            driver.get(kinds.JOBS, base.Scope(user_id="bob"), "x")

    @on_engine
    def test_short_text_and_big_documents(driver):
        big = "Ü" * 9000  # longer than a keyword term may be
        driver.apply([base.Insert(kinds.JOBS, _job("big", note=big)),
                      base.Insert(kinds.JOBS, _job("q", note="xq"))])

        def text(t):
            return _ids(driver.search(kinds.JOBS, ALICE, Query(text=t)))
        assert text("üüü") == ["big"]
        assert text("Q") == ["q"]
        assert text('q"') == ["q"]
        assert text("}") == ["big", "q"]
        assert driver.get(kinds.JOBS, ALICE, "big").doc["note"] == big
        assert _ids(driver.search(kinds.JOBS, ALICE, Query(
            match=(("note", "xq"),)))) == ["q"]

    @on_engine
    def test_missing_indices(driver):
        url = driver.conf.hosts[0]
        prefix = driver.prefix + "-other"
        manual = es.ElasticsearchDriver(make_conf(**{
            "elasticsearch.hosts": [url],
            "elasticsearch.index_prefix": prefix,
            "storage.auto_upgrade": False}))
        automatic = es.ElasticsearchDriver(make_conf(**{
            "elasticsearch.hosts": [url],
            "elasticsearch.index_prefix": prefix}))
        try:
            with pytest.raises(exceptions.StorageUnavailable):
                manual.search(kinds.JOBS, ALICE, Query())
            with pytest.raises(exceptions.StorageUnavailable):
                manual.apply([base.Insert(kinds.JOBS, _job("a"))])
            # Writes never create an index of their own.
            assert not manual.client.indices.exists(index=prefix + "-jobs")
            # Unset auto_upgrade: created on first use; upgrade is
            # idempotent.
            assert automatic.search(kinds.JOBS, ALICE, Query()) == []
            automatic.upgrade()
            manual.apply([base.Insert(kinds.JOBS, _job("a"))])
            assert automatic.count(kinds.JOBS) == 1
        finally:
            automatic.drop_indices()
            automatic.close()
            manual.close()

    @on_engine
    def test_an_index_in_the_way_of_an_alias(driver):
        url = driver.conf.hosts[0]
        prefix = driver.prefix + "-blocked"
        blocked = es.ElasticsearchDriver(make_conf(**{
            "elasticsearch.hosts": [url],
            "elasticsearch.index_prefix": prefix}))
        blocked.client.indices.create(index=prefix + "-jobs")
        try:
            with pytest.raises(exceptions.StorageUnavailable):
                blocked.upgrade()
            with pytest.raises(exceptions.StorageUnavailable):
                blocked.search(kinds.JOBS, ALICE, Query())
        finally:
            blocked.client.indices.delete(index=prefix + "-jobs")
            blocked.drop_indices()
            blocked.close()


def test_plain_http_hosts_get_the_lean_connection():
    assert es.connection_class(
        ["http://a:9200", "b:9200"]) is es._Connection
    for hosts in (["https://a:9200"], ["http://a:9200", " HTTPS://b"]):
        assert es.connection_class(hosts) is es._TLSConnection
    assert issubclass(es._Connection, connection.Connection)
    assert issubclass(es._TLSConnection,
                      opensearchpy.Urllib3HttpConnection)
