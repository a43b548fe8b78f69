"""The storage driver contract, run against every backend under test
(``driver`` is parametrised over sqlite, postgresql, mysql and the
search-engine driver on opensearch and elasticsearch, those configured)."""

import threading

import pytest

from freezer_api import exceptions
from freezer_api.domain import kinds
from freezer_api.domain.search import Query
from freezer_api.storage.base import Delete, Insert, Scope, Update
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests.conftest import make_conf

ALICE = Scope(user_id="alice", prefer_project="pa")
PROJECT_A = Scope(project_id="pa")
PROJECT_B = Scope(project_id="pb")


def job(job_id, user="alice", project="pa", client="c1", status="",
        session="", created=100, **extra):
    doc = {"job_id": job_id, "user_id": user, "project_id": project,
           "client_id": client, "session_id": session, "session_tag": 0,
           "job_schedule": {"status": status, "time_created": created},
           "job_actions": [{"freezer_action": {"mode": "fs"}}]}
    doc.update(extra)
    return doc


def insert(driver, *docs, kind=kinds.JOBS):
    driver.apply([Insert(kind, d) for d in docs])


def ids(docs, field="job_id"):
    return [d[field] for d in docs]


def test_insert_get_roundtrip(driver):
    doc = job("j1", description="ünïcode ✓", nested={"a": [1, {"b": None}]})
    assert driver.apply([Insert(kinds.JOBS, doc)]) == [1]
    record = driver.get(kinds.JOBS, ALICE, "j1")
    assert record.doc == doc and record.version == 1
    assert driver.get(kinds.JOBS, PROJECT_A, "j1").doc == doc


def test_missing_is_not_found(driver):
    with pytest.raises(exceptions.NotFound):
        driver.get(kinds.JOBS, ALICE, "nope")


def test_kinds_are_separate(driver):
    insert(driver, job("same"))
    with pytest.raises(exceptions.NotFound):
        driver.get(kinds.ACTIONS, ALICE, "same")
    driver.apply([Insert(kinds.ACTIONS, {"action_id": "same",
                                         "user_id": "alice",
                                         "project_id": "pa",
                                         "freezer_action": {}})])
    assert driver.get(kinds.ACTIONS, ALICE, "same").doc["freezer_action"] \
        == {}
    assert ids(driver.search(kinds.JOBS, ALICE, Query())) == ["same"]


def test_scopes(driver):
    insert(driver, job("a1"), job("a2", user="amy"),
           job("b1", user="bob", project="pb"))
    assert ids(driver.search(kinds.JOBS, ALICE, Query())) == ["a1"]
    assert ids(driver.search(kinds.JOBS, PROJECT_A, Query())) == ["a1", "a2"]
    assert ids(driver.search(kinds.JOBS, PROJECT_B, Query())) == ["b1"]
    everyone = Scope(all_projects=True)
    assert ids(driver.search(kinds.JOBS, everyone, Query())) == \
        ["a1", "a2", "b1"]
    for scope in (ALICE, PROJECT_A):
        with pytest.raises(exceptions.NotFound):
            driver.get(kinds.JOBS, scope, "b1")


def test_ids_unique_per_project_only(driver):
    insert(driver, job("x"))
    with pytest.raises(exceptions.AlreadyExists):
        insert(driver, job("x", user="amy"))
    insert(driver, job("x", user="bob", project="pb"))
    assert driver.get(kinds.JOBS, PROJECT_B, "x").doc["user_id"] == "bob"
    assert driver.get(kinds.JOBS, PROJECT_A, "x").doc["user_id"] == "alice"


def test_v1_prefers_the_token_project(driver):
    insert(driver, job("x", project="pa", description="in a"),
           job("x", project="pz", description="in z"))
    scope_z = Scope(user_id="alice", prefer_project="pz")
    assert driver.get(kinds.JOBS, scope_z, "x").doc["description"] == "in z"
    assert driver.get(kinds.JOBS, ALICE, "x").doc["description"] == "in a"


def test_ids_are_case_sensitive(driver):
    insert(driver, job("abc"), job("ABC"))
    assert driver.get(kinds.JOBS, ALICE, "ABC").doc["job_id"] == "ABC"


