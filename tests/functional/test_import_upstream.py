"""``freezer-manage import-upstream`` on real upstream stores.

Upstream freezer-api 18.0.0 (a v1 and a v2 server on one SQLite database)
and 19.0.0 (on MariaDB), installed from PyPI in venvs of their own, are
seeded through their own API (``upstream_support``). Each store is
imported into every backend (SQLite, PostgreSQL, MariaDB, OpenSearch), and
for every document this service's API must answer what upstream's
answered, but for the differences doc/compatibility.rst lists (imported
documents: ``_version``, a client's top-level ``client_id``, ``""`` for
the project upstream's v1 left empty). Deleted documents stay deleted,
refusals are reported, a re-run copies nothing, the counts match.

Upstream's Elasticsearch engine cannot run against Elasticsearch 7.17 or
OpenSearch 2.19 (it needs a pre-5.0 engine and an elasticsearch-py it
cannot use, see upstream-stores-es-layout.md): its index is built here
from the documented layout, from what upstream's SQL store answered.
"""

import copy
import io
import os
import time
import uuid

import pytest
from falcon import testing

from freezer_api import app as app_module
from freezer_api import transfer
from freezer_api import upstream_store
from freezer_api.cmd import manage
from freezer_api.domain import kinds
from tests import conftest
from tests.functional import test_manage
from tests.functional import upstream_support as support

DESTINATIONS = [b for b in conftest.BACKENDS if b != "elasticsearch"]
TIMES = {}
COUNTS = {}  # printed at the end: upstream/imported/refused/deleted


def _timed(name):
    start = time.monotonic()
    return lambda: TIMES.__setitem__(name, time.monotonic() - start)


# (release, database of upstream's store); MariaDB is the server of
# tools/testenv/ (SQLite without one, unless FREEZER_TEST_REQUIRE_ALL
# makes that an error). Neither release can create its schema on
# PostgreSQL (its first migration uses the type BLOB), so no upstream
# store lives there.
UPGRADED = "18.0.0 upgraded to 19.0.0"
STORES = [("18.0.0", "sqlite"), ("18.0.0", "mysql"), ("19.0.0", "sqlite"),
          ("19.0.0", "mysql"), (UPGRADED, "sqlite")]
_SEEDED = {}
_DROPS = []


def store(version, database, tmp_path_factory):
    """Upstream ``version`` on a fresh ``database``, seeded (once per
    test process)."""
    key = (version, database)
    if key not in _SEEDED:
        directory = support.upstream_dir(tmp_path_factory, version)
        variable = conftest.SQL_BACKENDS.get(database)
        if variable and os.environ.get(variable):
            url, drop = conftest._sql_database(os.environ[variable])
            _DROPS.append(drop)
            url = support.connection_url(url)
        else:
            url = "sqlite:///%s/upstream.sqlite" % directory
        done = _timed("seed %s on %s" % key)
        if version == UPGRADED:
            _SEEDED[key] = support.upgrade(
                store("18.0.0", database, tmp_path_factory), directory)
        else:
            _SEEDED[key] = support.seed(version, url, directory)
        done()
    return _SEEDED[key]


# -- comparing ------------------------------------------------------------
def _ours(client, prefix, who, kind, doc_id):
    answer = client.simulate_get(
        "%s/%s/%s" % (prefix, kind, doc_id),
        headers={"X-User-Id": who[0], "X-Project-Id": who[1],
                 "X-Roles": "member,reader"})
    return answer.status_code, answer.json


def as_imported(kind, answer):
    """Upstream's answer as this service shows the imported document: the
    differences doc/compatibility.rst lists for imported documents."""
    doc = copy.deepcopy(answer)
    if doc.get("project_id") is None:
        doc["project_id"] = ""  # upstream's v1 rows have no project
    if kind == kinds.CLIENTS:
        doc["client_id"] = doc["client"]["client_id"]
    return doc


def compare(driver, seeded, refused=()):
    """Every difference between this service's answers and upstream's
    (``refused``: (kind, id, who) of documents not imported)."""
    app = app_module.create_app(conftest.make_conf(), storage=driver,
                                clock=conftest.FakeClock())
    client = testing.TestClient(app)
    problems = []
    for kind, doc_id, prefix, who, answer in seeded.answers:
        if (kind, doc_id, who) in refused:
            continue
        status, ours = _ours(client, prefix, who, kind, doc_id)
        if status != 200:
            problems.append("%s %s %s: %s" % (prefix, kind, doc_id, status))
            continue
        if answer is None:
            continue  # upstream no longer shows it: imported, as it is
        ours.pop("_version")
        if ours != as_imported(kind, answer):
            problems.append("%s %s %s:\n ours     %r\n upstream %r" % (
                prefix, kind, doc_id, ours, answer))
    problems += compare_lists(client, seeded)
    for kind, doc_id, prefix, who in seeded.deleted:
        status, _ours_doc = _ours(client, prefix, who, kind, doc_id)
        if status != 404:
            problems.append("deleted %s %s is %s" % (kind, doc_id, status))
    return problems


