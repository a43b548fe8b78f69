"""Keystone trusts for central schedulers, end to end: the real
``freezer-api`` (gunicorn) behind auth_token, the test Keystone's real
trusts (``[centralized_scheduler]`` defaults: enabled, the trustee is
auth_token's service user ``freezer``, ``member`` delegated).

adam (admin of freezer-a) registers a central client; bob (freezer-b)
and alice (freezer-a) give it jobs; the trust each job stores is checked
in Keystone, used by the trustee, and deleted with its last job.
"""

import uuid

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.functional import keystone_support as ks
from tests.functional.keystone_support import keystone  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(keystone, tmp_path_factory):  # noqa: F811
    running = ks.start_server(tmp_path_factory.mktemp("trusts"), keystone)
    yield running.base_url
    running.stop()


def _call(method, url, token, **kwargs):
    return requests.request(method, url, timeout=30,
                            headers={"X-Auth-Token": token}, **kwargs)


def _job(client_id, **extra):
    return dict({
        "client_id": client_id, "description": "central",
        "job_schedule": {"status": "stop"},
        "job_actions": [{"freezer_action": {
            "action": "backup", "mode": "fs", "path_to_backup": "/tmp",
            "backup_name": "b", "container": "c"}}]}, **extra)


def _trust(keystone, token, trust_id):  # noqa: F811
    return _call("GET", "%s/OS-TRUST/trusts/%s" % (keystone.url, trust_id),
                 token)


def _trust_session(keystone, trust_id):  # noqa: F811
    """The trustee's session through the trust (what a central
    freezer-scheduler does for each job)."""
    freezer = keystone.user(ks.SERVICE_USER)
    return ks_session.Session(auth=v3.Password(
        auth_url=keystone.url, username=freezer.name,
        password=freezer.password, user_domain_id=keystone.domain_id,
        trust_id=trust_id))


def test_central_client_jobs_get_a_reused_trust(keystone, server):  # noqa: F811,E501
    alice, bob = keystone.user("alice"), keystone.user("bob")
    freezer = keystone.user(ks.SERVICE_USER)
    client_id = "central-" + uuid.uuid4().hex[:8]
    a = "%s/v2/%s" % (server, alice.project_id)
    b = "%s/v2/%s" % (server, bob.project_id)
    service = "%s/v2/%s" % (server, freezer.project_id)

    # Only admin or service may register a central client.
    body = {"client_id": client_id, "hostname": "central",
            "is_central": True}
    assert _call("POST", a + "/clients", keystone.token("alice"),
                 json=body).status_code == 403
    created = _call("POST", a + "/clients", keystone.token("adam"),
                    json=body)
    assert created.status_code == 201, created.text
    # ... and it serves every project: bob sees it, and gives it jobs.
    shown = _call("GET", b + "/clients/" + client_id, keystone.token("bob"))
    assert shown.status_code == 200, shown.text
    assert shown.json()["client"]["is_central"] is True
    # Its id is unique across projects.
    assert _call("POST", service + "/clients", keystone.token("freezer"),
                 json=body).status_code == 409

    forged = {"trust_id": "forged", "trustor_user_id": alice.user_id}
    jobs = []
    for _ in range(2):
        answer = _call("POST", b + "/jobs", keystone.token("bob"),
                       json=_job(client_id, user_credentials=forged))
        assert answer.status_code == 201, answer.text
        jobs.append(answer.json()["job_id"])
    credentials = [_call("GET", "%s/jobs/%s" % (b, job_id),
                         keystone.token("bob")).json()["user_credentials"]
                   for job_id in jobs]
    # One trust, from bob, reused; not the one the body claimed.
    assert credentials[0] == credentials[1]
    trust_id = credentials[0]["trust_id"]
    assert credentials[0]["trustor_user_id"] == bob.user_id
    assert trust_id != "forged"
    trust = _trust(keystone, keystone.token("bob"), trust_id)
    assert trust.status_code == 200, trust.text
    trust = trust.json()["trust"]
    assert (trust["trustor_user_id"], trust["trustee_user_id"],
            trust["project_id"], trust["impersonation"]) == \
        (bob.user_id, freezer.user_id, bob.project_id, False)
    assert [role["name"] for role in trust["roles"]] == ["member"]

    # A job of alice's gets its own trust; her project's other members
    # do not see it, admins and the service user do.
    answer = _call("POST", a + "/jobs", keystone.token("alice"),
                   json=_job(client_id))
    assert answer.status_code == 201, answer.text
    alice_job = "%s/jobs/%s" % (a, answer.json()["job_id"])
    mine = _call("GET", alice_job, keystone.token("alice")).json()
    assert mine["user_credentials"]["trust_id"] != trust_id
    assert mine["user_credentials"]["trustor_user_id"] == alice.user_id
    amy_view = _call("GET", alice_job, keystone.token("amy"))
    assert amy_view.status_code == 200
    assert "user_credentials" not in amy_view.json()
    listed = _call("GET", a + "/jobs", keystone.token("amy"),
                   params={"limit": 1000}).json()["jobs"]
    assert listed and not any("user_credentials" in j for j in listed)
    adam_view = _call("GET", alice_job, keystone.token("adam")).json()
    assert adam_view["user_credentials"] == mine["user_credentials"]

    # The central scheduler polls every project and sees every trust.
    polled = _call("GET", service + "/jobs", keystone.token("freezer"),
                   params={"all_projects": "true", "limit": 1000,
                           "client_id": client_id})
    assert polled.status_code == 200, polled.text
    by_id = {j["job_id"]: j for j in polled.json()["jobs"]}
    assert set(jobs) <= set(by_id)
    assert by_id[jobs[0]]["user_credentials"] == credentials[0]

    # Through the trust the trustee acts in bob's project, as bob's
    # delegate: it reports on the job.
    through = _trust_session(keystone, trust_id)
    assert through.get_project_id() == bob.project_id
    patched = _call("PATCH", "%s/jobs/%s" % (b, jobs[0]), through.get_token(),
                    json={"job_schedule": {"status": "running"}})
    assert patched.status_code == 200, patched.text

    # The trust goes with the last job that names it.
    assert _call("DELETE", "%s/jobs/%s" % (b, jobs[0]),
                 keystone.token("bob")).status_code == 204
    assert _trust(keystone, keystone.token("bob"),
                  trust_id).status_code == 200
    assert _call("DELETE", "%s/jobs/%s" % (b, jobs[1]),
                 keystone.token("bob")).status_code == 204
    assert _trust(keystone, keystone.token("bob"),
                  trust_id).status_code == 404
    assert _call("DELETE", alice_job,
                 keystone.token("alice")).status_code == 204
    assert _trust(keystone, keystone.token("alice"),
                  mine["user_credentials"]["trust_id"]).status_code == 404
    assert _call("DELETE", a + "/clients/" + client_id,
                 keystone.token("adam")).status_code == 204