def test_update_is_compare_and_set(driver):
    insert(driver, job("j"))
    record = driver.get(kinds.JOBS, ALICE, "j")
    assert driver.apply([Update(record, dict(record.doc, description="1"))]) \
        == [2]
    with pytest.raises(exceptions.VersionConflict):
        driver.apply([Update(record, dict(record.doc, description="2"))])
    fresh = driver.get(kinds.JOBS, ALICE, "j")
    assert fresh.doc["description"] == "1" and fresh.version == 2
    with pytest.raises(exceptions.VersionConflict):
        driver.apply([Delete(record)])
    driver.apply([Delete(fresh)])
    with pytest.raises(exceptions.NotFound):
        driver.get(kinds.JOBS, ALICE, "j")


def test_apply_is_all_or_nothing(driver):
    insert(driver, job("j1"), job("j2"))
    one = driver.get(kinds.JOBS, ALICE, "j1")
    two = driver.get(kinds.JOBS, ALICE, "j2")
    driver.apply([Update(two, dict(two.doc, description="moved"))])
    with pytest.raises(exceptions.VersionConflict):
        driver.apply([Update(one, dict(one.doc, description="lost")),
                      Insert(kinds.JOBS, job("j3")),
                      Update(two, dict(two.doc, description="stale"))])
    assert driver.get(kinds.JOBS, ALICE, "j1").doc.get("description") \
        is None
    with pytest.raises(exceptions.NotFound):
        driver.get(kinds.JOBS, ALICE, "j3")
    with pytest.raises(exceptions.AlreadyExists):
        driver.apply([Update(one, dict(one.doc, description="lost")),
                      Insert(kinds.JOBS, job("j2"))])
    assert driver.get(kinds.JOBS, ALICE, "j1").version == 1