def compare_lists(client, seeded):
    """Every identity's lists, here and upstream. Scoping is the same but
    for 18.0.0's v2, which listed a user's documents of the project (here:
    every member's): there, this list is the union of the members'.
    The ids of refused sets are left out on both sides."""
    skip = {(kind, doc_id) for kind, doc_id, _whos in seeded.refused}
    expected = {}
    for prefix, who, kind, ids in seeded.lists:
        key = (prefix, who, kind)
        if seeded.version == "18.0.0" and prefix != "/v1":
            key = (prefix, None, kind)  # the union of the members' lists
        expected.setdefault(key, set()).update(
            doc_id for doc_id in ids if (kind, doc_id) not in skip)
    problems = []
    for prefix, who, kind, _ids in seeded.lists:
        answer = client.simulate_get(
            "%s/%s" % (prefix, kind), params={"limit": 1000},
            headers={"X-User-Id": who[0], "X-Project-Id": who[1],
                     "X-Roles": "member,reader"})
        ours = {doc_id for doc_id in support.list_ids(kind, answer.json)
                if (kind, doc_id) not in skip}
        want = expected.get((prefix, who, kind),
                            expected.get((prefix, None, kind)))
        if ours != want:
            problems.append("list %s %s as %s: ours %s, upstream %s" % (
                prefix, kind, who[0], sorted(ours), sorted(want)))
    return problems


def expected_counts(seeded):
    """Per kind: documents upstream answered, but the one refused of each
    set of documents only one of which can be imported."""
    counts = dict.fromkeys(kinds.ALL_KINDS, 0)
    for kind, *_rest in seeded.answers:
        counts[kind] += 1
    for kind, *_rest in seeded.refused:
        counts[kind] -= 1
    return counts


def refused_documents(seeded, source):
    """(kind, id, who) of the documents ``source`` refused, which must be
    one of each of ``seeded.refused``'s sets: upstream's rows of one id
    in one project (which of them was first cannot be told apart on
    MySQL, whose timestamps have whole seconds)."""
    refused = set()
    for kind, rows in source.refusals.items():
        for refusal in rows:
            [entry] = [(k, i, w) for k, i, _p, w, answer in seeded.answers
                       if k == kind and answer and refusal.source_id == (
                           answer["client"]["uuid"] if k == kinds.CLIENTS
                           else i)]
            refused.add(entry)
    assert len(refused) == len(seeded.refused)
    for kind, doc_id, candidates in seeded.refused:
        assert len([r for r in refused if r[:2] == (kind, doc_id) and
                    r[2] in candidates]) == 1, (refused, seeded.refused)
    return refused


def _import_everywhere(seeded, tmp_path_factory):
    """Import ``seeded`` into every backend and compare; the problems."""
    problems = []
    for backend in DESTINATIONS:
        driver, teardown = conftest.build_driver(backend, tmp_path_factory)
        try:
            # (MySQL as devstack and kolla name it: still read in utf8mb4)
            source = upstream_store.open_source(seeded.url.replace(
                "charset=utf8mb4", "charset=utf8"))
            done = _timed("import %s into %s" % (seeded.version, backend))
            try:
                reports = transfer.migrate(source, driver, progress=None)
            finally:
                source.close()
            done()
            assert all(r.ok for r in reports), transfer.summary(reports)
            assert {r.kind: r.destination for r in reports} == \
                expected_counts(seeded), backend
            refused = refused_documents(seeded, source)
            COUNTS["%s -> %s" % (seeded.version, backend)] = " ".join(
                "%s %d/%d/%d/%d" % (r.kind, source.live[r.kind],
                                    r.copied, len(source.refusals[r.kind]),
                                    source.deleted[r.kind])
                for r in reports)
            problems += ["%s: %s" % (backend, p)
                         for p in compare(driver, seeded, refused)]
        finally:
            teardown()
    return problems


