"""python-freezerclient's ``freezer`` CLI, unmodified, against the real
server behind the real Keystone.

* v2: python-freezerclient 6.5.0.
* v1: python-freezerclient 6.3.0 (the last release with v1) with
  ``OS_BACKUP_API_VERSION=1``.

alice (member of freezer-a) drives the whole cycle; every step is checked
through the API as well; bob (member of freezer-b) sees none of it. The
client finds the API through ``OS_BACKUP_URL`` here, and through the
Keystone catalog in ``test_the_client_finds_the_api_in_the_catalog``.
"""

import http.server
import json
import os
import re
import threading
import uuid
from concurrent import futures

import pytest

from tests.functional import agents_support as agents
from tests.functional import keystone_support as ks
from tests.functional.agents_support import agent_venvs  # noqa: F401
from tests.functional.agents_support import server  # noqa: F401
from tests.functional.keystone_support import keystone  # noqa: F401

pytestmark = pytest.mark.slow

VENVS = {"v2": "cli-v2", "v1": "cli-v1"}


class Cycle:
    """What one version's cycle needs: alice's and bob's CLI, alice's and
    bob's API view, and files to feed the CLI."""

    def __init__(self, version, venv, keystone, server,  # noqa: F811
                 tmp_path):
        api_version = "1" if version == "v1" else None
        self.version, self.tmp_path = version, tmp_path
        self.alice = agents.Cli(venv, keystone, "alice", tmp_path / "alice",
                                server, api_version)
        self.bob = agents.Cli(venv, keystone, "bob", tmp_path / "bob",
                              server, api_version)
        self.api = agents.Api(server, keystone, "alice", version)
        self.bob_api = agents.Api(server, keystone, "bob", version)

    def file(self, name, doc):
        path = self.tmp_path / name
        path.write_text(json.dumps(doc))
        return str(path)

    def create(self, command, id_column, *args):
        """Run a create command of alice's; return the new id. The v2
        commands show the document (``-f json``); the v1 ones only log
        "<Kind> <id> created|registered" on stderr."""
        if self.version == "v2":
            return self.alice.json(command, *args)[id_column]
        result = self.alice.run(command, *args)
        found = re.search(r"^\w+ ([\w-]+) (?:created|registered)$",
                          result.stderr, re.M)
        assert found, (command, result.stdout, result.stderr)
        return found.group(1)


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_cli_cycle(version, keystone, server,  # noqa: F811
                   agent_venvs, tmp_path):  # noqa: F811
    cycle = Cycle(version, agent_venvs[VENVS[version]], keystone, server,
                  tmp_path)
    alice, bob, api = cycle.alice, cycle.bob, cycle.api
    project = keystone.user("alice").project_id
    tag = uuid.uuid4().hex[:8]
    host = "cli-%s-%s" % (version, tag)
    client_id = "%s_%s" % (project, host)

    # -- client-register, client-list, client-show ------------------------
    registered = cycle.create("client-register", "Client ID", "--file",
                              cycle.file("client.json", {
                                  "client_id": client_id, "hostname": host,
                                  "description": "registered by the CLI"}))
    assert registered == client_id
    assert client_id in [c["Client ID"] for c in alice.json("client-list")]
    shown = alice.json("client-show", client_id)
    assert (shown["Client ID"], shown["hostname"]) == (client_id, host)
    assert api.doc("/clients/" + client_id)["client"]["hostname"] == host

    # -- action-create, action-list, action-show --------------------------
    action_id = cycle.create("action-create", "Action ID", "--file",
                             cycle.file("action.json", {
                                 "freezer_action": {
                                     "action": "exec",
                                     "command": "echo %s" % tag},
                                 "max_retries": 1,
                                 "max_retries_interval": 1}))
    assert action_id in [a["Action ID"] for a in alice.json("action-list")]
    assert alice.json("action-show", action_id)["Action"] == "exec"
    assert api.doc("/actions/" + action_id)["freezer_action"][
        "command"] == "echo %s" % tag

    # -- job-create, job-list, job-show -----------------------------------
    job_file = cycle.file("job.json", {
        "description": "job %s" % tag,
        "job_actions": [{"freezer_action": {"action": "exec",
                                            "command": "true"}}],
        "job_schedule": {"schedule_interval": "1 days"}})
    job_id = cycle.create("job-create", "Job ID", "--file", job_file,
                          "--client", client_id)
    listed = {j["Job ID"]: j for j in alice.json("job-list")}
    assert listed[job_id]["Description"] == "job %s" % tag
    assert listed[job_id]["# Actions"] == 1
    assert job_id in [j["Job ID"] for j in alice.json(
        "job-list", "--client", client_id)]
    shown = alice.json("job-show", job_id)
    assert (shown["Client ID"], shown["Interval"]) == (client_id, "1 days")
    job = api.doc("/jobs/" + job_id)
    assert job["client_id"] == client_id
    assert job["job_actions"][0]["freezer_action"]["command"] == "true"
    # job-update (a PATCH) and a free-text --search.
    alice.run("job-update", job_id, cycle.file("update.json", {
        "description": "updated %s" % tag}))
    job = api.doc("/jobs/" + job_id)
    assert job["description"] == "updated %s" % tag
    assert job["job_schedule"]["schedule_interval"] == "1 days"
    assert alice.column("Job ID", "job-list", "--search",
                        "updated %s" % tag) == [job_id]

    # -- session-create, session-add-job, session-start, session-show ------
    session_id = cycle.create("session-create", "Session ID", "--file",
                              cycle.file("session.json", {
                                  "description": "session %s" % tag,
                                  "hold_off": 60,
                                  "schedule": {
                                      "schedule_interval": "2 days"}}))
    alice.run("session-add-job", "--session-id", session_id,
              "--job-id", job_id)
    session = api.doc("/sessions/" + session_id)
    assert list(session["jobs"]) == [job_id]
    job = api.doc("/jobs/" + job_id)
    assert job["session_id"] == session_id
    assert job["job_schedule"]["schedule_interval"] == "2 days"
    # The CLI sends --job-tag as a string ("0"), as upstream accepted.
    alice.run("session-start", "--session-id", session_id,
              "--job-id", job_id, "--job-tag", "0")
    shown = alice.json("session-show", session_id)
    assert (shown["Session tag"], shown["Status"]) == (1, "running")
    session = api.doc("/sessions/" + session_id)
    assert session["session_tag"] == 1
    assert session["jobs"][job_id]["status"] == "running"

    # -- job-start, job-stop, job-abort -----------------------------------
    for command, event in (("job-start", "start"), ("job-stop", "stop"),
                           ("job-abort", "abort")):
        alice.run(command, job_id)
        assert api.doc("/jobs/" + job_id)["job_schedule"]["event"] == event
    assert alice.json("job-show", job_id)["Event"] == "abort"

    # -- session-remove-job -----------------------------------------------
    alice.run("session-remove-job", "--session-id", session_id,
              "--job-id", job_id)
    assert api.doc("/sessions/" + session_id)["jobs"] == {}
    assert api.doc("/jobs/" + job_id)["session_id"] == ""

    # -- backup-create, backup-list, backup-show --------------------------
    metadata = {"container": "c-%s" % tag, "hostname": host,
                "backup_name": "b-%s" % tag, "path_to_backup": "/etc",
                "time_stamp": 1700000000, "curr_backup_level": 0,
                "job_id": job_id}
    alice.run("backup-create", "--file",
              cycle.file("backup.json", metadata))
    (backup_id,) = api.ids("backups", {"match": [
        {"backup_name": "b-%s" % tag}]})
    assert backup_id in alice.column("Backup ID", "backup-list")
    shown = alice.json("backup-show", backup_id)
    assert "b-%s" % tag in shown["Metadata"]
    assert api.doc("/backups/" + backup_id)["backup_metadata"] == metadata

    # -- another project (v2) / another user (v1) sees none of it ---------
    # (bob's commands are independent: run them side by side.)
    with futures.ThreadPoolExecutor(4) as pool:
        lists = {command: pool.submit(bob.json, command) for command in (
            "client-list", "action-list", "job-list", "session-list")}
        backups = pool.submit(bob.column, "Backup ID", "backup-list")
        refused = {command: pool.submit(bob.run, command, doc_id, ok=False)
                   for command, doc_id in (("client-show", client_id),
                                           ("action-show", action_id),
                                           ("job-show", job_id),
                                           ("session-show", session_id),
                                           ("backup-show", backup_id),
                                           ("job-delete", job_id))}
    for command, column, doc_id in (
            ("client-list", "Client ID", client_id),
            ("action-list", "Action ID", action_id),
            ("job-list", "Job ID", job_id),
            ("session-list", "Session ID", session_id)):
        assert doc_id not in [d[column] for d in lists[command].result()]
    assert backup_id not in backups.result()
    for command, result in refused.items():
        answer = result.result()
        assert answer.returncode != 0, (command, answer.stdout)
        said = answer.stdout + answer.stderr
        assert "not found" in said.lower() or "Error 404" in said, \
            (command, said)
    for path in ("/clients/" + client_id, "/actions/" + action_id,
                 "/jobs/" + job_id, "/sessions/" + session_id,
                 "/backups/" + backup_id):
        assert cycle.bob_api.status("GET", path) == 404, path
        if version == "v2":
            # bob's token on alice's project: refused outright.
            assert cycle.bob_api.request(
                "GET", path, prefix=api.prefix).status_code == 403, path
    # bob's job-delete changed nothing.
    assert api.status("GET", "/jobs/" + job_id) == 200

    # -- deletes ----------------------------------------------------------
    alice.run("backup-delete", backup_id)
    alice.run("session-delete", session_id)
    alice.run("job-delete", job_id)
    alice.run("action-delete", action_id)
    alice.run("client-delete", client_id)
    for path in ("/backups/" + backup_id, "/sessions/" + session_id,
                 "/jobs/" + job_id, "/actions/" + action_id,
                 "/clients/" + client_id):
        assert api.status("GET", path) == 404, path
    assert job_id not in [j["Job ID"] for j in alice.json("job-list")]


