"""The life cycle of every resource over HTTP, on v1 and v2."""

from falcon import testing

from freezer_api import app as app_module
from tests.conftest import make_conf


def test_versions_document_lists_both_versions(api):
    result = api.client.simulate_get("/")
    assert result.status_code == 300
    ids = [v["id"] for v in result.json["versions"]]
    assert ids == ["v1", "v2"]
    assert result.json["versions"][0]["links"][0]["href"].endswith("/v1/")


def test_versions_document_needs_no_identity_and_ignores_query(api):
    result = api.client.simulate_get("/", query_string="x=1")
    assert result.status_code == 300
    for version in result.json["versions"]:
        assert "?" not in version["links"][0]["href"]


def test_home_document(api):
    result = api.client.simulate_get("/" + api.version,
                                     headers=api.headers())
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json-home"
    resources = result.json["resources"]
    prefix = "/v2/{project_id}" if api.version == "v2" else "/v1"
    # Upstream's relations, as freezer-tempest-plugin reads them.
    assert resources["rel/backups"]["href-template"] == \
        prefix + "/backups/{backup_id}"
    assert resources["rel/backups"]["hints"]["allow"] == \
        ["GET", "PATCH", "DELETE"]
    assert resources["rel/jobs"]["href-template"] == \
        prefix + "/jobs{?all_projects,offset,limit}"
    assert resources["rel/job"]["href-template"] == prefix + "/jobs/{job_id}"
    assert resources["rel/backup-list"]["href-template"] == \
        prefix + "/backups{?offset,limit}"


def test_healthcheck(api):
    result = api.client.simulate_get("/healthcheck")
    assert result.status_code == 200
    assert result.json == {"status": "OK"}


def test_healthcheck_is_disabled_while_the_drain_file_exists(
        driver, clock, tmp_path):
    """An operator takes a server out of a load balancer's pool by creating
    [healthcheck] disable_by_file_path (upstream's oslo.middleware
    healthcheck did the same); the API itself keeps serving."""
    drain = tmp_path / "healthcheck_disable"
    conf = make_conf(**{"healthcheck.disable_by_file_path": str(drain)})
    client = testing.TestClient(
        app_module.create_app(conf, storage=driver, clock=clock))
    headers = {"X-User-Id": "op", "X-Project-Id": "p"}
    assert client.simulate_get("/healthcheck").json == {"status": "OK"}
    drain.write_text("")
    for method in (client.simulate_get, client.simulate_head):
        assert method("/healthcheck").status_code == 503
    assert client.simulate_get("/healthcheck").json == {
        "status": "DISABLED BY FILE"}
    assert client.simulate_get("/v2/p/jobs", headers=headers).status_code \
        == 200
    drain.unlink()
    assert client.simulate_get("/healthcheck").status_code == 200


def test_client_register_list_show_delete(api):
    body = {"client_id": api.project + "_web1", "hostname": "web1",
            "description": "web server",
            "supported_actions": ["backup", "restore"]}
    result = api.post("/clients", body)
    assert result.status_code == 201
    assert result.json == {"client_id": api.project + "_web1"}

    listed = api.get("/clients").json["clients"]
    assert len(listed) == 1
    client = listed[0]
    assert client["client"]["hostname"] == "web1"
    assert client["client"]["uuid"]
    assert client["user_id"] == api.user

    shown = api.get("/clients/" + api.project + "_web1")
    assert shown.status_code == 200
    assert shown.json["client"]["description"] == "web server"

    # Re-registering refreshes the registration (agents do it at start).
    body["description"] = "new description"
    again = api.post("/clients", body)
    assert again.status_code == 201
    shown = api.get("/clients/" + api.project + "_web1").json
    assert shown["client"]["description"] == "new description"
    assert shown["client"]["uuid"] == client["client"]["uuid"]
    assert len(api.get("/clients").json["clients"]) == 1

    assert api.delete("/clients/" + api.project + "_web1").status_code == 204
    assert api.get("/clients/" + api.project + "_web1").status_code == 404
    assert api.delete("/clients/" + api.project + "_web1").status_code == 404


