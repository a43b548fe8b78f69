"""freezer-scheduler agents, unmodified, against the real server behind
the real Keystone.

* v1: freezer 18.0.0 (the last release with v1) with
  python-freezerclient 6.3.0, ``enable_v1_api = true``.
* v2: freezer 19.0.0 (the current release) with python-freezerclient
  6.5.0.

Per version, two agents with different client ids run in the foreground
(``no_daemon``), polling every second. Each registers itself, picks up a
job scheduled to run now, runs it through ``freezer-agent`` and reports
its status and result (job PATCHes, and the backup metadata of a backup
action). Then one job of each agent, in one session, is started: both
agents start the session with their tags (one tag bump, the second joins
within ``hold_off``) and end it, and the session records the overall
result. The final documents are checked through the API.

The actions are harmless: ``exec`` of ``echo``/``true``/``false``, and a
``backup`` of a small temporary directory to ``local`` storage in another
temporary directory (so no Swift is needed). freezer 19.0.0 cannot run
``exec`` actions at all (doc/compatibility.rst, "Known client bugs"), so
its jobs use the local backup only.
"""

import socket
import uuid
from concurrent import futures

import pytest
import requests

from tests.functional import agents_support as agents
from tests.functional import keystone_support as ks
from tests.functional.agents_support import agent_venvs  # noqa: F401
from tests.functional.agents_support import server  # noqa: F401
from tests.functional.keystone_support import keystone  # noqa: F401

pytestmark = pytest.mark.slow

# Bounds of the waits. A freezer-agent run takes 2-8 s on a loaded 2-core
# machine, a scheduler needs a few seconds to start.
REGISTER_TIMEOUT = 90
RUN_TIMEOUT = 240

VENVS = {"v1": "scheduler-v1", "v2": "scheduler-v2"}


@pytest.fixture
def schedulers():
    """Started schedulers, all stopped (process groups killed) at the
    end, whatever happened."""
    started = []
    yield started
    with futures.ThreadPoolExecutor(max(len(started), 1)) as pool:
        list(pool.map(agents.Scheduler.stop, started))
    for scheduler in started:
        assert not scheduler.group_alive(), scheduler.client_id


def _exec(tmp_path, command):
    # freezer-agent opens its storage (default: Swift, which is not in
    # this catalog) even for exec: give it a local one. Its config reader
    # turns the values "true"/"false" into booleans: hence /bin/true.
    return {"freezer_action": {
        "action": "exec", "command": command, "storage": "local",
        "container": str(tmp_path / "container")}, "max_retries": 0}


def _backup(tmp_path, name):
    source = tmp_path / ("source-" + name)
    source.mkdir()
    (source / "data.txt").write_text("freezer e2e %s\n" % name)
    return {"freezer_action": {
        "action": "backup", "mode": "fs", "backup_name": name,
        "path_to_backup": str(source), "storage": "local",
        "container": str(tmp_path / "container")}, "max_retries": 0}


