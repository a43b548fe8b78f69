"""oslo.policy defaults (secure RBAC) and overrides, in noauth mode where
the roles come from X-Roles."""

from falcon import testing

from freezer_api import app as app_module
from tests.api.conftest import Api
from tests.conftest import make_conf


def test_reader_reads_but_does_not_write(api):
    job_id = api.job()
    reader = api.as_user(api.user, roles="reader")
    assert reader.get("/jobs").status_code == 200
    assert reader.get("/jobs/" + job_id).status_code == 200
    denied = [reader.post("/actions", {"freezer_action": {}}),
              reader.patch("/jobs/" + job_id, {"description": "x"}),
              reader.delete("/jobs/" + job_id),
              reader.post("/jobs/%s/event" % job_id, {"start": None})]
    for result in denied:
        assert result.status_code == 403, result.text
        assert result.json["title"] == "Access Forbidden"
    assert api.get("/jobs/" + job_id).json["description"] == "a job"


def test_no_role_is_denied(api):
    nobody = api.as_user(api.user, roles="guest")
    assert nobody.get("/jobs").status_code == 403


def test_all_projects_needs_admin(app, driver):
    alice = Api(testing.TestClient(app), "v2")
    bob = alice.as_user("bob", "proj-b")
    alice_job, bob_job = alice.job(), bob.job()
    denied = alice.get("/jobs", query_string="all_projects=true")
    assert denied.status_code == 403
    admin = alice.as_user("root", "proj-a", roles="admin")
    listed = admin.get("/jobs", query_string="all_projects=true")
    assert listed.status_code == 200
    assert {j["job_id"] for j in listed.json["jobs"]} == {alice_job,
                                                          bob_job}
    assert admin.get("/jobs", query_string="all_projects=maybe") \
        .status_code == 400


def test_central_client_needs_admin_or_service(api):
    body = {"client_id": api.project + "_central", "hostname": "c",
            "is_central": True}
    assert api.post("/clients", body).status_code == 403
    service = api.as_user(api.user, roles="service,member")
    assert service.post("/clients", body).status_code == 201


def test_policy_file_overrides_defaults(driver, clock, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"jobs:get_all": "role:auditor"\n')
    conf = make_conf(**{"oslo_policy.policy_file": str(policy)})
    app = app_module.create_app(conf, storage=driver, clock=clock)
    member = Api(testing.TestClient(app), "v1")
    assert member.get("/jobs").status_code == 403
    auditor = member.as_user(member.user, roles="auditor")
    assert auditor.get("/jobs").status_code == 200
