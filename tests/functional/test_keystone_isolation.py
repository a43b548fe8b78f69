"""The isolation matrix, end to end: the real ``freezer-api`` (gunicorn)
behind keystonemiddleware's ``auth_token``, real tokens from the test
Keystone, every route of v1 and v2 called by every kind of caller.

Each test is one column of a table below (one caller on one API
version): a fresh set of alice's documents is made, every operation is
sent once, its status must be the one in the table, and alice's documents
must read the same afterwards. A write that succeeds (``2xx``) by someone
who reaches alice's documents goes to a fresh document of alice's, so
that the ones compared stay untouched.
"""

import uuid

import pytest
import requests

from tests.functional import keystone_support as ks
from tests.functional.keystone_support import keystone  # noqa: F401

pytestmark = pytest.mark.slow

# Callers (columns):
#   alice    the owner: member of freezer-a
#   amy      another member of freezer-a
#   rita     reader of freezer-a
#   adam     admin of freezer-a (admin implies member and reader)
#   bob      member of freezer-b, on /v2/<freezer-b>
#   bob@a    bob on /v2/<freezer-a>: not his token's project
#   adam@b   adam on /v2/<freezer-b>: not his token's project
#   none     no X-Auth-Token
#   bad      a token Keystone never issued
#   revoked  a token of alice's, revoked (server with token_cache_time=-1)
# "-": no such column (v1 has no project in its URL).
#
# Operations (rows) name the policy rule they need; "jobs:all_projects" is
# the job list with all_projects=true. Ids are alice's. Rows are sent in
# order: a replace comes last for its kind, since one by a caller who does
# not reach alice's document creates the caller's own with that id.

V1 = """
operation          alice amy  rita adam bob  bob@a adam@b none bad revoked
backups:get_all    200   200  200  200  200  -     -      401  401 401
backups:create     201   201  403  201  201  -     -      401  401 401
backups:get        200   404  404  404  404  -     -      401  401 401
backups:update     200   404  403  404  404  -     -      401  401 401
backups:delete     204   404  403  404  404  -     -      401  401 401
clients:get_all    200   200  200  200  200  -     -      401  401 401
clients:create     201   201  403  201  201  -     -      401  401 401
clients:get        200   404  404  404  404  -     -      401  401 401
clients:delete     204   404  403  404  404  -     -      401  401 401
jobs:get_all       200   200  200  200  200  -     -      401  401 401
jobs:all_projects  403   403  403  200  403  -     -      401  401 401
jobs:create        201   422  403  422  422  -     -      401  401 401
jobs:get           200   404  404  404  404  -     -      401  401 401
jobs:update        200   404  403  404  404  -     -      401  401 401
jobs:event:create  202   404  403  404  404  -     -      401  401 401
jobs:delete        204   404  403  404  404  -     -      401  401 401
jobs:replace       201   422  403  422  422  -     -      401  401 401
actions:get_all    200   200  200  200  200  -     -      401  401 401
actions:create     201   201  403  201  201  -     -      401  401 401
actions:get        200   404  404  404  404  -     -      401  401 401
actions:update     200   404  403  404  404  -     -      401  401 401
actions:delete     204   404  403  404  404  -     -      401  401 401
actions:replace    201   409  403  409  201  -     -      401  401 401
sessions:get_all   200   200  200  200  200  -     -      401  401 401
sessions:create    201   201  403  201  201  -     -      401  401 401
sessions:get       200   404  404  404  404  -     -      401  401 401
sessions:update    200   404  403  404  404  -     -      401  401 401
sessions:action:create 202 404 403 404  404  -     -      401  401 401
sessions:job:add   204   404  403  404  404  -     -      401  401 401
sessions:job:remove 204  404  403  404  404  -     -      401  401 401
sessions:delete    204   404  403  404  404  -     -      401  401 401
sessions:replace   201   409  403  409  201  -     -      401  401 401
"""