def _schedule(job):
    return job["job_schedule"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_two_agents_run_jobs_and_a_session(
        version, keystone, server, agent_venvs,  # noqa: F811
        tmp_path, schedulers):
    api = agents.Api(server, keystone, "alice", version)
    tag = uuid.uuid4().hex[:6]
    names = ("a", "b")
    client_ids = {n: "%s_agent-%s-%s-%s" % (api.project_id, version, n, tag)
                  for n in names}
    for name in names:
        schedulers.append(agents.Scheduler(
            agent_venvs[VENVS[version]], tmp_path / ("agent-" + name),
            keystone, "alice", server, client_ids[name],
            v1_api=version == "v1").start())

    def logs():
        return "\n".join("--- agent %s (%s)\n%s" % (
            s.client_id, "alive" if s.alive() else "exited",
            s.log_tail()) for s in schedulers)

    # -- each agent registers itself ------------------------------------
    def registered():
        return all(api.status("GET", "/clients/" + c) == 200
                   for c in client_ids.values())
    agents.wait_for(registered, REGISTER_TIMEOUT,
                    "both agents registered", logs)
    for client_id in client_ids.values():
        client = api.doc("/clients/" + client_id)["client"]
        assert client["hostname"] == socket.gethostname()
        assert "exec" in client["supported_actions"]
        assert "local" in client["supported_storages"]

    # -- a job scheduled to run now, per agent --------------------------
    if version == "v1":
        actions = {"a": [_exec(tmp_path, "echo e2e-%s" % tag)],
                   "b": [_exec(tmp_path, "/bin/true"),
                         _backup(tmp_path, "b-" + tag)]}
        session_actions = {"a": [_exec(tmp_path, "/bin/true")],
                           "b": [_exec(tmp_path, "/bin/false")]}
        session_results = {"a": "success", "b": "fail"}
    else:
        actions = {n: [_backup(tmp_path, n + "-" + tag)] for n in names}
        session_actions = {n: [_backup(tmp_path, "s%s-%s" % (n, tag))]
                           for n in names}
        session_results = {"a": "success", "b": "success"}
    now = agents.soon()
    jobs = {n: api.create("jobs", {
        "client_id": client_ids[n], "description": "now %s" % n,
        "job_actions": actions[n],
        "job_schedule": {"schedule_date": now}}) for n in names}

    # -- two jobs in one session ----------------------------------------
    session_id = api.create("sessions", {
        "description": "e2e %s" % tag, "hold_off": 300,
        "schedule": {"schedule_date": now}})
    # Created stopped, so that neither agent runs them before they are in
    # the session; the agents acknowledge the stop (status "stop").
    members = {n: api.create("jobs", {
        "client_id": client_ids[n], "description": "session %s" % n,
        "job_actions": session_actions[n],
        "job_schedule": {"event": "stop"}}) for n in names}

    def stopped():
        schedules = [_schedule(api.doc("/jobs/" + j))
                     for j in members.values()]
        return all(s.get("status") == "stop" and not s.get("event")
                   for s in schedules)
    agents.wait_for(stopped, RUN_TIMEOUT, "agents acknowledged the stop",
                    logs)
    for job_id in members.values():
        assert api.status("PUT", "/sessions/%s/jobs/%s"
                          % (session_id, job_id)) == 204
    for job_id in members.values():
        answer = api.request("POST", "/jobs/%s/event" % job_id,
                             {"start": None})
        assert answer.status_code == 202, answer.text

    # -- everything runs to completion ----------------------------------
    every_job = list(jobs.values()) + list(members.values())

    def finished():
        done = all(_schedule(api.doc("/jobs/" + j)).get("status") ==
                   "completed" for j in every_job)
        return done and api.doc("/sessions/" + session_id)[
            "status"] == "completed"
    agents.wait_for(finished, RUN_TIMEOUT, "all jobs and the session "
                    "completed", logs)

    # -- the final documents --------------------------------------------
    for name in names:
        job = api.doc("/jobs/" + jobs[name])
        schedule = _schedule(job)
        assert (schedule["status"], schedule["result"]) == \
            ("completed", "success"), (name, schedule, logs())
        assert schedule["event"] == ""
        assert 0 < schedule["time_started"] <= schedule["time_ended"]
        # The pid of the last freezer-agent, which abort needs.
        assert isinstance(schedule["current_pid"], int)
        assert job["session_id"] == ""
    session = api.doc("/sessions/" + session_id)
    expected = "success" if set(session_results.values()) == {"success"} \
        else "fail"
    assert (session["status"], session["result"]) == \
        ("completed", expected), (session, logs())
    # One start bumped the tag; the other agent joined that run.
    assert session["session_tag"] == 1
    assert 0 < session["time_start"] <= session["time_end"]
    for name in names:
        job_id = members[name]
        entry = session["jobs"][job_id]
        assert (entry["status"], entry["result"]) == \
            ("completed", session_results[name]), (name, entry)
        assert entry["time_started"] >= session["time_start"]
        job = api.doc("/jobs/" + job_id)
        schedule = _schedule(job)
        assert (schedule["status"], schedule["result"]) == \
            ("completed", session_results[name]), (name, schedule)
        assert job["session_id"] == session_id
        # The tag the start returned, persisted by the agent.
        assert job["session_tag"] == 1
    # The backup actions' metadata, uploaded by the agents.
    job_actions = {jobs[n]: actions[n] for n in names}
    job_actions.update({members[n]: session_actions[n] for n in names})
    backup_jobs = [job_id for job_id, job_action in job_actions.items()
                   if any(a["freezer_action"]["action"] == "backup"
                          for a in job_action)]
    assert backup_jobs
    for job_id in backup_jobs:
        found = api.get("/backups?limit=100", {
            "match": [{"job_id": job_id}]}).json()["backups"]
        assert len(found) == 1, (job_id, found, logs())
        metadata = found[0]["backup_metadata"]
        assert metadata["storage"] == "local"
        assert metadata["hostname"] == socket.gethostname()
        assert metadata["backup_name"].endswith(tag)

    # -- another project / user sees none of it -------------------------
    bob = agents.Api(server, keystone, "bob", version)
    assert not set(client_ids.values()) & bob.ids("clients")
    assert not set(every_job) & bob.ids("jobs")
    assert session_id not in bob.ids("sessions")
    for job_id in every_job:
        assert bob.status("GET", "/jobs/" + job_id) == 404


def test_a_central_scheduler_runs_two_projects_jobs_through_trusts(
        keystone, server, agent_venvs, tmp_path, schedulers):  # noqa: F811
    """freezer 19.0.0's scheduler with ``centralized_scheduler = true``,
    as the service user ``freezer`` (the trustee of
    ``[centralized_scheduler] auth_section``): it registers as a central
    client; alice (freezer-a) and bob (freezer-b) each give it a job, and
    each job gets a Keystone trust from its owner. The scheduler polls
    every project's jobs (``all_projects``), and reports on each job and
    uploads its backup through that job's trust, in the job's project."""
    service = agents.Api(server, keystone, ks.SERVICE_USER, "v2")
    users = ("alice", "bob")
    owners = {u: agents.Api(server, keystone, u, "v2") for u in users}
    tag = uuid.uuid4().hex[:6]
    client_id = "%s_central-%s" % (service.project_id, tag)
    schedulers.append(agents.Scheduler(
        agent_venvs["scheduler-v2"], tmp_path / "central", keystone,
        ks.SERVICE_USER, server, client_id, v1_api=False,
        central=True).start())

    def logs():
        return "--- central scheduler (%s)\n%s" % (
            "alive" if schedulers[0].alive() else "exited",
            schedulers[0].log_tail(8000))

    # -- it registers as a central client, which every project sees ------
    agents.wait_for(lambda: service.status("GET", "/clients/" + client_id)
                    == 200, REGISTER_TIMEOUT, "the central scheduler "
                    "registered", logs)
    for api in owners.values():
        assert api.doc("/clients/" + client_id)["client"]["is_central"]

    # -- one job per project, for it ------------------------------------
    now = agents.soon()
    jobs = {u: owners[u].create("jobs", {
        "client_id": client_id, "description": "central %s" % u,
        "job_actions": [_backup(tmp_path, "%s-%s" % (u, tag))],
        "job_schedule": {"schedule_date": now}}) for u in users}
    trusts = {}
    for user in users:
        job = owners[user].doc("/jobs/" + jobs[user])
        credentials = job["user_credentials"]
        assert credentials["trustor_user_id"] == \
            keystone.user(user).user_id
        trusts[user] = credentials["trust_id"]
    assert trusts["alice"] != trusts["bob"]

    def finished():
        return all(_schedule(owners[u].doc("/jobs/" + jobs[u])).get(
            "status") == "completed" for u in users)
    agents.wait_for(finished, RUN_TIMEOUT, "both projects' jobs completed",
                    logs)

    # -- what it did, it did in each owner's project ----------------------
    for user, api in owners.items():
        schedule = _schedule(api.doc("/jobs/" + jobs[user]))
        assert (schedule["status"], schedule["result"]) == \
            ("completed", "success"), (user, schedule, logs())
        assert 0 < schedule["time_started"] <= schedule["time_ended"]
        found = api.get("/backups?limit=100", {
            "match": [{"job_id": jobs[user]}]}).json()["backups"]
        assert len(found) == 1, (user, found, logs())
        backup = found[0]
        # Written by the trustee, in the trustor's project.
        assert (backup["project_id"], backup["user_id"]) == (
            api.project_id, keystone.user(ks.SERVICE_USER).user_id)
        assert backup["backup_metadata"]["backup_name"] == \
            "%s-%s" % (user, tag)
    # Neither owner sees the other's job, backup or trust.
    assert jobs["bob"] not in owners["alice"].ids("jobs")
    assert jobs["alice"] not in owners["bob"].ids("jobs")
    # Deleting each project's job deletes its trust.
    for user, api in owners.items():
        assert api.status("DELETE", "/jobs/" + jobs[user]) == 204
        gone = requests.get("%s/OS-TRUST/trusts/%s" % (
            keystone.url, trusts[user]), timeout=30,
            headers={"X-Auth-Token": keystone.token(user)})
        assert gone.status_code == 404, gone.text
