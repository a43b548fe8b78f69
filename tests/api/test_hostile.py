"""Hostile input on every backend: each gets a clear 4xx JSON error (never a
500 or a 503), and nothing of it is stored. Complements test_errors.py."""

import json

import pytest
from falcon import testing

from freezer_api.api import params

MIB = 1024 * 1024
BACKUP = {"container": "c", "hostname": "h", "backup_name": "b"}


def _is_error(result, status, *words):
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    assert set(result.json) == {"title", "description"}, result.json
    for word in words:
        assert word in result.json["description"], result.json
    return result.json


def _raw(api, method, path, text, content_type="application/json"):
    return api.request(method, path, raw=text,
                       headers={"Content-Type": content_type})


def _nothing_stored(api):
    for kind in ("backups", "actions", "sessions", "jobs"):
        assert api.get("/" + kind).json[kind] == [], kind


def test_integers_beyond_64_bits_are_400(api):
    job_id = api.job()
    huge = 2 ** 70
    for body in ([dict(BACKUP, time_stamp=huge),
                  dict(BACKUP, time_stamp=-huge),
                  dict(BACKUP, time_stamp=2 ** 63),
                  dict(BACKUP, level=huge)]):
        _is_error(api.post("/backups", body), 400, "out of range")
    _is_error(api.post("/jobs/" + job_id, {
        "client_id": api.get("/jobs/" + job_id).json["client_id"],
        "job_actions": [], "job_schedule": {"time_created": huge}}), 400)
    _is_error(api.post("/sessions", {"schedule": {}, "time_start": huge}),
              400)
    _is_error(api.post("/sessions", {"schedule": {}, "session_tag": huge}),
              400)
    _is_error(api.post("/actions", {"freezer_action": {"n": huge}}), 400)
    # The search: a GET body and the query string.
    _is_error(api.get("/jobs", {"time_after": huge}), 400)
    _is_error(api.get("/backups", {"time_before": -huge}), 400)
    _is_error(api.get("/backups", query_string="time_after=%d" % huge), 400)
    _is_error(api.get("/actions", {"match": [{"n": huge}]}), 400)
    assert api.get("/backups").json["backups"] == []
    assert [j["job_schedule"]["time_created"] for j in api.get(
        "/jobs").json["jobs"]] == [1_700_000_000]


def test_the_largest_time_stamp_is_stored_and_filtered(api):
    edge = 2 ** 63 - 1
    backup_id = api.create("backups", dict(BACKUP, time_stamp=edge))
    found = api.get("/backups", {"time_after": edge}).json["backups"]
    assert [b["backup_id"] for b in found] == [backup_id]
    assert api.get("/backups", {"time_before": edge - 1}).json[
        "backups"] == []
    assert api.get("/backups/" + backup_id).json["backup_metadata"][
        "time_stamp"] == edge


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" * 5000])
def test_numbers_that_are_not_finite_are_400(api, number):
    text = '{"freezer_action": {"action": "backup", "x": %s}}' % number
    _is_error(_raw(api, "POST", "/actions", text), 400, "Malformed JSON")
    assert api.get("/actions").json["actions"] == []


def test_search_terms_given_as_json_text_are_bounded(api):
    api.create("actions", {"freezer_action": {"action": "backup"}})
    for text in ('[{"x": 1e400}]', '[{"x": NaN}]', '[{"x": -Infinity}]',
                 '[{"x": %d}]' % 2 ** 70, '[{"x": "a\\u0000"}]'):
        _is_error(api.get("/actions", {"match": [{"_all": text}]}), 400)
    terms = json.dumps([{"action": "backup"}])
    found = api.get("/actions", {"match": [{"_all": terms}]})
    assert len(found.json["actions"]) == 1