V2 = """
operation          alice amy  rita adam bob  bob@a adam@b none bad revoked
backups:get_all    200   200  200  200  200  403   403    401  401 401
backups:create     201   201  403  201  201  403   403    401  401 401
backups:get        200   200  200  200  404  403   403    401  401 401
backups:update     200   200  403  200  404  403   403    401  401 401
backups:delete     204   204  403  204  404  403   403    401  401 401
clients:get_all    200   200  200  200  200  403   403    401  401 401
clients:create     201   201  403  201  201  403   403    401  401 401
clients:get        200   200  200  200  404  403   403    401  401 401
clients:delete     204   204  403  204  404  403   403    401  401 401
jobs:get_all       200   200  200  200  200  403   403    401  401 401
jobs:all_projects  403   403  403  200  403  403   200    401  401 401
jobs:create        201   201  403  201  422  403   403    401  401 401
jobs:get           200   200  200  200  404  403   403    401  401 401
jobs:update        200   200  403  200  404  403   403    401  401 401
jobs:event:create  202   202  403  202  404  403   403    401  401 401
jobs:delete        204   204  403  204  404  403   403    401  401 401
jobs:replace       201   201  403  201  422  403   403    401  401 401
actions:get_all    200   200  200  200  200  403   403    401  401 401
actions:create     201   201  403  201  201  403   403    401  401 401
actions:get        200   200  200  200  404  403   403    401  401 401
actions:update     200   200  403  200  404  403   403    401  401 401
actions:delete     204   204  403  204  404  403   403    401  401 401
actions:replace    201   201  403  201  201  403   403    401  401 401
sessions:get_all   200   200  200  200  200  403   403    401  401 401
sessions:create    201   201  403  201  201  403   403    401  401 401
sessions:get       200   200  200  200  404  403   403    401  401 401
sessions:update    200   200  403  200  404  403   403    401  401 401
sessions:action:create 202 202 403 202  404  403   403    401  401 401
sessions:job:add   204   204  403  204  404  403   403    401  401 401
sessions:job:remove 204  204  403  204  404  403   403    401  401 401
sessions:delete    204   204  403  204  404  403   403    401  401 401
sessions:replace   201   201  403  201  201  403   403    401  401 401
"""


def _table(text):
    """{(operation, caller): status or None}, the callers, and the
    operations in the order they are sent."""
    header, *rows = [line.split() for line in text.strip().splitlines()]
    callers = header[1:]
    table = {}
    for operation, *cells in rows:
        assert len(cells) == len(callers), operation
        for caller, cell in zip(callers, cells):
            table[operation, caller] = None if cell == "-" else int(cell)
    return table, callers, [row[0] for row in rows]


TABLES = {"v1": _table(V1), "v2": _table(V2)}
COLUMNS = [(version, caller)
           for version, (table, callers, _rows) in TABLES.items()
           for caller in callers if table["jobs:get", caller] is not None]


# -- the requests ----------------------------------------------------------
def _job_body(client_id):
    return {"client_id": client_id, "description": "nightly",
            "job_actions": [{"freezer_action": {
                "action": "backup", "mode": "fs", "path_to_backup": "/etc",
                "backup_name": "etc", "container": "c1"}}],
            "job_schedule": {"schedule_interval": "1 days"}}


def _new_id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


# operation -> (method, path, body factory or None). Paths and bodies are
# built from ``ids``: alice's documents (client, job, action, session,
# backup).
OPERATIONS = {
    "backups:get_all": ("GET", "/backups?limit=1000", None),
    "backups:create": ("POST", "/backups", lambda ids: {
        "container": "c", "hostname": "h", "backup_name": "b"}),
    "backups:get": ("GET", "/backups/{backup}", None),
    "backups:update": ("PATCH", "/backups/{backup}", lambda ids: {
        "status": "error"}),
    "backups:delete": ("DELETE", "/backups/{backup}", None),
    "clients:get_all": ("GET", "/clients?limit=1000", None),
    "clients:create": ("POST", "/clients", lambda ids: {
        "client_id": _new_id("client"), "hostname": "h"}),
    "clients:get": ("GET", "/clients/{client}", None),
    "clients:delete": ("DELETE", "/clients/{client}", None),
    "jobs:get_all": ("GET", "/jobs?limit=1000", None),
    "jobs:all_projects": ("GET", "/jobs?limit=1000&all_projects=true", None),
    "jobs:create": ("POST", "/jobs",
                    lambda ids: _job_body(ids["client"])),
    "jobs:get": ("GET", "/jobs/{job}", None),
    "jobs:update": ("PATCH", "/jobs/{job}", lambda ids: {
        "description": "changed"}),
    "jobs:replace": ("POST", "/jobs/{job}",
                     lambda ids: _job_body(ids["client"])),
    "jobs:event:create": ("POST", "/jobs/{job}/event",
                          lambda ids: {"stop": None}),
    "jobs:delete": ("DELETE", "/jobs/{job}", None),
    "actions:get_all": ("GET", "/actions?limit=1000", None),
    "actions:create": ("POST", "/actions", lambda ids: {
        "freezer_action": {"action": "info"}}),
    "actions:get": ("GET", "/actions/{action}", None),
    "actions:update": ("PATCH", "/actions/{action}", lambda ids: {
        "freezer_action": {"action": "restore"}}),
    "actions:replace": ("POST", "/actions/{action}", lambda ids: {
        "freezer_action": {"action": "admin"}}),
    "actions:delete": ("DELETE", "/actions/{action}", None),
    "sessions:get_all": ("GET", "/sessions?limit=1000", None),
    "sessions:create": ("POST", "/sessions", lambda ids: {
        "schedule": {"schedule_interval": "1 days"}}),
    "sessions:get": ("GET", "/sessions/{session}", None),
    "sessions:update": ("PATCH", "/sessions/{session}", lambda ids: {
        "description": "changed"}),
    "sessions:replace": ("POST", "/sessions/{session}", lambda ids: {
        "schedule": {"schedule_interval": "2 days"}}),
    "sessions:action:create": ("POST", "/sessions/{session}/action",
                               lambda ids: {"start": {
                                   "job_id": ids["job"], "current_tag": 0}}),
    "sessions:job:add": ("PUT", "/sessions/{session}/jobs/{job}", None),
    "sessions:job:remove": ("DELETE", "/sessions/{session}/jobs/{job}",
                            None),
    "sessions:delete": ("DELETE", "/sessions/{session}", None),
}
READS = {"backups:get", "clients:get", "jobs:get", "actions:get",
         "sessions:get"}