def test_jobs_of_other_clients_get_no_trust(keystone, server):  # noqa: F811
    alice = keystone.user("alice")
    a = "%s/v2/%s" % (server, alice.project_id)
    client_id = "plain-" + uuid.uuid4().hex[:8]
    assert _call("POST", a + "/clients", keystone.token("alice"), json={
        "client_id": client_id, "hostname": "h"}).status_code == 201
    answer = _call("POST", a + "/jobs", keystone.token("alice"),
                   json=_job(client_id))
    assert answer.status_code == 201, answer.text
    job = _call("GET", "%s/jobs/%s" % (a, answer.json()["job_id"]),
                keystone.token("alice")).json()
    assert "user_credentials" not in job


def test_keystone_refusing_or_missing_is_422_or_503(keystone, tmp_path):  # noqa: F811,E501
    """A trust Keystone refuses (alice has no ``admin`` to delegate) is
    422; a trustee whose Keystone cannot be reached is 503 with
    Retry-After. Nothing is stored either way."""
    alice = keystone.user("alice")
    dead = keystone.authtoken_options(auth_url=ks.refused_url())
    conf = {
        "refused": "[centralized_scheduler]\n"
                   "trusts_delegated_roles = admin\n",
        "unreachable": "[centralized_scheduler]\nauth_section = dead\n"
                       "[dead]\n" + "".join(
                           "%s = %s\n" % item for item in dead.items()),
    }
    expected = {"refused": 422, "unreachable": 503}
    for name, extra in conf.items():
        running = ks.start_server(tmp_path / name, keystone,
                                  extra_conf=extra)
        try:
            a = "%s/v2/%s" % (running.base_url, alice.project_id)
            client_id = "central-" + uuid.uuid4().hex[:8]
            assert _call("POST", a + "/clients", keystone.token("adam"),
                         json={"client_id": client_id, "hostname": "c",
                               "is_central": True}).status_code == 201
            answer = _call("POST", a + "/jobs", keystone.token("alice"),
                           json=_job(client_id))
            assert answer.status_code == expected[name], answer.text
            body = answer.json()
            assert set(body) == {"title", "description"}
            if name == "refused":
                assert "Missing required credentials" in \
                    body["description"]
            else:
                assert answer.headers["Retry-After"]
            assert _call("GET", a + "/jobs", keystone.token("alice")
                         ).json()["jobs"] == []
        finally:
            running.stop()