def test_backup_create_list_show_delete(api):
    meta = {"container": "c1", "hostname": "web1", "backup_name": "etc",
            "time_stamp": 1700000100, "level": 0, "job_id": "j1"}
    result = api.post("/backups", meta)
    assert result.status_code == 201
    backup_id = result.json["backup_id"]
    assert len(backup_id) == 32

    shown = api.get("/backups/" + backup_id)
    assert shown.status_code == 200
    assert shown.json["backup_metadata"] == meta
    assert shown.json["user_id"] == api.user
    assert shown.json["backup_id"] == backup_id

    assert [b["backup_id"] for b in api.get("/backups").json["backups"]] \
        == [backup_id]
    assert api.delete("/backups/" + backup_id).status_code == 204
    assert api.get("/backups/" + backup_id).status_code == 404


def test_a_backup_registered_first_is_completed_by_patch(api):
    """freezer-api 19: a backup registered as "creating" before its data
    exists, then PATCHed: status set, metadata merged key by key (nested
    under backup_metadata or sent flat, as freezer 19's scheduler does),
    the answer the backup as stored now."""
    meta = {"container": "c1", "hostname": "web1", "backup_name": "vol",
            "status": "creating", "extra": {"a": 1}}
    backup_id = api.post("/backups", meta).json["backup_id"]
    shown = api.get("/backups/" + backup_id).json
    assert shown["status"] == "creating"
    assert "status" not in shown["backup_metadata"]
    patched = api.patch("/backups/" + backup_id, {
        "status": "available", "backup_metadata": {"extra": {"b": 2}},
        "time_stamp": 1700000200, "backup_id": "ignored"})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert patched.json == dict(shown, status="available", _version=2,
                                backup_metadata={
                                    "container": "c1", "hostname": "web1",
                                    "backup_name": "vol",
                                    "extra": {"a": 1, "b": 2},
                                    "time_stamp": 1700000200})
    assert api.get("/backups/" + backup_id).json == patched.json
    # A status inside the metadata is the backup's status too.
    assert api.patch("/backups/" + backup_id, {"backup_metadata": {
        "status": "error"}}).json["status"] == "error"
    assert api.post("/backups", dict(meta, status="nope")).status_code \
        == 400