def test_the_client_finds_the_api_in_the_catalog(
        keystone, agent_venvs, tmp_path):  # noqa: F811
    """Without OS_BACKUP_URL both clients take the ``backup`` endpoint of
    the Keystone catalog (``http://127.0.0.1:<FREEZER_API_PORT>``, no
    version) and append their own version and project."""
    (tmp_path / "server").mkdir()
    # The catalog names one port: wait for any other test run using it.
    with agents.exclusive_port(ks.catalog_port()) as port:
        process = ks.start_server(tmp_path / "server", keystone, port=port)
        try:
            _list_through_the_catalog(keystone, agent_venvs, tmp_path,
                                      process)
        finally:
            process.stop()


def _list_through_the_catalog(keystone, agent_venvs,  # noqa: F811
                              tmp_path, process):
    v2 = agents.Cli(agent_venvs["cli-v2"], keystone, "alice", tmp_path / "v2")
    v1 = agents.Cli(agent_venvs["cli-v1"], keystone, "alice", tmp_path / "v1",
                    api_version="1")
    api = agents.Api(process.base_url, keystone, "alice", "v2")
    host = "catalog-%s" % uuid.uuid4().hex[:8]
    client_id = "%s_%s" % (api.project_id, host)
    api.create("clients", {"client_id": client_id, "hostname": host})
    assert client_id in [c["Client ID"] for c in v2.json("client-list")]
    assert client_id in [c["Client ID"] for c in v1.json("client-list")]
    log = process.log_tail(20000)
    assert "GET /v2/%s/clients/" % api.project_id in log
    assert "GET /v1/clients/" in log