# What a write to an existing document needs of its own ("fresh").
FRESH_NEEDS = {
    "backups:update": {"backup"}, "backups:delete": {"backup"},
    "clients:delete": {"client"},
    "jobs:update": {"job"}, "jobs:replace": {"job"},
    "jobs:event:create": {"job"}, "jobs:delete": {"job"},
    "actions:update": {"action"}, "actions:replace": {"action"},
    "actions:delete": {"action"},
    "sessions:update": {"session"}, "sessions:replace": {"session"},
    "sessions:delete": {"session"},
    "sessions:job:add": {"session", "job"},
    "sessions:job:remove": {"session", "member"},
    "sessions:action:create": {"session", "member"},
}


def test_the_tables_cover_every_route():
    """Every route of freezer_api/api/routes.py, with every method its
    resource answers, is a row (besides the all_projects list)."""
    from freezer_api.api import routes
    responders = {"GET", "POST", "PATCH", "PUT", "DELETE"}
    served = set()
    for path, cls, _kind in routes.ROUTES:
        for method in responders:
            if hasattr(cls, "on_" + method.lower()):
                served.add((method, path.replace("{doc_id}", "{}")
                            .replace("{job_id}", "{}")))
    rows = set()
    for method, path, _body in OPERATIONS.values():
        path = path.split("?")[0]
        for name in ("backup", "client", "job", "action", "session"):
            path = path.replace("{%s}" % name, "{}")
        rows.add((method, path))
    assert rows == served
    for *_, operations in TABLES.values():
        assert sorted(operations) == sorted(OPERATIONS)