def test_concurrent_compare_and_set_has_one_winner(driver):
    insert(driver, job("j"))
    record = driver.get(kinds.JOBS, ALICE, "j")
    barrier, outcomes = threading.Barrier(6), []

    def writer(n):
        barrier.wait()
        try:
            driver.apply([Update(record, dict(record.doc, description=n))])
            outcomes.append("won")
        except exceptions.VersionConflict:
            outcomes.append("lost")
    threads = [threading.Thread(target=writer, args=(str(i),))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 5 + ["won"]
    assert driver.get(kinds.JOBS, ALICE, "j").version == 2


def test_indexed_filters(driver):
    insert(driver, job("a", client="c1", status="completed"),
           job("b", client="c1", status="scheduled", session="s1"),
           job("c", client="c2", status=""),
           job("d", client="c1"))
    poll = Query(match=(("client_id", "c1"),),
                 match_not=(("status", "completed"),))
    assert ids(driver.search(kinds.JOBS, ALICE, poll)) == ["b", "d"]
    assert ids(driver.search(kinds.JOBS, ALICE, Query(
        match=(("session_id", "s1"),)))) == ["b"]
    assert ids(driver.search(kinds.JOBS, ALICE, Query(
        match=(("job_id", "c"),)))) == ["c"]
    assert ids(driver.search(kinds.JOBS, ALICE, Query(
        match=(("user_id", "alice"),)))) == ["a", "b", "c", "d"]


def test_leaf_filters_match_any_depth_with_types(driver):
    insert(driver, job("a", job_actions=[{"freezer_action": {
        "mode": "mysql", "level": 2, "dry": True}}]), job("b"))
    q = lambda m=(), n=(): ids(driver.search(  # noqa: E731
        kinds.JOBS, ALICE, Query(match=m, match_not=n)))
    assert q((("mode", "mysql"),)) == ["a"]
    assert q(n=(("mode", "mysql"),)) == ["b"]
    assert q((("level", 2),)) == ["a"]
    assert q((("level", "2"),)) == []
    assert q((("dry", True),)) == ["a"]
    assert q((("absent", "x"),)) == []
    assert q(n=(("absent", "x"),)) == ["a", "b"]


def test_text_search(driver):
    insert(driver, job("a", description="Nightly POSTGRES dump"),
           job("b", description="100% done_ok"))
    text = lambda t: ids(driver.search(  # noqa: E731
        kinds.JOBS, ALICE, Query(text=t)))
    assert text("postgres") == ["a"]
    assert text("100%") == ["b"]
    assert text("0% d") == ["b"]
    assert text("_ok") == ["b"]
    assert text("don_") == []   # "_" is literal, not a wildcard


def test_time_window(driver):
    insert(driver, job("a", created=100), job("b", created=200),
           job("c", created=300))
    window = Query(time_after=150, time_before=300)
    assert ids(driver.search(kinds.JOBS, ALICE, window)) == ["b", "c"]


def test_paging_in_insertion_order(driver):
    insert(driver, *[job("j%02d" % i) for i in range(23)])
    record = driver.get(kinds.JOBS, ALICE, "j00")
    driver.apply([Update(record, dict(record.doc, description="touched"))])
    pages = [ids(driver.search(kinds.JOBS, ALICE, Query(limit=10,
                                                        offset=o)))
             for o in (0, 10, 20, 30)]
    assert pages[0] == ["j%02d" % i for i in range(10)]
    assert pages[2] == ["j20", "j21", "j22"] and pages[3] == []
    assert sum(pages, []) == ["j%02d" % i for i in range(23)]


def test_central_clients_scope(driver):
    """``central_clients`` adds every project's central clients to a
    scope's own documents, in reads, lists and fingerprints alike."""
    def client(client_id, project, user="alice", central=False):
        info = {"client_id": client_id, "hostname": "h"}
        if central:
            info["is_central"] = True
        return {"client": info, "client_id": client_id, "user_id": user,
                "project_id": project}
    insert(driver, client("pb_central", "pb", "bob", central=True),
           client("pa_own", "pa"), client("pb_own", "pb", "bob"),
           kind=kinds.CLIENTS)
    listed = {"pb_central", "pa_own"}
    for scope in (PROJECT_A, ALICE):
        central = Scope(user_id=scope.user_id, project_id=scope.project_id,
                        prefer_project=scope.prefer_project,
                        central_clients=True)
        assert set(ids(driver.search(kinds.CLIENTS, central, Query()),
                       "client_id")) == listed
        assert ids(driver.search(kinds.CLIENTS, scope, Query()),
                   "client_id") == ["pa_own"]
        page = driver.page(kinds.CLIENTS, central, Query())
        assert set(ids(page.docs, "client_id")) == listed
        assert driver.get(kinds.CLIENTS, central, "pb_central").doc[
            "project_id"] == "pb"
        with pytest.raises(exceptions.NotFound):
            driver.get(kinds.CLIENTS, central, "pb_own")
        before = driver.fingerprint(kinds.CLIENTS, central, Query())
        record = driver.get(kinds.CLIENTS, PROJECT_B, "pb_central")
        driver.apply([Update(record, dict(record.doc, description="x"))])
        assert driver.fingerprint(kinds.CLIENTS, central, Query()) != before


def test_other_kinds_id_fields(driver):
    driver.apply([
        Insert(kinds.CLIENTS, {"client": {"client_id": "p_h"},
                               "client_id": "p_h", "user_id": "alice",
                               "project_id": "pa"}),
        Insert(kinds.BACKUPS, {"backup_id": "b1", "user_id": "alice",
                               "project_id": "pa", "backup_metadata": {
                                   "time_stamp": 50, "backup_name": "n"}}),
        Insert(kinds.SESSIONS, {"session_id": "s1", "user_id": "alice",
                                "project_id": "pa", "status": "running",
                                "time_start": 7, "jobs": {}})])
    assert driver.get(kinds.CLIENTS, ALICE, "p_h").doc["client_id"] == "p_h"
    assert ids(driver.search(kinds.BACKUPS, ALICE, Query(time_after=40)),
               "backup_id") == ["b1"]
    assert ids(driver.search(kinds.SESSIONS, ALICE, Query(
        match=(("status", "running"),))), "session_id") == ["s1"]
    assert driver.count(kinds.SESSIONS) == 1


def test_healthcheck(driver):
    driver.healthcheck()


# -- fingerprints: the validator of conditional list requests ---------------

POLL_C1 = Query(match=(("client_id", "c1"),),
                match_not=(("status", "completed"),))


def test_page_is_search_with_its_fingerprint(driver):
    insert(driver, job("a"), job("b"), job("c", client="c2"))
    page = driver.page(kinds.JOBS, ALICE, POLL_C1)
    assert page.docs == driver.search(kinds.JOBS, ALICE, POLL_C1)
    assert ids(page.docs) == ["a", "b"]
    assert page.fingerprint == driver.fingerprint(kinds.JOBS, ALICE, POLL_C1)
    assert isinstance(page.fingerprint, str) and \
        0 < len(page.fingerprint) <= 64


def test_fingerprint_follows_every_change_on_the_page(driver):
    insert(driver, job("a"), job("b"), job("other", client="c2"))
    seen = [driver.fingerprint(kinds.JOBS, ALICE, POLL_C1)]

    def changed():
        value = driver.fingerprint(kinds.JOBS, ALICE, POLL_C1)
        assert value not in seen
        seen.append(value)

    # Documents off the page (another client) do not change it.
    other = driver.get(kinds.JOBS, ALICE, "other")
    driver.apply([Update(other, dict(other.doc, description="x"))])
    assert driver.fingerprint(kinds.JOBS, ALICE, POLL_C1) == seen[-1]
    # A document on it written, added, deleted, leaving the filter.
    a = driver.get(kinds.JOBS, ALICE, "a")
    driver.apply([Update(a, dict(a.doc, description="new"))])
    changed()
    insert(driver, job("c"))
    changed()
    # Deleted again: the page is what it was, so is its fingerprint.
    driver.apply([Delete(driver.get(kinds.JOBS, ALICE, "c"))])
    assert driver.fingerprint(kinds.JOBS, ALICE, POLL_C1) == seen[-2]
    driver.apply([Delete(driver.get(kinds.JOBS, ALICE, "a"))])
    changed()
    b = driver.get(kinds.JOBS, ALICE, "b")
    driver.apply([Update(b, job("b", status="completed"))])
    changed()
    # Back to a state seen before, by new writes: still a new value.
    b = driver.get(kinds.JOBS, ALICE, "b")
    driver.apply([Update(b, job("b"))])
    changed()


def test_fingerprint_of_a_re_created_document(driver):
    insert(driver, job("a"), job("b"))
    everything = Query()
    before = driver.fingerprint(kinds.JOBS, ALICE, everything)
    # The newest document deleted and created again with the same id and
    # content (SQLite may even give it back the same row id).
    driver.apply([Delete(driver.get(kinds.JOBS, ALICE, "b"))])
    insert(driver, job("b"))
    assert driver.fingerprint(kinds.JOBS, ALICE, everything) != before


def test_fingerprint_of_a_later_page(driver):
    insert(driver, *[job("j%02d" % i) for i in range(25)])
    second = Query(limit=10, offset=10)
    before = driver.fingerprint(kinds.JOBS, ALICE, second)
    assert before != driver.fingerprint(kinds.JOBS, ALICE, Query(limit=10))
    # A document after the page changes: not this page.
    last = driver.get(kinds.JOBS, ALICE, "j24")
    driver.apply([Update(last, dict(last.doc, description="x"))])
    assert driver.fingerprint(kinds.JOBS, ALICE, second) == before
    # One before it goes: the page shifts.
    driver.apply([Delete(driver.get(kinds.JOBS, ALICE, "j03"))])
    assert driver.fingerprint(kinds.JOBS, ALICE, second) != before
    assert ids(driver.page(kinds.JOBS, ALICE, second).docs) == \
        ["j%02d" % i for i in range(11, 21)]


def test_fingerprint_is_per_scope(driver):
    insert(driver, job("a"), job("b", user="bob", project="pb"))
    alice = driver.fingerprint(kinds.JOBS, ALICE, Query())
    bob = driver.fingerprint(kinds.JOBS, Scope(user_id="bob"), Query())
    assert alice != bob
    assert driver.fingerprint(kinds.JOBS, PROJECT_B, Query()) == bob
    empty = driver.fingerprint(kinds.JOBS, Scope(user_id="nobody"), Query())
    insert(driver, job("c", user="nobody"))
    assert driver.fingerprint(kinds.JOBS, Scope(user_id="nobody"),
                              Query()) != empty


def test_load_inserts_in_bulk(driver):
    driver.load([Insert(kinds.JOBS, job("j%03d" % i, client="c%d" % (i % 3)))
                 for i in range(120)])
    assert driver.count(kinds.JOBS) == 120
    assert ids(driver.search(kinds.JOBS, ALICE, Query(
        match=(("client_id", "c1"),), limit=3))) == ["j001", "j004", "j007"]
    assert driver.get(kinds.JOBS, PROJECT_A, "j119").version == 1
    record = driver.get(kinds.JOBS, ALICE, "j000")
    assert driver.apply([Update(record, dict(record.doc, x=1))]) == [2]
    with pytest.raises(exceptions.AlreadyExists):
        driver.load([Insert(kinds.JOBS, job("j005"))])
    with pytest.raises(TypeError):
        driver.load([Delete(record)])


# -- writes change exactly what changed ------------------------------------

def test_update_moves_every_indexed_field(driver):
    insert(driver, job("j", client="c1", session="s1", status="scheduled",
                       created=100))

    def found(**match):
        query = Query(match=tuple(match.items()))
        return ids(driver.search(kinds.JOBS, ALICE, query))

    j = driver.get(kinds.JOBS, ALICE, "j")
    driver.apply([Update(j, job("j", client="c2", session="s2",
                                status="running", created=200))])
    assert found(client_id="c2") == ["j"] and found(client_id="c1") == []
    assert found(session_id="s2") == ["j"] and found(session_id="s1") == []
    assert found(status="running") == ["j"] and found(status="scheduled") \
        == []
    assert ids(driver.search(kinds.JOBS, ALICE, Query(time_after=150))) \
        == ["j"]
    # Only the document changes: the indexed fields stay where they are.
    j = driver.get(kinds.JOBS, ALICE, "j")
    driver.apply([Update(j, dict(j.doc, description="only this"))])
    assert found(client_id="c2") == ["j"]
    assert found(session_id="s2") == ["j"]
    assert driver.get(kinds.JOBS, ALICE, "j").doc["description"] == \
        "only this"
    # And back, from a record read before the last write: refused.
    with pytest.raises(exceptions.VersionConflict):
        driver.apply([Update(j, job("j", client="c1"))])
    assert found(client_id="c1") == []


# -- what one process wrote, another sees at once ---------------------------

def _twin(driver):
    """A second driver on the same storage, as another worker has."""
    if isinstance(driver, sql_driver.SQLAlchemyDriver):
        return sql_driver.SQLAlchemyDriver(make_conf(
            **{"database.connection": driver.url}))
    from freezer_api.storage.elasticsearch import driver as es_driver
    return es_driver.ElasticsearchDriver(make_conf(**{
        "elasticsearch.hosts": list(driver.conf.hosts),
        "elasticsearch.index_prefix": driver.prefix,
        "elasticsearch.refresh_interval": driver.conf.refresh_interval}))


def test_reads_and_fingerprints_follow_another_drivers_writes(driver):
    insert(driver, job("a"), job("b"))
    other = _twin(driver)
    try:
        before = driver.fingerprint(kinds.JOBS, ALICE, POLL_C1)
        assert driver.fingerprint(kinds.JOBS, ALICE, POLL_C1) == before
        a = other.get(kinds.JOBS, ALICE, "a")
        other.apply([Update(a, dict(a.doc, description="by the twin"))])
        after = driver.fingerprint(kinds.JOBS, ALICE, POLL_C1)
        assert after != before
        assert driver.get(kinds.JOBS, ALICE, "a").doc["description"] == \
            "by the twin"
        other.apply([Insert(kinds.JOBS, job("c"))])
        assert driver.fingerprint(kinds.JOBS, ALICE, POLL_C1) != after
        assert ids(driver.page(kinds.JOBS, ALICE, POLL_C1).docs) == \
            ["a", "b", "c"]
    finally:
        other.close()