class _FailingIdentity(http.server.BaseHTTPRequestHandler):
    """An identity endpoint that fails every request the way Keystone's
    gunicorn does when Keystone raises (an HTML 500), counting them."""

    requests = 0

    def _fail(self):
        type(self).requests += 1
        body = b"<html><body><h1>Internal Server Error</h1></body></html>"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail

    def log_message(self, *args):
        pass


def test_a_keystone_failure_is_retried_then_reported(
        keystone, agent_venvs, tmp_path):  # noqa: F811
    """The harness runs a command again when Keystone answered 5xx before
    the client had a token (that command never reached freezer-api), warns
    each time, and reports the failure once its attempts are spent."""
    identity = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                               _FailingIdentity)
    thread = threading.Thread(target=identity.serve_forever, daemon=True)
    thread.start()
    try:
        broken = ks.Keystone(dict(
            os.environ, KEYSTONE_URL="http://127.0.0.1:%d/v3"
            % identity.server_address[1]))
        cli = agents.Cli(agent_venvs["cli-v2"], broken, "bob",
                         tmp_path / "bob", "http://127.0.0.1:9")
        with pytest.warns(UserWarning, match=r"Keystone failed freezer "
                          r"client-list \(bob\), attempt \d of 3") as seen:
            result = cli.run("client-list", ok=False)
    finally:
        identity.shutdown()
        identity.server_close()
    assert result.returncode != 0
    assert "Internal Server Error (HTTP 500)" in result.stderr
    assert len([w for w in seen if "Keystone failed" in str(w.message)]) \
        == agents.IDENTITY_ATTEMPTS
    # Each attempt asked for version discovery, then for a token.
    assert _FailingIdentity.requests >= agents.IDENTITY_ATTEMPTS
