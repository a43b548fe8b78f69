"""Conditional requests, on v1 and v2 and every backend: ETag on jobs and
job lists, If-None-Match answered 304 while nothing the answer shows has
changed, If-Match (412) on writes."""

import pytest


def _poll_body(client_id):
    return {"match_not": [{"status": "completed"}],
            "match": [{"client_id": client_id}]}


def _poll(api, client_id, etag=None, offset=0):
    headers = {"If-None-Match": etag} if etag else None
    return api.get("/jobs?limit=10&offset=%d" % offset,
                   _poll_body(client_id), headers=headers)


def _not_modified(result, etag):
    assert result.status_code == 304, result.text
    assert result.text == ""
    assert result.headers["etag"] == etag


def test_job_etag_and_if_none_match(api):
    job_id = api.job()
    shown = api.get("/jobs/" + job_id)
    etag = shown.headers["etag"]
    assert etag == '"%d"' % shown.json["_version"]
    for sent in (etag, "W/" + etag, '"x", %s' % etag, "*"):
        _not_modified(api.get("/jobs/" + job_id,
                              headers={"If-None-Match": sent}), etag)
    assert api.get("/jobs/" + job_id,
                   headers={"If-None-Match": '"999"'}).status_code == 200
    api.patch("/jobs/" + job_id, {"description": "changed"})
    again = api.get("/jobs/" + job_id, headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.json["description"] == "changed"
    assert again.headers["etag"] != etag


def test_missing_job_is_404_whatever_the_etag(api):
    result = api.get("/jobs/nope", headers={"If-None-Match": "*"})
    assert result.status_code == 404


def test_poll_is_304_until_a_job_of_the_client_changes(api):
    client_id = api.client_id()
    other = api.client_id()
    jobs = [api.job(client_id) for _ in range(3)]
    foreign = api.job(other)

    first = _poll(api, client_id)
    assert first.status_code == 200
    assert [j["job_id"] for j in first.json["jobs"]] == jobs
    etag = first.headers["etag"]
    _not_modified(_poll(api, client_id, etag), etag)
    _not_modified(_poll(api, client_id, "W/" + etag), etag)

    # Another client's job changes: this agent's answer does not.
    api.patch("/jobs/" + foreign, {"description": "elsewhere"})
    _not_modified(_poll(api, client_id, etag), etag)

    # One of its jobs changes, a job is added, one completes: new answers.
    for change in (
            lambda: api.patch("/jobs/" + jobs[0], {"description": "new"}),
            lambda: jobs.append(api.job(client_id)),
            lambda: api.patch("/jobs/" + jobs[1], {
                "job_schedule": {"status": "completed"}})):
        change()
        fresh = _poll(api, client_id, etag)
        assert fresh.status_code == 200
        assert fresh.headers["etag"] != etag
        etag = fresh.headers["etag"]
        _not_modified(_poll(api, client_id, etag), etag)
    assert [j["job_id"] for j in fresh.json["jobs"]] == \
        [jobs[0], jobs[2], jobs[3]]
    assert fresh.json["jobs"][0]["description"] == "new"

    # Deleted: gone from the answer.
    assert api.delete("/jobs/" + jobs[2]).status_code == 204
    gone = _poll(api, client_id, etag)
    assert gone.status_code == 200
    assert [j["job_id"] for j in gone.json["jobs"]] == [jobs[0], jobs[3]]


def test_list_etag_depends_on_the_whole_request(api):
    client_id = api.client_id()
    for _ in range(3):
        api.job(client_id)
    base = _poll(api, client_id).headers["etag"]
    variants = [
        api.get("/jobs?limit=2", _poll_body(client_id)),
        api.get("/jobs?limit=10&offset=1", _poll_body(client_id)),
        api.get("/jobs?client_id=%s" % client_id),
        api.get("/jobs"),
        api.get("/actions"),
    ]
    etags = [result.headers["etag"] for result in variants]
    assert all(result.status_code == 200 for result in variants)
    assert len(set(etags + [base])) == len(etags) + 1
    # The same search spelt in the query string or the body: one answer.
    assert api.get("/jobs", {"match": [{"client_id": client_id}]}).headers[
        "etag"] == etags[2]
    # Each is the validator of its own request only.
    for result, etag in zip(variants[:3], etags[:3]):
        assert _poll(api, client_id, etag).status_code == 200


def test_query_string_poll_is_conditional_too(api):
    client_id = api.client_id()
    api.job(client_id)
    path = "/jobs?client_id=%s&limit=10&offset=0" % client_id
    first = api.get(path)
    etag = first.headers["etag"]
    _not_modified(api.get(path, headers={"If-None-Match": etag}), etag)
    api.job(client_id)
    assert api.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_list_etags_differ_between_versions_and_scopes(app):
    from falcon import testing
    from tests.api.conftest import Api
    client = testing.TestClient(app)
    v1, v2 = Api(client, "v1"), Api(client, "v2")
    client_id = v2.client_id()
    v2.job(client_id)
    etag_v1 = _poll(v1, client_id).headers["etag"]
    etag_v2 = _poll(v2, client_id).headers["etag"]
    assert etag_v1 != etag_v2
    # The same documents through another scope: no 304 from its ETag.
    assert _poll(v1, client_id, etag_v2).status_code == 200
    colleague = v2.as_user("bob")
    assert _poll(colleague, client_id, etag_v2).status_code == 304
    stranger = v1.as_user("carol")
    assert _poll(stranger, client_id).json["jobs"] == []
    assert _poll(stranger, client_id, etag_v1).status_code == 200


def test_if_none_match_still_checks_access(api):
    client_id = api.client_id()
    api.job(client_id)
    etag = _poll(api, client_id).headers["etag"]
    reader_only = api.as_user(api.user, roles="guest")
    assert _poll(reader_only, client_id, etag).status_code == 403


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_if_match_on_update_and_replace(api, method):
    client_id = api.client_id()
    job_id = api.job(client_id)
    etag = api.get("/jobs/" + job_id).headers["etag"]
    body = {"description": "v2"}
    if method == "POST":
        body.update(client_id=client_id, job_actions=[{"freezer_action": {
            "action": "backup", "mode": "fs", "path_to_backup": "/",
            "backup_name": "n", "container": "c"}}])
    stale = api.request(method, "/jobs/" + job_id, body,
                        headers={"If-Match": '"%d"' % 7})
    assert stale.status_code == 412
    done = api.request(method, "/jobs/" + job_id, body,
                       headers={"If-Match": etag})
    assert done.status_code in (200, 201)
    assert done.headers["etag"] != etag
    assert api.request(method, "/jobs/" + job_id, body,
                       headers={"If-Match": etag}).status_code == 412
