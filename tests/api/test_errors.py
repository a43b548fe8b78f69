"""Bad input gets a clear JSON error and changes nothing."""

import pytest


def _is_error(result, status):
    assert result.status_code == status, result.text
    assert set(result.json) == {"title", "description"}, result.json
    assert result.json["title"] and result.json["description"]
    return result.json


@pytest.mark.parametrize("raw", [b"{bad", b"[1,", b"\xff\xfe", b'{"a": NaN}',
                                 b'{"a": 1, "a": 2}'])
def test_malformed_json_is_400_not_753(api, raw):
    result = api.post("/jobs", raw=raw,
                      headers={"Content-Type": "application/json"})
    error = _is_error(result, 400)
    assert "JSON" in error["description"] or "UTF-8" in error["description"]


def test_empty_body_is_400(api):
    for kind in ("jobs", "actions", "sessions", "clients", "backups"):
        error = _is_error(api.post("/" + kind), 400)
        assert "Empty request body" in error["description"]


@pytest.mark.parametrize("body", [[], 3, "x", None])
def test_non_object_body_is_400(api, body):
    for kind in ("jobs", "sessions", "clients", "backups", "actions"):
        _is_error(api.post("/" + kind, raw=__import__("json").dumps(body)),
                  400)


def test_schema_violations_name_the_field(api):
    client_id = api.client_id()
    cases = [
        ({"client_id": client_id, "job_actions": {}}, "job_actions"),
        ({"client_id": client_id, "job_actions": [{"freezer_action": "x"}]},
         "freezer_action"),
        ({"client_id": client_id, "job_actions": [],
          "job_schedule": {"status": "weird"}}, "status"),
        ({"client_id": client_id, "job_actions": [], "bogus": 1}, "bogus"),
        ({"client_id": client_id, "job_actions": [],
          "job_schedule": {"schedule_interval": "5  minutes"}},
         "schedule_interval"),
        ({"client_id": client_id, "job_actions": [],
          "job_schedule": {"time_created": 1.5}}, "time_created"),
        ({"job_actions": []}, "client_id"),
    ]
    for body, field in cases:
        error = _is_error(api.post("/jobs", body), 400)
        assert field in error["description"], (body, error)
    assert api.get("/jobs").json["jobs"] == []
    assert api.get("/actions").json["actions"] == []


def test_unknown_client_is_422_and_leaves_no_orphan_action(api):
    body = {"client_id": "nobody_host", "job_actions": [
        {"freezer_action": {"action": "backup"}}]}
    error = _is_error(api.post("/jobs", body), 422)
    assert "Client not found" in error["description"]
    assert api.get("/actions").json["actions"] == []


def test_client_capabilities_are_checked(api):
    client_id = api.create("clients", {
        "client_id": api.project + "_h", "hostname": "h",
        "supported_actions": ["backup"], "supported_engines": ["tar"]})
    bad_action = {"client_id": client_id, "job_actions": [
        {"freezer_action": {"action": "restore"}}]}
    assert "does not support action" in _is_error(
        api.post("/jobs", bad_action), 422)["description"]
    bad_engine = {"client_id": client_id, "job_actions": [
        {"freezer_action": {"action": "backup", "engine_name": "rsync"}}]}
    assert "does not support engine" in _is_error(
        api.post("/jobs", bad_engine), 422)["description"]
    ok = {"client_id": client_id, "job_actions": [
        {"freezer_action": {"action": "backup", "engine_name": "tar"}}]}
    assert api.post("/jobs", ok).status_code == 201


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=1001",
                                   "limit=abc", "offset=-1", "offset=x",
                                   "limit=1.5"])
def test_bad_paging_is_400(api, query):
    error = _is_error(api.get("/jobs", query_string=query), 400)
    assert "parameter" in error["description"]


def test_blank_paging_values_count_as_absent(api):
    assert api.get("/jobs", query_string="limit=&offset=").status_code \
        == 200


def test_offset_past_the_end_is_an_empty_page(api):
    api.job()
    result = api.get("/jobs", query_string="offset=50")
    assert result.status_code == 200 and result.json == {"jobs": []}


def test_body_over_the_limit_is_413(api):
    big = {"client_id": "x_h", "job_actions": [], "description":
           "x" * (1024 * 1024 + 10)}
    error = _is_error(api.post("/jobs", big), 413)
    assert "bytes" in error["description"]


def test_deep_nesting_is_400(api):
    raw = '{"freezer_action": ' + '{"a": ' * 60 + "1" + "}" * 60 + "}"
    error = _is_error(api.post("/actions", raw=raw), 400)
    assert "nested" in error["description"]


def test_wrong_content_type_is_415(api):
    result = api.post("/actions", raw='{"freezer_action": {}}',
                      headers={"Content-Type": "text/xml"})
    _is_error(result, 415)


def test_not_found_has_a_body(api):
    for kind in ("jobs", "actions", "sessions", "clients", "backups"):
        error = _is_error(api.get("/%s/nope" % kind), 404)
        assert "nope" in error["description"]
        _is_error(api.delete("/%s/nope" % kind), 404)
    _is_error(api.patch("/jobs/nope", {"description": "x"}), 404)
    _is_error(api.post("/jobs/nope/event", {"start": None}), 404)


def test_unknown_route_and_method(api):
    _is_error(api.get("/nothing-here"), 404)
    result = api.put("/jobs/x", {"a": 1})
    _is_error(result, 405)
    _is_error(api.patch("/clients/x", {"a": 1}), 405)


def test_event_errors(api):
    job_id = api.job()
    for body in ({}, [], {"start": None, "stop": None}):
        _is_error(api.post("/jobs/%s/event" % job_id, body), 400)
    error = _is_error(api.post("/jobs/%s/event" % job_id, {"jump": None}),
                      400)
    assert "Bad Action Method" in error["description"]


def test_bad_search_is_400(api):
    for body in ([1], {"match": {"a": 1}}, {"match": [{"a": 1, "b": 2}]},
                 {"match": ["x"]}, {"match": [{"bad key!": 1}]},
                 {"match": [{"a": {"b": 1}}]}, {"time_after": "soon"}):
        _is_error(api.get("/jobs", body), 400)


def test_time_filter_on_a_kind_without_time_is_400(api):
    _is_error(api.get("/clients", query_string="time_after=5"), 400)


def test_not_acceptable(api):
    result = api.get("/jobs", headers={"Accept": "text/html"})
    assert result.status_code == 406


def test_missing_identity_is_401(api):
    result = api.client.simulate_get(api.prefix + "/jobs")
    _is_error(result, 401)
