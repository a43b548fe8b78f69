"""Sessions over HTTP: membership, start/end with hold-off, and the pair
consistency between a session and its jobs."""

import threading

import pytest
from falcon import testing


def _action(api, session_id, verb, **params):
    return api.post("/sessions/%s/action" % session_id, {verb: params})


def _members(api, session_id):
    return api.get("/sessions/" + session_id).json["jobs"]


def test_session_create_defaults(api):
    session_id = api.create("sessions", {
        "schedule": {"schedule_interval": "2 hours"},
        "session_id": "my-session", "jobs": {"x": {}}})
    assert session_id == "my-session"
    session = api.get("/sessions/" + session_id).json
    assert session["session_tag"] == 0
    assert session["hold_off"] == 30
    assert session["status"] == "active"
    assert session["jobs"] == {}   # a map, and not writable by the client
    assert session["schedule"] == {"schedule_interval": "2 hours"}


def test_session_requires_a_schedule(api):
    result = api.post("/sessions", {"description": "no schedule"})
    assert result.status_code == 400
    assert "schedule" in result.json["description"]


def test_add_job_copies_schedule_id_and_tag(api):
    session_id = api.session(session_tag=5,
                             schedule={"schedule_interval": "3 days",
                                       "status": "scheduled"})
    job_id = api.job()
    result = api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert result.status_code == 204
    assert result.text == ""
    job = api.get("/jobs/" + job_id).json
    assert job["session_id"] == session_id
    assert job["session_tag"] == 5
    assert job["job_schedule"]["schedule_interval"] == "3 days"
    assert job["job_schedule"]["status"] == "scheduled"
    # The job's own schedule keys stay (merged, not replaced).
    assert job["job_schedule"]["time_created"] > 0
    member = _members(api, session_id)[job_id]
    assert member["client_id"] == job["client_id"]
    assert member["status"] == "scheduled"


def test_add_missing_job_or_session_is_404_and_writes_nothing(api):
    session_id = api.session()
    job_id = api.job()
    assert api.put("/sessions/%s/jobs/nope" % session_id).status_code == 404
    assert api.put("/sessions/nope/jobs/%s" % job_id).status_code == 404
    assert _members(api, session_id) == {}
    assert api.get("/jobs/" + job_id).json["session_id"] == ""


