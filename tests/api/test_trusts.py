"""Trusts of central clients' jobs, on every backend and both versions,
with a fake of ``freezer_api.keystone.Trusts`` (the real Keystone's trusts
are in tests/functional/test_keystone_trusts.py)."""

import pytest
from falcon import testing

from freezer_api import app as app_module
from tests.api.conftest import Api
from tests.conftest import make_conf

ADMIN = "admin,member,reader"
SERVICE = "service,member,reader"


class FakeTrusts:
    """Trusts as Keystone keeps them: one per (trustor, project), reused."""

    def __init__(self):
        self.trusts = {}  # trust id -> (trustor, project, token)
        self.deleted = []

    def ensure(self, token, trustor_user_id, project_id, roles=()):
        for trust_id, (user, project, _token) in self.trusts.items():
            if (user, project) == (trustor_user_id, project_id):
                break
        else:
            trust_id = "trust-%d" % (len(self.trusts) + len(self.deleted))
            self.trusts[trust_id] = (trustor_user_id, project_id, token)
        return {"trust_id": trust_id, "trustor_user_id": trustor_user_id}

    def delete(self, token, trust_id):
        self.deleted.append(trust_id)
        del self.trusts[trust_id]


@pytest.fixture
def trusts():
    return FakeTrusts()


def _api(driver, clock, trusts, version, **conf):
    app = app_module.create_app(make_conf(**conf), storage=driver,
                                clock=clock, trusts=trusts)
    return Api(testing.TestClient(app), version)


@pytest.fixture(params=["v1", "v2"])
def alice(request, driver, clock, trusts):
    return _api(driver, clock, trusts, request.param)


def _central(api, name="central"):
    """A central client, registered by a service user of ``api``'s
    project."""
    client_id = "%s_%s" % (api.project, name)
    service = api.as_user("freezer", roles=SERVICE)
    assert service.post("/clients", {"client_id": client_id, "hostname": "c",
                                     "is_central": True}).status_code == 201
    return client_id


def _credentials(api, job_id):
    return api.get("/jobs/" + job_id).json.get("user_credentials")


def test_a_central_clients_jobs_share_their_owners_trust(alice, trusts):
    central = _central(alice)
    forged = {"trust_id": "forged", "trustor_user_id": "mallory"}
    first = alice.job(central, user_credentials=forged)
    second = alice.job(central)
    expected = {"trust_id": "trust-0", "trustor_user_id": "alice"}
    assert _credentials(alice, first) == _credentials(alice, second) == \
        expected
    assert trusts.trusts["trust-0"][:2] == ("alice", alice.project)
    # Jobs of other clients get none.
    assert _credentials(alice, alice.job()) is None


def test_enforce_trusts_gives_every_job_one(driver, clock, trusts):
    api = _api(driver, clock, trusts, "v2",
               **{"centralized_scheduler.enforce_trusts": True})
    assert _credentials(api, api.job())["trust_id"] == "trust-0"


def test_disabled_makes_no_trust(driver, clock):
    api = _api(driver, clock, None, "v2",
               **{"centralized_scheduler.enabled": False})
    assert _credentials(api, api.job(_central(api))) is None


def test_a_trust_is_shown_to_its_trustor_and_privileged_callers(
        driver, clock, trusts):
    alice = _api(driver, clock, trusts, "v2")
    job_id = alice.job(_central(alice))
    amy = alice.as_user("amy")
    assert "user_credentials" not in amy.get("/jobs/" + job_id).json
    assert not any("user_credentials" in job
                   for job in amy.get("/jobs").json["jobs"])
    for roles in (ADMIN, SERVICE):
        other = alice.as_user("root", roles=roles)
        assert _credentials(other, job_id)["trust_id"] == "trust-0"
    # The central scheduler's all-projects poll carries every trust.
    poll = alice.as_user("freezer", "service-project", roles=SERVICE)
    polled = poll.get("/jobs", query_string="all_projects=true").json["jobs"]
    assert [j["user_credentials"]["trust_id"] for j in polled] == ["trust-0"]


def test_writes_keep_the_owners_trust(alice, trusts):
    central = _central(alice)
    job_id = alice.job(central)
    # The trustee (the central scheduler through the trust), or anyone
    # reaching the job, reports on it: the trust stays.
    trustee = alice.as_user("freezer", roles="member")
    job = alice.get("/jobs/" + job_id).json
    for body in ({"job_schedule": {"status": "running"}},
                 {"job_actions": job["job_actions"]}):
        result = trustee.patch("/jobs/" + job_id, body)
        if alice.version == "v1":
            assert result.status_code == 404  # v1: another user's job
            continue
        assert result.status_code == 200, result.text
        assert _credentials(alice, job_id)["trust_id"] == "trust-0"
    replaced = dict(job)
    for field in ("job_id", "user_id", "project_id", "_version",
                  "user_credentials"):
        replaced.pop(field, None)
    assert alice.post("/jobs/" + job_id, replaced).status_code == 201
    assert _credentials(alice, job_id)["trust_id"] == "trust-0"
    assert trusts.deleted == [] and len(trusts.trusts) == 1


def test_only_the_owner_can_delegate_a_new_trust(driver, clock, trusts):
    alice = _api(driver, clock, trusts, "v2")
    central = _central(alice)
    job_id = alice.job()
    amy = alice.as_user("amy")
    moved = amy.patch("/jobs/" + job_id, {"client_id": central})
    assert moved.status_code == 422, moved.text
    assert "owner" in moved.json["description"]
    assert alice.patch("/jobs/" + job_id,
                       {"client_id": central}).status_code == 200
    assert _credentials(alice, job_id)["trust_id"] == "trust-0"


def test_the_last_job_naming_a_trust_deletes_it(alice, trusts):
    central = _central(alice)
    first, second = alice.job(central), alice.job(central)
    assert alice.delete("/jobs/" + first).status_code == 204
    assert trusts.deleted == []
    assert alice.delete("/jobs/" + second).status_code == 204
    assert trusts.deleted == ["trust-0"] and trusts.trusts == {}
    # The next job delegates anew.
    assert _credentials(alice, alice.job(central))["trust_id"] == "trust-1"


def test_a_central_client_serves_every_project(driver, clock, trusts):
    alice = _api(driver, clock, trusts, "v2")
    central = _central(alice)
    bob = alice.as_user("bob", "proj-b")
    shown = bob.get("/clients/" + central)
    assert shown.status_code == 200, shown.text
    assert shown.json["client"]["is_central"] is True
    job_id = bob.job(central)
    assert _credentials(bob, job_id) == {"trust_id": "trust-0",
                                         "trustor_user_id": "bob"}
    assert trusts.trusts["trust-0"][:2] == ("bob", "proj-b")
    # Its id is unique across projects; a plain client of another project
    # stays private.
    other = bob.as_user("freezer", roles=SERVICE)
    taken = other.post("/clients", {"client_id": central, "hostname": "x",
                                    "is_central": True})
    assert taken.status_code == 409, taken.text
    assert bob.get("/clients/" + alice.client_id()).status_code == 404
    assert bob.delete("/clients/" + central).status_code == 404
    # Every project's client list shows it, beside its own clients.
    own = bob.client_id()
    listed = [c["client_id"] for c in bob.get("/clients").json["clients"]]
    assert sorted(listed) == sorted([central, own])
    # A central client registered again as a plain one leaves the lists.
    service = alice.as_user("freezer", roles=SERVICE)
    assert service.post("/clients", {"client_id": central,
                                     "hostname": "c"}).status_code == 201
    assert [c["client_id"] for c in bob.get("/clients").json["clients"]] \
        == [own]
