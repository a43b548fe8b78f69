"""End to end: the real ``freezer-api`` command (gunicorn, 2 workers) on a
loopback socket, driven over HTTP like an agent would."""

import threading

import pytest
import requests

from tests.functional import server as server_module


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    url, drop = server_module.database(request.param, tmp)
    process = server_module.Server(tmp, url).start()
    yield process.base_url
    process.stop()
    drop()


def _session(user, project):
    http = requests.Session()
    http.headers.update({"X-User-Id": user, "X-Project-Id": project,
                         "X-Roles": "member", "Accept": "application/json"})
    return http


@pytest.mark.parametrize("prefix", ["/v1", "/v2/proj-e2e"])
def test_agent_cycle_over_a_socket(server, prefix):
    http = _session("agent-user", "proj-e2e")
    base = server + prefix
    versions = requests.get(server + "/")
    assert versions.status_code == 300
    assert [v["id"] for v in versions.json()["versions"]] == ["v1", "v2"]

    client_id = "proj-e2e_host-%s" % prefix.count("/")
    assert http.post(base + "/clients/", json={
        "client_id": client_id, "hostname": "host"}).status_code == 201
    job = {"client_id": client_id, "description": "e2e",
           "job_actions": [{"freezer_action": {"action": "exec",
                                               "command": "true"}}],
           "job_schedule": {"schedule_interval": "continuous"}}
    job_id = http.post(base + "/jobs/", json=job).json()["job_id"]
    session_id = http.post(base + "/sessions/", json={
        "schedule": {"schedule_interval": "continuous"}}).json()["session_id"]
    assert http.put("%s/sessions/%s/jobs/%s" % (
        base, session_id, job_id)).status_code == 204

    # The scheduler's poll: a JSON body on a GET.
    poll = http.get(base + "/jobs/?limit=10&offset=0", json={
        "match_not": [{"status": "completed"}],
        "match": [{"client_id": client_id}]})
    assert poll.status_code == 200
    polled = poll.json()["jobs"]
    assert [j["job_id"] for j in polled] == [job_id]

    started = http.post("%s/sessions/%s/action" % (base, session_id),
                        json={"start": {"job_id": job_id,
                                        "current_tag": 0}})
    assert started.status_code == 202
    assert started.json() == {"result": "success", "session_tag": 1}
    doc = polled[0]
    doc["session_tag"] = 1
    doc["job_schedule"].update(status="running", current_pid=123)
    assert http.patch("%s/jobs/%s" % (base, job_id), json=doc) \
        .status_code == 200
    assert http.post(base + "/backups/", json={
        "container": "c", "hostname": "host", "backup_name": "b",
        "job_id": job_id, "time_stamp": 1}).status_code == 201
    ended = http.post("%s/sessions/%s/action" % (base, session_id),
                      json={"end": {"job_id": job_id, "current_tag": 1,
                                    "result": "success"}})
    assert ended.json()["result"] == "success"
    session = http.get("%s/sessions/%s" % (base, session_id)).json()
    assert (session["status"], session["result"]) == \
        ("completed", "success")
    assert http.get("%s/jobs/%s" % (base, job_id)).json()[
        "job_schedule"]["current_pid"] == 123
    # Someone else sees none of it.
    stranger = _session("stranger", "proj-other")
    other_prefix = prefix.replace("proj-e2e", "proj-other")
    assert stranger.get("%s%s/jobs/%s" % (server, other_prefix, job_id)) \
        .status_code == 404
    assert http.delete("%s/sessions/%s/jobs/%s" % (
        base, session_id, job_id)).status_code == 204
    assert http.delete("%s/sessions/%s" % (base, session_id)) \
        .status_code == 204
    assert http.delete("%s/jobs/%s" % (base, job_id)).status_code == 204


def test_many_agents_start_one_session_across_workers(server):
    """Eight agents, two worker processes: one tag bump, all join."""
    http = _session("crowd", "proj-crowd")
    base = server + "/v2/proj-crowd"
    client_id = "proj-crowd_h"
    http.post(base + "/clients", json={"client_id": client_id,
                                       "hostname": "h"})
    session_id = http.post(base + "/sessions", json={
        "schedule": {}, "hold_off": 600}).json()["session_id"]
    job_ids = []
    for _ in range(8):
        job_id = http.post(base + "/jobs", json={
            "client_id": client_id, "job_actions": []}).json()["job_id"]
        assert http.put("%s/sessions/%s/jobs/%s" % (
            base, session_id, job_id)).status_code == 204
        job_ids.append(job_id)
    barrier, answers = threading.Barrier(len(job_ids)), []

    def agent(job_id):
        own = _session("crowd", "proj-crowd")
        barrier.wait()
        answers.append(own.post("%s/sessions/%s/action" % (
            base, session_id), json={"start": {
                "job_id": job_id, "current_tag": 0}}).json())
    threads = [threading.Thread(target=agent, args=(j,)) for j in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [{"result": "success", "session_tag": 1}] * 8
    session = http.get("%s/sessions/%s" % (base, session_id)).json()
    assert session["session_tag"] == 1
    assert {j: m["status"] for j, m in session["jobs"].items()} == \
        {j: "running" for j in job_ids}