def test_nul_characters_are_refused_everywhere(api):
    """PostgreSQL cannot store U+0000, in text or jsonb: refused on every
    backend alike, in values and keys, bodies, filters and path ids."""
    client_id = api.client_id()
    bodies = [
        ("/actions", {"freezer_action": {"action": "backup"},
                      "description": "a\u0000b"}),
        ("/actions", {"freezer_action": {"path\u0000": "/"}}),
        ("/sessions", {"schedule": {}, "status": "\u0000"}),
        ("/backups", dict(BACKUP, hostname="h\u0000")),
        ("/clients", {"client_id": api.project + "_x",
                      "hostname": "x", "note": ["\u0000"]}),
        ("/jobs", {"client_id": client_id, "job_actions": [
            {"freezer_action": {"action": "backup",
                                "container": "\u0000"}}]}),
    ]
    for path, body in bodies:
        _is_error(api.post(path, body), 400, "NUL")
    _is_error(api.get("/jobs", {"match": [{"description": "\u0000"}]}),
              400, "NUL")
    for query in ("client_id=a%00", "status=%00", "session_id=%00"):
        _is_error(api.get("/jobs", query_string=query), 400, "NUL")
    _nothing_stored(api)
    assert len(api.get("/clients").json["clients"]) == 1
    # Ids in the path: not found, and never sent to the database.
    for path in ("/jobs/a%00b", "/sessions/%00", "/backups/%00",
                 "/clients/x%00"):
        _is_error(api.get(path), 404)
        _is_error(api.delete(path), 404)
    _is_error(api.post("/actions/a%00", {"freezer_action": {}}), 400)


def test_lone_surrogates_are_400_and_pairs_round_trip(api):
    for text in ('{"freezer_action": {"x": "\\ud800"}}',
                 '{"freezer_action": {"\\udfff": 1}}',
                 '{"freezer_action": {}, "description": "a\\udc00b"}'):
        _is_error(_raw(api, "POST", "/actions", text), 400, "surrogate")
    assert api.get("/actions").json["actions"] == []
    text = '{"freezer_action": {"x": "\\ud83d\\ude00"}}'
    result = _raw(api, "POST", "/actions", text)
    assert result.status_code == 201, result.text
    action = api.get("/actions/" + result.json["action_id"]).json
    assert action["freezer_action"]["x"] == "\U0001F600"


def test_unicode_and_control_characters_round_trip(api):
    odd = "é😀\u202e\u0001\u001f\t\n\u2028\ufeff漢字"
    action_id = api.create("actions", {
        "freezer_action": {"action": "backup", "label": odd,
                           "ключ": "значение"}, "description": odd})
    action = api.get("/actions/" + action_id).json
    assert action["description"] == odd
    assert action["freezer_action"]["ключ"] == "значение"
    found = api.get("/actions", {"match": [{"label": odd}]}).json["actions"]
    assert [a["action_id"] for a in found] == [action_id]
    found = api.get("/actions", {"match": [{"_all": "漢字"}]}).json[
        "actions"]
    assert [a["action_id"] for a in found] == [action_id]


def test_unicode_ids_are_distinct_code_point_by_code_point(api):
    """Ids compare exactly on every backend (no case folding, no
    collation): "É", "é", "ß" and "ss" are four ids."""
    ids = ["job-é", "job-É", "job-ß", "job-ss"]
    client_id = api.client_id()
    for job_id in ids:
        assert api.create("jobs", {"client_id": client_id, "job_id": job_id,
                                   "job_actions": []}) == job_id
    for job_id in ids:
        assert api.get("/jobs/" + job_id).json["job_id"] == job_id
    assert api.delete("/jobs/job-é").status_code == 204
    assert sorted(j["job_id"] for j in api.get("/jobs").json["jobs"]) == \
        sorted(ids[1:])
    _is_error(api.post("/jobs", {"client_id": client_id, "job_id": "job-😀",
                                 "job_actions": []}), 400, "job_id")