def test_a_backup_patch_that_breaks_it_changes_nothing(api):
    backup_id = api.create("backups", {"container": "c", "hostname": "h",
                                       "backup_name": "b"})
    before = api.get("/backups/" + backup_id).json
    assert before["status"] == "available"
    for body in ({"status": "lost"}, {"backup_metadata": {"status": "x"}},
                 {"status": None}, {"backup_metadata": {"hostname": ""}},
                 {"container": None}, {"time_stamp": "soon"}, {},
                 {"backup_metadata": []}):
        result = api.patch("/backups/" + backup_id, body)
        assert result.status_code == 400, (body, result.text)
        assert set(result.json) == {"title", "description"}
    stale = api.patch("/backups/" + backup_id, {"status": "error"},
                      headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert api.get("/backups/" + backup_id).json == before
    other = api.as_user("bob", "proj-b")
    assert other.patch("/backups/" + backup_id,
                       {"status": "error"}).status_code == 404
    assert api.patch("/backups/" + "f" * 32,
                     {"status": "error"}).status_code == 404
    assert api.get("/backups/" + backup_id).json == before


def test_backup_requires_its_keys(api):
    result = api.post("/backups", {"container": "c", "hostname": "h"})
    assert result.status_code == 400
    assert "backup_name" in result.json["description"]


def test_action_create_show_patch_replace_delete(api):
    result = api.post("/actions", {"freezer_action": {
        "action": "backup", "mode": "fs", "path_to_backup": "/home"},
        "max_retries": 3})
    assert result.status_code == 201
    action_id = result.json["action_id"]

    shown = api.get("/actions/" + action_id).json
    assert shown["freezer_action"]["path_to_backup"] == "/home"
    assert shown["max_retries"] == 3
    assert shown["_version"] == 1

    patched = api.patch("/actions/" + action_id,
                        {"freezer_action": {"path_to_backup": "/srv"}})
    assert patched.status_code == 200
    assert patched.json == {"action_id": action_id, "version": 2}
    shown = api.get("/actions/" + action_id).json
    # PATCH merges: what it does not name stays.
    assert shown["freezer_action"] == {"action": "backup", "mode": "fs",
                                       "path_to_backup": "/srv"}
    assert shown["max_retries"] == 3

    replaced = api.post("/actions/" + action_id,
                        {"freezer_action": {"action": "restore"}})
    assert replaced.status_code == 201
    assert replaced.json == {"action_id": action_id, "version": 3}
    shown = api.get("/actions/" + action_id).json
    assert shown["freezer_action"] == {"action": "restore"}
    assert "max_retries" not in shown

    assert api.delete("/actions/" + action_id).status_code == 204
    assert api.get("/actions/" + action_id).status_code == 404


def test_action_create_honours_a_given_id(api):
    result = api.post("/actions", {"action_id": "my-action",
                                   "freezer_action": {"action": "info"}})
    assert result.status_code == 201
    assert result.json["action_id"] == "my-action"
    again = api.post("/actions", {"action_id": "my-action",
                                  "freezer_action": {"action": "info"}})
    assert again.status_code == 409


def test_replace_creates_when_missing(api):
    result = api.post("/actions/new-one", {"freezer_action": {"a": 1}})
    assert result.status_code == 201
    assert result.json == {"action_id": "new-one", "version": 1}
    assert api.get("/actions/new-one").status_code == 200


def test_job_create_show_list_patch_delete(api, clock):
    client_id = api.client_id()
    job_id = api.job(client_id)
    job = api.get("/jobs/" + job_id).json
    assert job["job_id"] == job_id
    assert job["client_id"] == client_id
    assert job["user_id"] == api.user
    assert job["job_schedule"]["time_created"] == clock.now
    assert job["job_schedule"]["time_started"] == -1
    assert job["job_schedule"]["time_ended"] == -1
    assert job["session_id"] == "" and job["session_tag"] == 0
    # The embedded action is stored as an action and given an id.
    action_id = job["job_actions"][0]["action_id"]
    action = api.get("/actions/" + action_id).json
    assert action["freezer_action"]["path_to_backup"] == "/etc"

    # PATCH without job_schedule keeps the schedule (upstream wiped it).
    result = api.patch("/jobs/" + job_id, {"description": "renamed"})
    assert result.status_code == 200
    assert result.json == {"job_id": job_id, "version": 2}
    job = api.get("/jobs/" + job_id).json
    assert job["description"] == "renamed"
    assert job["job_schedule"]["schedule_interval"] == "1 days"

    # PATCH of one schedule key merges into the schedule.
    api.patch("/jobs/" + job_id, {"job_schedule": {"status": "scheduled"}})
    job = api.get("/jobs/" + job_id).json
    assert job["job_schedule"]["status"] == "scheduled"
    assert job["job_schedule"]["schedule_interval"] == "1 days"

    assert [j["job_id"] for j in api.get("/jobs").json["jobs"]] == [job_id]
    assert api.delete("/jobs/" + job_id).status_code == 204
    assert api.get("/jobs/" + job_id).status_code == 404


def test_agent_full_document_patch_is_accepted(api):
    """The v1-era scheduler PATCHes the whole job as it received it."""
    job_id = api.job()
    job = api.get("/jobs").json["jobs"][0]
    job["job_schedule"].update(status="running", event="", result="",
                               time_started=1700000500, current_pid=4242)
    result = api.patch("/jobs/" + job_id, job)
    assert result.status_code == 200, result.text
    stored = api.get("/jobs/" + job_id).json
    assert stored["job_schedule"]["current_pid"] == 4242
    assert stored["job_schedule"]["status"] == "running"
    # The unchanged embedded action did not become a new action.
    assert len(api.get("/actions").json["actions"]) == 1
    assert stored["job_actions"] == job["job_actions"]


def test_changed_embedded_action_becomes_a_new_action(api):
    job_id = api.job()
    job = api.get("/jobs/" + job_id).json
    old_action_id = job["job_actions"][0]["action_id"]
    job["job_actions"][0]["freezer_action"]["path_to_backup"] = "/var"
    result = api.patch("/jobs/" + job_id,
                       {"job_actions": job["job_actions"]})
    assert result.status_code == 200, result.text
    new_action_id = api.get("/jobs/" + job_id).json[
        "job_actions"][0]["action_id"]
    assert new_action_id != old_action_id
    assert api.get("/actions/" + new_action_id).json[
        "freezer_action"]["path_to_backup"] == "/var"
    assert api.get("/actions/" + old_action_id).json[
        "freezer_action"]["path_to_backup"] == "/etc"


def test_embedded_action_with_null_keys_is_a_reference(api):
    """freezer-web-ui's Create Job embeds each chosen action as it read it,
    plus ``"engine": null`` (and null for any of action, mode, storage,
    engine_name, backup_name it lacks): the job refers to that action, no
    copy is stored."""
    action_id = api.create("actions", {
        "freezer_action": {"action": "backup", "mode": "fs",
                           "backup_name": "etc", "path_to_backup": "/etc",
                           "storage": "local", "container": "/tmp/c"},
        "max_retries": 3, "max_retries_interval": 10})
    stored = api.get("/actions/" + action_id).json
    embedded = dict(stored, action_id=action_id, mandatory=False,
                    freezer_action=dict(stored["freezer_action"],
                                        engine=None, engine_name=None))
    job_id = api.create("jobs", {"client_id": api.client_id(),
                                 "description": "from the dashboard",
                                 "job_actions": [embedded],
                                 "job_schedule": {}})
    assert [a["action_id"] for a in api.get("/actions").json["actions"]] \
        == [action_id]
    job = api.get("/jobs/" + job_id).json
    [entry] = job["job_actions"]
    assert entry["action_id"] == action_id
    # The job embeds the action as stored: without the nulls.
    assert entry["freezer_action"] == stored["freezer_action"]
    assert "engine" not in entry["freezer_action"]
    # The same on a PATCH of the job's actions (Update Job's actions step).
    result = api.patch("/jobs/" + job_id, {"job_actions": [embedded]})
    assert result.status_code == 200, result.text
    assert len(api.get("/actions").json["actions"]) == 1
    # A real change still makes a new action.
    for number, change in enumerate((
            {"freezer_action": dict(embedded["freezer_action"],
                                    engine="tar")},
            {"max_retries": 4}), start=2):
        result = api.patch("/jobs/" + job_id, {
            "job_actions": [dict(embedded, **change)]})
        assert result.status_code == 200, result.text
        new_id = api.get("/jobs/" + job_id).json["job_actions"][0][
            "action_id"]
        assert new_id != action_id
        assert len(api.get("/actions").json["actions"]) == number


def test_client_registered_without_capabilities_gets_the_defaults(api):
    """Like freezer-api 19: a registration without the ``supported_*``
    lists (freezer-scheduler before 2025) gets the full lists, which
    freezer-web-ui shows and the capability check then uses."""
    client_id = api.client_id()
    info = api.get("/clients/" + client_id).json["client"]
    assert info["supported_actions"] == [
        "backup", "restore", "info", "admin", "exec"]
    assert info["supported_modes"] == [
        "fs", "mongo", "mysql", "sqlserver", "cinder", "glance",
        "cindernative", "nova"]
    assert info["supported_storages"] == [
        "local", "swift", "ssh", "s3", "ftp", "ftps"]
    assert info["supported_engines"] == [
        "tar", "rsync", "rsyncv2", "nova", "osbrick", "glance"]
    # A list given is kept; the others are filled in.
    host = "caps-%s" % api.version
    result = api.post("/clients", {"client_id": "%s_%s" % (api.project,
                                                           host),
                                   "hostname": host,
                                   "supported_engines": ["tar"]})
    assert result.status_code == 201
    info = api.get("/clients/%s_%s" % (api.project, host)).json["client"]
    assert info["supported_engines"] == ["tar"]
    assert info["supported_storages"][0] == "local"
    bad = {"client_id": client_id, "job_actions": [
        {"freezer_action": {"action": "backup", "engine_name": "zfs"}}]}
    assert api.post("/jobs", bad).status_code == 422


def test_job_replace_keeps_the_id_and_creates_when_missing(api):
    client_id = api.client_id()
    body = {"client_id": client_id, "job_actions": [
        {"freezer_action": {"action": "info"}}], "description": "d1"}
    result = api.post("/jobs/job-42", body)
    assert result.status_code == 201
    assert result.json == {"job_id": "job-42", "version": 1}
    body["description"] = "d2"
    result = api.post("/jobs/job-42", body)
    assert result.json == {"job_id": "job-42", "version": 2}
    assert api.get("/jobs/job-42").json["description"] == "d2"


def test_job_create_honours_a_body_job_id(api):
    job_id = api.job(job_id="chosen-id")
    assert job_id == "chosen-id"
    assert api.get("/jobs/chosen-id").status_code == 200


def test_action_defaults_fill_missing_keys_only(api):
    client_id = api.client_id()
    body = {"client_id": client_id,
            "action_defaults": {"container": "default-c", "mode": "fs"},
            "job_actions": [
                {"freezer_action": {"action": "backup",
                                    "container": "mine"}},
                {"freezer_action": {"action": "restore",
                                    "container": None}}]}
    job_id = api.create("jobs", body)
    job = api.get("/jobs/" + job_id).json
    assert "action_defaults" not in job
    first, second = (a["freezer_action"] for a in job["job_actions"])
    assert first == {"action": "backup", "container": "mine", "mode": "fs"}
    assert second == {"action": "restore", "container": "default-c",
                      "mode": "fs"}


def test_job_events(api):
    job_id = api.job()
    expected = [("start", "success"), ("start", "start already requested"),
                ("stop", "success"), ("stop", "stop already requested"),
                ("abort", "success"), ("abort", "abort already requested")]
    for event, answer in expected:
        result = api.post("/jobs/%s/event" % job_id, {event: None})
        assert result.status_code == 202
        assert result.json == {"result": answer}
    schedule = api.get("/jobs/" + job_id).json["job_schedule"]
    assert schedule["event"] == "abort"


def test_start_event_resets_status_and_result(api):
    job_id = api.job()
    api.patch("/jobs/" + job_id, {"job_schedule": {
        "status": "completed", "result": "fail", "event": ""}})
    api.post("/jobs/%s/event" % job_id, {"start": None})
    schedule = api.get("/jobs/" + job_id).json["job_schedule"]
    assert (schedule["event"], schedule["status"], schedule["result"]) == \
        ("start", "", "")


def test_trailing_and_double_slashes(api):
    api.job()
    result = api.client.simulate_get("/" + api.prefix + "/jobs/",
                                     headers=api.headers())
    assert result.status_code == 200
    assert len(result.json["jobs"]) == 1


def test_response_carries_a_request_id(api):
    result = api.get("/jobs")
    assert result.headers["x-openstack-request-id"].startswith("req-")


def test_get_item_sends_etag_of_its_version(api):
    job_id = api.job()
    result = api.get("/jobs/" + job_id)
    assert result.headers["etag"] == '"1"'
    api.patch("/jobs/" + job_id, {"description": "x"})
    assert api.get("/jobs/" + job_id).headers["etag"] == '"2"'


def test_if_match_guards_patch(api):
    job_id = api.job()
    stale = api.patch("/jobs/" + job_id, {"description": "x"},
                      headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert api.get("/jobs/" + job_id).json["description"] == "a job"
    fresh = api.patch("/jobs/" + job_id, {"description": "x"},
                      headers={"If-Match": '"1"'})
    assert fresh.status_code == 200