@pytest.mark.parametrize("version,database", STORES)
def test_upstream_store_imports_into_every_backend(version, database,
                                                   tmp_path_factory):
    seeded = store(version, database, tmp_path_factory)
    assert {entry[0] for entry in seeded.answers} == set(kinds.ALL_KINDS)
    prefixes = {"/v2/p-one", "/v2/p-two"} | (
        {"/v1"} if version != "19.0.0" else set())
    assert {entry[2] for entry in seeded.answers} == prefixes
    by_reference = [entry[4] for entry in seeded.answers
                    if entry[0] == "jobs" and entry[4] is not None and
                    entry[4]["description"] == "by reference"]
    # 19.0.0 leaves the deleted action out of the job (also after the
    # upgrade, which links the entry to the deleted row); 18.0.0 keeps it.
    assert {len(job["job_actions"]) for job in by_reference} == {
        2 if version == "18.0.0" else 1}
    if version == "19.0.0":
        credentials = [entry for entry in seeded.answers
                       if "user_credentials" in entry[4]]
        assert len(credentials) == 1
        creating = [entry[4] for entry in seeded.answers
                    if entry[4].get("status") == "creating"]
        assert creating and all(doc["backup_metadata"]["container"] is None
                                for doc in creating)
    assert _import_everywhere(seeded, tmp_path_factory) == []


# -- the command: dry run, re-run, report -------------------------------------
def _manage(*args):
    out, err = io.StringIO(), io.StringIO()
    real_err, manage.sys.stderr = manage.sys.stderr, err
    try:
        status = manage.main(list(args), out=out)
    finally:
        manage.sys.stderr = real_err
    return status, out.getvalue(), err.getvalue()


def test_cli_dry_run_then_import_then_rerun(tmp_path_factory, tmp_path):
    upstream18 = store("18.0.0", "sqlite", tmp_path_factory)
    conf = tmp_path / "freezer-api.conf"
    target = tmp_path / "ours.sqlite"
    conf.write_text("[DEFAULT]\nauth_strategy = noauth\n[database]\n"
                    "connection = sqlite:///%s\n" % target)
    base = ("--config-file", str(conf), "import-upstream", "--from",
            upstream18.url, "--no-progress")
    status, out, _err = _manage(*base, "--dry-run")
    assert status == 0, out
    assert "dry run: nothing was written" in out
    assert "refused: clients " in out and "p-one_shared-node" in out
    deleted = {kind: sum(1 for d in upstream18.deleted if d[0] == kind)
               for kind in kinds.ALL_KINDS}
    for kind, count in expected_counts(upstream18).items():
        refused = sum(1 for r in upstream18.refused if r[0] == kind)
        line = next(line for line in out.splitlines()
                    if line.startswith(kind + " "))
        # upstream, importable, refused, deleted upstream
        assert line.split()[1:] == [str(count + refused), str(count),
                                    str(refused), str(deleted[kind])], line
    assert not target.exists()  # the destination was not even opened
    status, out, err = _manage(*base)
    assert status == 0, out + err
    assert "upstream 18.0.0 (alembic revision 23c8ad2655a6)" in err
    copied = [line.split() for line in out.splitlines()
              if line.endswith(" ok")]
    assert len(copied) == 5 and all(row[3] == row[1] for row in copied)
    status, out, _err = _manage(*base)  # again: nothing to do
    assert status == 0
    again = [line.split() for line in out.splitlines()
             if line.endswith(" ok")]
    assert len(again) == 5 and all(row[3] == "0" and row[4] == row[1]
                                   for row in again), out


@pytest.mark.parametrize("backend", [b for b in DESTINATIONS
                                     if b in ("sqlite", "opensearch")])
def test_an_interrupted_import_resumes(backend, tmp_path_factory):
    """Interrupted twice (the transactional SQLite, the search engine
    without transactions), then run to the end: nothing twice, nothing
    missing."""
    seeded = store("18.0.0", "sqlite", tmp_path_factory)
    driver, teardown = conftest.build_driver(backend, tmp_path_factory)
    try:
        for limit in (9, 23):
            source = upstream_store.open_source(seeded.url)
            with pytest.raises(KeyboardInterrupt):
                transfer.migrate(source, test_manage.Interrupting(
                    driver, limit, atomic=backend == "sqlite"),
                    progress=None, page_size=4)
            source.close()
        source = upstream_store.open_source(seeded.url)
        reports = transfer.migrate(source, driver, progress=None,
                                   page_size=4)
        source.close()
        assert all(r.ok for r in reports), transfer.summary(reports)
        assert sum(r.present for r in reports) >= 23
        assert {r.kind: r.destination for r in reports} == \
            expected_counts(seeded)
        assert compare(driver, seeded, refused_documents(
            seeded, source)) == []
    finally:
        teardown()