def test_path_ids_that_cannot_exist_are_404_without_echoing_them(api):
    session_id, job_id = api.session(), api.job()
    long_id = "a" * 10240
    for bad in (long_id, "a" * 256, "a%01b", "tab%09", "a%7f", "%0a"):
        for method, path in (("GET", "/jobs/%s"), ("DELETE", "/jobs/%s"),
                             ("PATCH", "/jobs/%s"), ("GET", "/clients/%s"),
                             ("POST", "/jobs/%s/event"),
                             ("POST", "/sessions/%s/action"),
                             ("PUT", "/sessions/%s/jobs/" + job_id),
                             ("PUT", "/sessions/" + session_id + "/jobs/%s"),
                             ("DELETE", "/sessions/%s/jobs/" + job_id)):
            body = {"start": None} if method != "GET" else None
            result = api.request(method, path % bad, body)
            error = _is_error(result, 404)
            assert len(error["description"]) < 200
        _is_error(api.post("/sessions/" + bad, {"schedule": {}}), 400)
    # A well-formed id of 255 characters is simply not there.
    _is_error(api.get("/jobs/" + "b" * 255), 404)
    assert api.get("/sessions/" + session_id).json["jobs"] == {}
    assert len(api.get("/jobs").json["jobs"]) == 1


@pytest.mark.parametrize("slash", ["%2F", "%2f"])
def test_an_encoded_slash_is_part_of_the_id_never_a_separator(api, slash):
    """DELETE /sessions/S%2Fjobs%2FJ names the session "S/jobs/J", which
    cannot exist: it must not remove job J from session S."""
    session_id, job_id = api.session(), api.job()
    assert api.put("/sessions/%s/jobs/%s" % (session_id, job_id)) \
        .status_code == 204
    joined = slash.join((session_id, "jobs", job_id))
    for method, path in (("DELETE", "/sessions/" + joined),
                         ("GET", "/sessions/" + joined),
                         ("DELETE", "/jobs/%s%s" % (job_id, slash)),
                         ("GET", "/jobs/%s%sevent" % (job_id, slash)),
                         ("PATCH", "/sessions/%s%saction" % (
                             session_id, slash))):
        body = {"description": "x"} if method == "PATCH" else None
        error = _is_error(api.request(method, path, body), 404)
        # The id named is the whole segment, its slash shown decoded.
        assert "/" in error["description"], error
    # Creating under such an id is refused, not stored under another, and
    # an action sent that way is such a create.
    _is_error(api.post("/sessions/a%sb" % slash, {"schedule": {}}), 400)
    _is_error(api.post("/sessions/%s%saction" % (session_id, slash), {
        "start": {"job_id": job_id, "current_tag": 0}}), 400)
    _is_error(api.post("/jobs/%s%sx" % (job_id, slash), {
        "client_id": "c", "job_actions": []}), 400)
    # Nothing changed: the job is still in the session, both still there.
    session = api.get("/sessions/" + session_id).json
    assert list(session["jobs"]) == [job_id]
    assert api.get("/jobs/" + job_id).json["session_id"] == session_id
    assert len(api.get("/sessions").json["sessions"]) == 1
    # Other encoded characters are decoded as before.
    assert api.get("/jobs/" + job_id.replace(job_id[0], "%%%02X" % ord(
        job_id[0]), 1)).status_code == 200


def test_string_array_and_term_limits(api):
    client_id = api.client_id()
    _is_error(api.post("/jobs", {
        "client_id": client_id, "job_actions": [],
        "description": "x" * 65536}), 400, "description")
    assert api.post("/jobs", {"client_id": client_id, "job_actions": [],
                              "description": "x" * 65535}).status_code == 201
    _is_error(api.post("/jobs", {
        "client_id": client_id,
        "job_actions": [{"freezer_action": {}}] * 101}), 400, "job_actions")
    _is_error(api.post("/jobs", {"client_id": client_id, "job_actions": [],
                                 "job_id": "j" * 256}), 400, "job_id")
    _is_error(api.post("/clients", {
        "client_id": api.project + "_y", "hostname": "y" * 256}), 400,
        "hostname")
    _is_error(api.post("/clients", {
        "client_id": api.project + "_y", "hostname": "y",
        "supported_actions": ["backup"] * 65}), 400, "supported_actions")
    _is_error(api.post("/clients", {"client_id": "c" * 256,
                                    "hostname": "y"}), 400, "client_id")
    _is_error(api.get("/jobs", {"match": [{"k%d" % i: i}
                                          for i in range(33)]}), 400)
    _is_error(api.get("/jobs", {"match": [{"_all": "x" * 1025}]}), 400)
    _is_error(api.get("/jobs", {"match": [{"k" * 129: 1}]}), 400)
    _is_error(api.get("/jobs", query_string="client_id=" + "c" * 1025), 400)
    assert len(api.get("/jobs").json["jobs"]) == 1


