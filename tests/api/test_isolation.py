"""Tenant isolation: another tenant's documents are 404 on every verb and
never change; only a v2 URL naming a foreign project is a 403."""

import pytest

KINDS = ("jobs", "actions", "sessions", "clients", "backups")


@pytest.fixture
def owned(api):
    """One document of every kind, owned by alice of proj-a."""
    client_id = api.client_id("iso")
    job_id = api.job(client_id)
    session_id = api.session()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    action_id = api.create("actions", {"freezer_action": {"a": 1}})
    backup_id = api.create("backups", {"container": "c", "hostname": "h",
                                       "backup_name": "b"})
    return {"jobs": job_id, "actions": action_id, "sessions": session_id,
            "clients": client_id, "backups": backup_id}


def _snapshot(api, owned):
    return {kind: api.get("/%s/%s" % (kind, doc_id)).json
            for kind, doc_id in owned.items()}


def _outsiders(api):
    others = [api.as_user("bob", "proj-b")]
    if api.version == "v1":
        # v1 is user-scoped: a colleague in the same project is a stranger.
        others.append(api.as_user("amy", "proj-a"))
    return others


def test_others_see_nothing_and_change_nothing(api, owned):
    before = _snapshot(api, owned)
    for other in _outsiders(api):
        for kind, doc_id in owned.items():
            assert other.get("/" + kind).json[kind] == []
            path = "/%s/%s" % (kind, doc_id)
            assert other.get(path).status_code == 404
            assert other.delete(path).status_code == 404
            if kind in ("jobs", "actions", "sessions"):
                assert other.patch(path, {"description": "x"}) \
                    .status_code == 404
        assert other.post("/jobs/%s/event" % owned["jobs"],
                          {"stop": None}).status_code == 404
        action = other.post("/sessions/%s/action" % owned["sessions"],
                            {"start": {"job_id": owned["jobs"],
                                       "current_tag": 0}})
        assert action.status_code == 404
        assert other.put("/sessions/%s/jobs/%s" % (
            owned["sessions"], owned["jobs"])).status_code == 404
        assert other.delete("/sessions/%s/jobs/%s" % (
            owned["sessions"], owned["jobs"])).status_code == 404
        # A search for the owner's fields finds nothing either.
        found = other.get("/jobs", {"match": [{"client_id":
                                               owned["clients"]}]})
        assert found.json["jobs"] == []
    assert _snapshot(api, owned) == before


def test_replace_by_another_project_does_not_touch_the_original(api, owned):
    bob = api.as_user("bob", "proj-b")
    result = bob.post("/actions/" + owned["actions"],
                      {"freezer_action": {"b": 2}})
    assert result.status_code == 201
    assert api.get("/actions/" + owned["actions"]).json[
        "freezer_action"] == {"a": 1}
    assert bob.get("/actions/" + owned["actions"]).json[
        "freezer_action"] == {"b": 2}


def test_v2_url_project_must_match_the_token(app, driver):
    from falcon import testing
    from tests.api.conftest import Api
    alice = Api(testing.TestClient(app), "v2")
    bob_in_a = Api(testing.TestClient(app), "v2", user="bob",
                   project="proj-b")
    for kind in KINDS:
        result = bob_in_a.client.simulate_get(
            "/v2/proj-a/" + kind, headers=bob_in_a.headers())
        assert result.status_code == 403
        assert result.json["title"] == "Access Forbidden"
    assert alice.get("/jobs").status_code == 200


def test_v2_colleagues_share_the_project(app, driver):
    from falcon import testing
    from tests.api.conftest import Api
    alice = Api(testing.TestClient(app), "v2")
    amy = alice.as_user("amy")
    job_id = alice.job()
    assert amy.get("/jobs/" + job_id).status_code == 200


def test_v1_sees_own_documents_of_every_project(app, driver):
    from falcon import testing
    from tests.api.conftest import Api
    v2 = Api(testing.TestClient(app), "v2")
    v1 = Api(testing.TestClient(app), "v1")
    job_id = v2.job()
    assert v1.get("/jobs/" + job_id).status_code == 200
    assert v1.as_user("alice", "proj-z").get("/jobs/" + job_id) \
        .status_code == 200


@pytest.mark.parametrize("user", [
    "john.doe", "jdoe@example.com", "cn=jdoe,ou=people,dc=example"])
def test_user_ids_of_any_form_own_every_kind(api, user):
    """User ids are the identity header's (LDAP-backed Keystone domains and
    noauth callers use dots, @, commas): every kind of document can be
    created, changed, started and read back under them (upstream refused
    jobs, actions, sessions and clients outside [A-Za-z0-9_-]), and they
    stay another tenant's. (Project ids are Keystone's hex uuids: a client
    id is "<project>_<host>".)"""
    me = api.as_user(user)
    owned = {"clients": me.client_id("any"), "sessions": me.session()}
    owned["jobs"] = me.job(owned["clients"])
    owned["actions"] = me.create("actions", {"freezer_action": {
        "action": "backup", "mode": "fs"}})
    owned["backups"] = me.create("backups", {
        "container": "c", "hostname": "h", "backup_name": "b"})
    assert me.patch("/actions/" + owned["actions"], {
        "max_retries": 3}).status_code == 200
    assert me.patch("/jobs/" + owned["jobs"], {
        "description": "changed"}).status_code == 200
    assert me.put("/sessions/%s/jobs/%s" % (
        owned["sessions"], owned["jobs"])).status_code == 204
    started = me.post("/sessions/%s/action" % owned["sessions"], {
        "start": {"job_id": owned["jobs"], "current_tag": 0}})
    assert started.status_code == 202, started.text
    for kind, doc_id in owned.items():
        got = me.get("/%s/%s" % (kind, doc_id))
        assert got.status_code == 200, (kind, got.text)
        if kind != "clients":
            assert got.json["user_id"] == user, kind
        assert doc_id in [d[kind[:-1] + "_id"] if kind != "clients"
                          else d["client"]["client_id"]
                          for d in me.get("/" + kind).json[kind]]
        other = api.as_user("bob", "proj-b").get("/%s/%s" % (kind, doc_id))
        assert other.status_code in (403, 404), (kind, other.status_code)