# -- fixtures ----------------------------------------------------------------
class World:
    """The servers, the tokens, and how each caller reaches the API."""

    def __init__(self, identity, server, uncached_server, revoked_token):
        self.keystone, self.server = identity, server
        self.uncached_server = uncached_server
        self.revoked_token = revoked_token
        self.project = {name: identity.user(name).project_id
                        for name in ("alice", "bob")}

    def base(self, version, caller):
        """The URL prefix ``caller`` uses for ``version``."""
        server = self.uncached_server if caller == "revoked" else self.server
        if version == "v1":
            return server + "/v1"
        name, _, url_project = caller.partition("@")
        if url_project == "b" or (not url_project and name == "bob"):
            return "%s/v2/%s" % (server, self.project["bob"])
        return "%s/v2/%s" % (server, self.project["alice"])

    def token(self, caller):
        if caller == "none":
            return None
        if caller == "bad":
            return "gAAAAABnot-a-token-keystone-ever-issued"
        if caller == "revoked":
            return self.revoked_token
        return self.keystone.token(caller.partition("@")[0])

    def call(self, version, caller, method, path, body=None):
        headers = {"Accept": "application/json"}
        token = self.token(caller)
        if token:
            headers["X-Auth-Token"] = token
        return requests.request(method, self.base(version, caller) + path,
                                json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def world(keystone, tmp_path_factory):  # noqa: F811
    """Two freezer-api servers on one SQLite database: the default
    (tokens cached 300 s) and one with token_cache_time = -1, where a
    revoked token is refused at once."""
    directory = tmp_path_factory.mktemp("isolation")
    database = "sqlite:///%s" % (directory / "freezer.sqlite")
    cached = ks.start_server(directory / "cached", keystone,
                             database_url=database)
    try:
        uncached = ks.start_server(directory / "uncached", keystone,
                                   database_url=database,
                                   authtoken={"token_cache_time": -1})
    except BaseException:
        cached.stop()
        raise
    try:
        token = keystone.new_token("alice")
        probe = uncached.base_url + "/v1/jobs"
        assert requests.get(probe, headers={"X-Auth-Token": token},
                            timeout=30).status_code == 200
        keystone.revoke(token)
        assert requests.get(probe, headers={"X-Auth-Token": token},
                            timeout=30).status_code == 401
        world = World(keystone, cached.base_url, uncached.base_url, token)
        # A job of bob's, for the all_projects lists.
        bob_client = _new_id("bob-client")
        assert world.call("v2", "bob", "POST", "/clients", {
            "client_id": bob_client, "hostname": "b"}).status_code == 201
        created = world.call("v2", "bob", "POST", "/jobs",
                             _job_body(bob_client))
        assert created.status_code == 201, created.text
        world.bob_job = created.json()["job_id"]
        yield world
    finally:
        uncached.stop()
        cached.stop()


def _create(world, version, kind, body):
    answer = world.call(version, "alice", "POST", "/" + kind, body)
    assert answer.status_code == 201, answer.text
    return answer.json()[kind[:-1] + "_id"]


def _documents(world, version, client_id, needs):
    """New documents of alice's: ``needs`` among backup, client, job,
    action, session and member (a job that belongs to the session)."""
    ids = {"client": client_id}
    if "client" in needs:
        ids["client"] = _create(world, version, "clients", {
            "client_id": _new_id("client"), "hostname": "h"})
    if "backup" in needs:
        ids["backup"] = _create(world, version, "backups", {
            "container": "c", "hostname": "h", "backup_name": "b"})
    if needs & {"job", "member"}:
        ids["job"] = _create(world, version, "jobs", _job_body(client_id))
    if "action" in needs:
        ids["action"] = _create(world, version, "actions", {
            "freezer_action": {"action": "backup"}})
    if "session" in needs:
        ids["session"] = _create(world, version, "sessions", {
            "schedule": {"schedule_interval": "1 days"}})
    if "member" in needs:
        added = world.call(version, "alice", "PUT", "/sessions/%s/jobs/%s"
                           % (ids["session"], ids["job"]))
        assert added.status_code == 204, added.text
    return ids


def _snapshot(world, version, ids):
    """alice's documents as she reads them (with their versions)."""
    snapshot = {}
    for kind in ("backup", "client", "job", "action", "session"):
        answer = world.call(version, "alice", "GET", "/%ss/%s" % (
            kind, ids[kind]))
        assert answer.status_code == 200, answer.text
        snapshot[kind] = answer.json()
    return snapshot


def _check_body(world, answer):
    """Errors are JSON {title, description}; a 401 (auth_token's) names
    the Keystone to authenticate with and keeps auth_token's "error"."""
    if answer.status_code < 400:
        return
    body = answer.json()
    if answer.status_code == 401:
        assert answer.headers["WWW-Authenticate"] == \
            'Keystone uri="%s"' % world.keystone.url
        assert body.pop("error")["code"] == 401
    assert set(body) == {"title", "description"}, body


# -- the matrix --------------------------------------------------------------
@pytest.mark.parametrize("version,caller", COLUMNS,
                         ids=["%s-%s" % column for column in COLUMNS])
def test_matrix(world, version, caller):
    table, _callers, operations = TABLES[version]
    client_id = _create(world, version, "clients", {
        "client_id": _new_id("client"), "hostname": "h"})
    owned = _documents(world, version, client_id,
                       {"backup", "member", "action", "session"})
    before = _snapshot(world, version, owned)
    # Does this caller reach alice's documents at all?
    reaches = table["jobs:get", caller] == 200

    failures = []
    for operation in operations:
        method, path, make_body = OPERATIONS[operation]
        expected = table[operation, caller]
        ids = owned
        if reaches and expected < 300 and operation in FRESH_NEEDS:
            ids = _documents(world, version, client_id,
                             FRESH_NEEDS[operation])
        answer = world.call(version, caller, method, path.format(**ids),
                            make_body(ids) if make_body else None)
        if answer.status_code != expected:
            failures.append("%s %s: %d, expected %d: %s" % (
                operation, caller, answer.status_code, expected,
                answer.text[:200]))
            continue
        _check_body(world, answer)
        if operation.endswith(":get_all") and expected == 200:
            kind = operation.split(":")[0]
            listed = {doc[kind[:-1] + "_id"] for doc in answer.json()[kind]}
            assert (owned[kind[:-1]] in listed) == reaches, operation
        elif operation == "jobs:all_projects" and expected == 200:
            listed = {doc["job_id"] for doc in answer.json()["jobs"]}
            assert {owned["job"], world.bob_job} <= listed
        elif operation in READS and expected == 200:
            kind = operation.split(":")[0][:-1]
            assert answer.json() == before[kind]
    assert not failures, "\n".join(failures)
    # Nothing of alice's changed.
    assert _snapshot(world, version, owned) == before