def test_nesting_depth_boundary(api):
    def nested(levels):
        # The body is level 1, freezer_action level 2.
        inner = "1"
        for _ in range(levels - 1):
            inner = '{"n": %s}' % inner
        return '{"freezer_action": %s}' % inner
    result = _raw(api, "POST", "/actions", nested(params.MAX_DEPTH))
    assert result.status_code == 201, result.text
    _is_error(_raw(api, "POST", "/actions", nested(params.MAX_DEPTH + 1)),
              400, "nested")
    deep = '{"freezer_action": {"a": %s}}' % ("[" * 400000 + "]" * 400000)
    _is_error(_raw(api, "POST", "/actions", deep), 400)
    _is_error(api.get("/actions", raw=json.dumps(
        {"match": [{"a": 1}]}).replace("1", "[" * 40 + "]" * 40)), 400)
    assert len(api.get("/actions").json["actions"]) == 1


def test_duplicate_keys_at_any_depth_are_400(api):
    for text in ('{"freezer_action": {"mode": "fs", "mode": "nova"}}',
                 '{"freezer_action": {"a": [{"k": 1, "k": 1}]}}'):
        _is_error(_raw(api, "POST", "/actions", text), 400, "twice")
    _is_error(_raw(api, "GET", "/jobs",
                   '{"match": [{"a": 1}], "match": []}'), 400, "twice")
    assert api.get("/actions").json["actions"] == []


def test_wrong_content_types_are_415(api):
    job_id = api.job()
    body = json.dumps({"description": "x"})
    for content_type in ("multipart/form-data; boundary=x",
                         "application/xml", "image/png",
                         "application/octet-stream"):
        _is_error(_raw(api, "PATCH", "/jobs/" + job_id, body, content_type),
                  415)
        _is_error(_raw(api, "POST", "/jobs/%s/event" % job_id,
                       '{"start": null}', content_type), 415)
        _is_error(_raw(api, "GET", "/jobs", '{"match": []}', content_type),
                  415)
    assert api.get("/jobs/" + job_id).json["description"] == "a job"
    # JSON under another name is JSON; not UTF-8 is 400.
    merged = _raw(api, "PATCH", "/jobs/" + job_id, body,
                  "application/merge-patch+json")
    assert merged.status_code == 200, merged.text
    utf16 = json.dumps({"description": "y"}).encode("utf-16")
    _is_error(_raw(api, "PATCH", "/jobs/" + job_id, utf16,
                   "application/json; charset=utf-16"), 400, "UTF-8")


def test_huge_limit_and_offset_past_the_end(api):
    ids = [api.create("actions", {"freezer_action": {"n": i}})
           for i in range(3)]
    for query in ("limit=%d" % 10 ** 30, "offset=%d" % 10 ** 30,
                  "limit=1e3", "offset=1e3", "limit=%C2%B2", "limit=0x10",
                  "offset=" + "9" * 5000):
        _is_error(api.get("/actions", query_string=query), 400, "parameter")
    for offset in (3, 4, 10 ** 9):
        result = api.get("/actions", query_string="offset=%d" % offset)
        assert result.status_code == 200, result.text
        assert result.json == {"actions": []}
    last = api.get("/actions", query_string="offset=2&limit=1000")
    assert [a["action_id"] for a in last.json["actions"]] == ids[2:]