def test_not_an_upstream_store_is_a_clean_error(tmp_path,
                                                tmp_path_factory):
    status, _out, err = _manage("import-upstream", "--from",
                                "sqlite:///%s/empty.sqlite" % tmp_path)
    assert status == 1 and "not an upstream freezer-api database" in err
    status, _out, err = _manage("import-upstream", "--from",
                                "http://127.0.0.1:9/freezer")
    assert status == 1 and "cannot read the index freezer" in err
    # Upstream's database as this service's own: refused, untouched.
    url = store("18.0.0", "sqlite", tmp_path_factory).url
    conf = tmp_path / "same.conf"
    conf.write_text("[database]\nconnection = %s\n" % url)
    status, _out, err = _manage("--config-file", str(conf),
                                "import-upstream", "--from", url)
    assert status == 2 and "names the database of this service" in err


# -- upstream's Elasticsearch layout ------------------------------------------
def _es_bodies(seeded):
    """Upstream's search-engine documents of the seeded store: ``(_id or
    None, _source)``; bodies keep keys the SQL store dropped."""
    for kind, doc_id, _prefix, _who, answer in seeded.answers:
        body = copy.deepcopy(answer)
        if kind == kinds.CLIENTS:
            body["client"]["os"] = "linux"  # ES keeps every body key
            yield None, body  # clients get ES-generated ids
        else:
            yield doc_id, body


@pytest.mark.skipif("opensearch" not in conftest.BACKENDS,
                    reason="no OpenSearch test node")
def test_upstream_19_search_engine_layout_imports(tmp_path_factory):
    """19.0.0's untyped ``freezer`` index (every kind in one index, told
    apart by the id fields), read from an OpenSearch node."""
    import opensearchpy
    url = os.environ[conftest.EXTRA_BACKENDS["opensearch"]]
    upstream19 = store("19.0.0", "mysql", tmp_path_factory)
    index = "freezer-upstream-%s" % uuid.uuid4().hex[:8]
    es = opensearchpy.OpenSearch(hosts=[url])
    try:
        # (Not mapped: the seeded metadata holds arrays mixing numbers and
        # objects, which a dynamic mapping refuses.)
        es.indices.create(index=index, body={"mappings": {
            "dynamic": False}})
        for doc_id, body in _es_bodies(upstream19):
            es.index(index=index, id=doc_id, body=body)
        es.indices.refresh(index=index)
        es.index(index=index, body={"something": "else"}, refresh=True)
        driver, teardown = conftest.build_driver("sqlite", tmp_path_factory)
        try:
            source = upstream_store.open_source("%s/%s" % (url, index))
            reports = transfer.migrate(source, driver, progress=None)
            assert all(r.ok for r in reports), transfer.summary(reports)
            assert {r.kind: r.destination for r in reports} == \
                expected_counts(upstream19)
            [(_hit, reason)] = source.unknown()
            assert "of no kind" in reason
            source.close()
            expected = copy.deepcopy(upstream19)
            for entry in expected.answers:
                if entry[0] == kinds.CLIENTS:
                    entry[4]["client"]["os"] = "linux"
            assert compare(driver, expected) == []
        finally:
            teardown()
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.close()


def test_search_engine_hits_are_told_apart():
    kind_of = upstream_store.ElasticsearchSource.kind_of
    assert kind_of({"_type": "jobs", "_source": {}}) == "jobs"
    assert kind_of({"_source": {"job_id": "j", "session_id": "s"}}) == "jobs"
    assert kind_of({"_source": {"backup_id": "b", "backup_metadata": {
        "job_id": "j"}}}) == "backups"
    assert kind_of({"_source": {"client": {}, "user_id": "u"}}) == "clients"
    assert kind_of({"_source": {"session_id": "s", "jobs": {}}}) == \
        "sessions"
    assert kind_of({"_source": {"other": 1}}) is None


def test_rows_no_backend_can_hold_are_refused():
    storable = upstream_store.storable
    assert storable("jobs", {"job_id": "j", "user_id": "u",
                             "project_id": ""}) == ("", "j")
    for doc, reason in (
            ({"job_id": "x" * 256, "user_id": "u"}, "printable"),
            ({"job_id": "j\n", "user_id": "u"}, "printable"),
            ({"job_id": "j", "user_id": None}, "not an id"),
            ({"job_id": "j", "user_id": "u", "project_id": "p",
              "d": "a\x00b"}, "NUL"),
            ({"job_id": "j", "user_id": "u", "project_id": "p",
              "n": 2 ** 64}, "out of range")):
        with pytest.raises(upstream_store.UnusableRow, match=reason):
            storable("jobs", doc)


def teardown_module():
    for drop in _DROPS:
        drop()
    if TIMES:
        print("\nimport-upstream timings: " + ", ".join(
            "%s %.1f s" % item for item in sorted(TIMES.items())))
    for name, counts in sorted(COUNTS.items()):
        print("import-upstream %s (upstream/imported/refused/deleted): %s"
              % (name, counts))