def test_remove_job_detaches_and_stops_it(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    result = api.delete("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert result.status_code == 204
    job = api.get("/jobs/" + job_id).json
    assert job["session_id"] == "" and job["session_tag"] == 0
    assert job["job_schedule"]["event"] == "stop"
    assert job["job_schedule"]["schedule_interval"] == "1 days"
    assert _members(api, session_id) == {}
    # Idempotent: python-freezerclient retries until it gets 204.
    again = api.delete("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert again.status_code == 204


def test_remove_from_a_fresh_session_is_fine(api):
    """Upstream crashed (500) on a session whose jobs was still []."""
    session_id = api.session()
    result = api.delete("/sessions/%s/jobs/whatever" % session_id)
    assert result.status_code == 204


def test_moving_a_job_leaves_the_old_session(api):
    first, second = api.session(), api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (first, job_id))
    api.put("/sessions/%s/jobs/%s" % (second, job_id))
    assert job_id not in _members(api, first)
    assert job_id in _members(api, second)
    assert api.get("/jobs/" + job_id).json["session_id"] == second


def test_deleting_a_session_detaches_its_jobs(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert api.delete("/sessions/" + session_id).status_code == 204
    job = api.get("/jobs/" + job_id).json
    assert job["session_id"] == ""


def test_deleting_a_job_removes_it_from_its_session(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    assert api.delete("/jobs/" + job_id).status_code == 204
    assert _members(api, session_id) == {}


def test_start_hold_off_out_of_sync_and_end(api, clock):
    session_id = api.session(hold_off=60)
    job_a, job_b = api.job(), api.job()
    for job_id in (job_a, job_b):
        api.put("/sessions/%s/jobs/%s" % (session_id, job_id))

    # First start outside any window: the tag goes 0 -> 1.
    result = _action(api, session_id, "start", job_id=job_a, current_tag=0)
    assert result.status_code == 202
    assert result.json == {"result": "success", "session_tag": 1}
    session = api.get("/sessions/" + session_id).json
    assert session["status"] == "running"
    assert session["time_start"] == clock.now
    assert session["jobs"][job_a]["status"] == "running"

    # Another job arriving within hold_off with the old tag joins.
    clock.advance(10)
    result = _action(api, session_id, "start", job_id=job_b, current_tag=0)
    assert result.json == {"result": "success", "session_tag": 1}

    # A start with the current tag inside the window is held off.
    result = _action(api, session_id, "start", job_id=job_b, current_tag=1)
    assert result.json == {"result": "hold-off", "session_tag": 1}

    # End both: the session completes with the overall result.
    result = _action(api, session_id, "end", job_id=job_a,
                     current_tag=1, result="success")
    assert result.json == {"result": "success", "session_tag": 1}
    assert api.get("/sessions/" + session_id).json["status"] == "running"
    clock.advance(5)
    _action(api, session_id, "end", job_id=job_b, current_tag=1,
            result="fail")
    session = api.get("/sessions/" + session_id).json
    assert session["status"] == "completed"
    assert session["result"] == "fail"
    assert session["time_end"] == clock.now

    # Much later, a start with a stale tag is out of sync.
    clock.advance(3600)
    result = _action(api, session_id, "start", job_id=job_a, current_tag=0)
    assert result.json == {"result": "out-of-sync", "session_tag": 1}
    # ... while the current tag starts the next run.
    result = _action(api, session_id, "start", job_id=job_a, current_tag=1)
    assert result.json == {"result": "success", "session_tag": 2}


@pytest.mark.parametrize("hold_off", [-1, -(2 ** 63)])
def test_a_negative_hold_off_is_no_window(api, clock, hold_off):
    """Upstream accepts any integer; a negative one means that only the
    first start of a round bumps the tag and succeeds."""
    created = api.post("/sessions", {"schedule": {}, "hold_off": hold_off})
    assert created.status_code == 201, created.json
    session_id = created.json["session_id"]
    assert api.get("/sessions/" + session_id).json["hold_off"] == hold_off
    job_a, job_b = api.job(), api.job()
    for job_id in (job_a, job_b):
        api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    result = _action(api, session_id, "start", job_id=job_a, current_tag=0)
    assert result.json == {"result": "success", "session_tag": 1}
    # The same second, the old tag: no window to join, so out of sync.
    result = _action(api, session_id, "start", job_id=job_b, current_tag=0)
    assert result.json == {"result": "out-of-sync", "session_tag": 1}
    # The current tag is never held off: it starts the next round.
    result = _action(api, session_id, "start", job_id=job_b, current_tag=1)
    assert result.json == {"result": "success", "session_tag": 2}
    patched = api.patch("/sessions/" + session_id, {"hold_off": -30})
    assert patched.status_code == 200, patched.json
    assert api.get("/sessions/" + session_id).json["hold_off"] == -30


def test_start_errors(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    too_high = _action(api, session_id, "start", job_id=job_id,
                       current_tag=9)
    assert too_high.status_code == 400
    assert "too high" in too_high.json["description"]
    stranger = _action(api, session_id, "start", job_id="other",
                       current_tag=0)
    assert stranger.status_code == 400
    assert "not found in session" in stranger.json["description"]
    for body in ({"start": {}}, {"start": None}, {"start": {
            "job_id": job_id, "current_tag": "x"}},
            {"end": {"job_id": job_id}}, {"jump": {}}, {},
            {"start": {"job_id": job_id, "current_tag": 0}, "end": {}}):
        result = api.post("/sessions/%s/action" % session_id, body)
        assert result.status_code == 400, (body, result.text)
        assert result.json["title"]
    missing = _action(api, "nope", "start", job_id=job_id, current_tag=0)
    assert missing.status_code == 404


def test_stale_end_does_not_touch_the_new_run(api, clock):
    session_id = api.session(hold_off=0)
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    _action(api, session_id, "start", job_id=job_id, current_tag=0)
    clock.advance(10)
    _action(api, session_id, "start", job_id=job_id, current_tag=1)
    result = _action(api, session_id, "end", job_id=job_id, current_tag=1,
                     result="success")
    assert result.json["result"] == "out-of-sync"
    session = api.get("/sessions/" + session_id).json
    assert session["jobs"][job_id]["status"] == "running"


def test_patch_and_replace_session_keep_members(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    result = api.patch("/sessions/" + session_id,
                       {"hold_off": 99, "jobs": {}})
    assert result.status_code == 200
    assert result.json["version"] >= 3
    session = api.get("/sessions/" + session_id).json
    assert session["hold_off"] == 99
    assert job_id in session["jobs"]
    result = api.post("/sessions/" + session_id, {
        "schedule": {"schedule_interval": "5 days"}, "session_tag": 3})
    assert result.status_code == 201
    session = api.get("/sessions/" + session_id).json
    assert session["session_tag"] == 3
    assert session["hold_off"] == 99
    assert job_id in session["jobs"]


def test_agent_patch_cannot_reattach_a_removed_job(api):
    session_id = api.session()
    job_id = api.job()
    api.put("/sessions/%s/jobs/%s" % (session_id, job_id))
    stale = api.get("/jobs/" + job_id).json
    api.delete("/sessions/%s/jobs/%s" % (session_id, job_id))
    stale.pop("_version")
    assert api.patch("/jobs/" + job_id, stale).status_code == 200
    assert api.get("/jobs/" + job_id).json["session_id"] == ""


@pytest.mark.parametrize("agents", [8])
def test_concurrent_starts_bump_the_tag_once(api, clock, agents):
    """Many agents start one session at once: exactly one bumps the tag,
    the others join the same run, no member entry is lost."""
    session_id = api.session(hold_off=600)
    job_ids = [api.job() for _ in range(agents)]
    for job_id in job_ids:
        assert api.put("/sessions/%s/jobs/%s" % (
            session_id, job_id)).status_code == 204
    results, barrier = [], threading.Barrier(agents)

    def agent(job_id):
        client = api.as_user(api.user)
        client.client = testing.TestClient(api.client.app)
        barrier.wait()
        result = _action(client, session_id, "start", job_id=job_id,
                         current_tag=0)
        results.append((result.status_code, result.json))

    threads = [threading.Thread(target=agent, args=(j,)) for j in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r[0] for r in results) == [202] * agents
    assert [r[1] for r in results] == \
        [{"result": "success", "session_tag": 1}] * agents
    session = api.get("/sessions/" + session_id).json
    assert session["session_tag"] == 1
    assert set(session["jobs"]) == set(job_ids)
    assert all(m["status"] == "running" for m in session["jobs"].values())


def test_concurrent_adds_lose_no_member(api):
    session_id = api.session()
    job_ids = [api.job() for _ in range(12)]
    barrier = threading.Barrier(len(job_ids))
    codes = []

    def add(job_id):
        client = api.as_user(api.user)
        client.client = testing.TestClient(api.client.app)
        barrier.wait()
        codes.append(client.put("/sessions/%s/jobs/%s" % (
            session_id, job_id)).status_code)

    threads = [threading.Thread(target=add, args=(j,)) for j in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [204] * len(job_ids)
    assert set(_members(api, session_id)) == set(job_ids)
    for job_id in job_ids:
        assert api.get("/jobs/" + job_id).json["session_id"] == session_id