def _post_wsgi(api, path, data=b"", **framing):
    """POST ``data`` through WSGI with the environ keys ``framing`` (None
    drops one): (status line, parsed JSON answer)."""
    environ = testing.create_environ(
        method="POST", path=api.prefix + path,
        headers=dict(api.headers(), **{"Content-Type": "application/json"}),
        body=data)
    for key, value in framing.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    start = testing.StartResponseMock()
    body = b"".join(api.client.app(environ, start))
    return start.status, json.loads(body)


def _send_chunked(api, path, data):
    """A body without Content-Length (as gunicorn presents a chunked one)."""
    return _post_wsgi(api, path, data, CONTENT_LENGTH=None,
                      **{"wsgi.input_terminated": True})


class _BrokenInput:
    """A body the server fails to read part-way, as gunicorn does on a
    malformed chunk and mod_wsgi or uWSGI on a body cut short."""

    def __init__(self, error):
        self.error = error

    def read(self, size=-1):
        raise self.error


@pytest.mark.parametrize("error", [OSError("request data read error"),
                                   ValueError("Invalid chunk size")])
def test_a_body_the_server_cannot_read_is_400_and_stores_nothing(
        api, error):
    status, body = _post_wsgi(api, "/actions", CONTENT_LENGTH=None, **{
        "wsgi.input": _BrokenInput(error), "wsgi.input_terminated": True})
    assert status.startswith("400"), body
    assert set(body) == {"title", "description"}
    assert "could not be read (%s)" % type(error).__name__ in \
        body["description"]
    _nothing_stored(api)


def test_a_body_shorter_than_its_content_length_is_400(api):
    """The client closed its side before the end it announced: what came
    parses, but is refused (gunicorn hands such a body on as it is)."""
    text = b'{"freezer_action": {}}'
    status, body = _post_wsgi(api, "/actions", text,
                              CONTENT_LENGTH=str(len(text) + 10))
    assert status.startswith("400"), body
    assert "ended after %d of the %d bytes" % (len(text), len(text) + 10) \
        in body["description"]
    _nothing_stored(api)


def test_body_size_boundary_with_and_without_content_length(api):
    text = '{"freezer_action": {}}'
    exact = text + " " * (MIB - len(text))
    assert _raw(api, "POST", "/actions", exact).status_code == 201
    _is_error(_raw(api, "POST", "/actions", exact + " "), 413)
    status, body = _send_chunked(api, "/actions", text.encode())
    assert status.startswith("201"), body
    status, body = _send_chunked(api, "/actions", (exact + " ").encode())
    assert status.startswith("413") and set(body) == {"title",
                                                      "description"}
    assert len(api.get("/actions").json["actions"]) == 2


def test_identity_headers_longer_than_an_id_are_400(api):
    """(Before any storage: PostgreSQL and MariaDB refused to store them,
    SQLite stored them.)"""
    _is_error(api.as_user("u" * 256).post("/backups", BACKUP), 400,
              "X-User-Id", "longer than 255")
    _is_error(api.as_user("u", "p" * 256).post("/backups", BACKUP), 400,
              "X-Project-Id", "longer than 255")
    longest = api.as_user("u" * 255)
    assert longest.post("/backups", BACKUP).status_code == 201
    assert [b["user_id"] for b in longest.get("/backups").json[
        "backups"]] == ["u" * 255]


def test_if_match_garbage_is_400_and_a_huge_version_412(api):
    job_id = api.job()
    for value in ("9" * 5000, "\u00b2", "-1", "abc", "1.0", "W/x"):
        _is_error(api.delete("/jobs/" + job_id,
                             headers={"If-Match": value}), 400, "If-Match")
    _is_error(api.delete("/jobs/" + job_id,
                         headers={"If-Match": '"%s"' % ("9" * 18)}), 412)
    assert api.get("/jobs/" + job_id).status_code == 200
