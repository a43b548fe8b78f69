"""HTTP-level fixtures: every API test runs on /v1 and /v2, on every
backend, through falcon's TestClient (real WSGI, real storage)."""

import itertools
import json

import pytest
from falcon import testing

from freezer_api import app as app_module
from tests.conftest import make_conf

_ids = itertools.count(1)


class Api:
    """A client of one API version acting as one user of one project."""

    def __init__(self, client, version, user="alice", project="proj-a",
                 roles="member,reader"):
        self.client, self.version = client, version
        self.user, self.project, self.roles = user, project, roles

    @property
    def prefix(self):
        return "/v1" if self.version == "v1" else "/v2/" + self.project

    def as_user(self, user, project=None, roles="member,reader"):
        return Api(self.client, self.version, user,
                   project or self.project, roles)

    def headers(self, extra=None):
        headers = {"X-User-Id": self.user, "X-Project-Id": self.project,
                   "X-Roles": self.roles, "Accept": "application/json"}
        headers.update(extra or {})
        return headers

    def request(self, method, path, body=None, headers=None, raw=None,
                **kwargs):
        kwargs.setdefault("headers", self.headers(headers))
        if body is not None:
            kwargs["body"] = json.dumps(body)
            kwargs["headers"].setdefault("Content-Type", "application/json")
        elif raw is not None:
            kwargs["body"] = raw
        return self.client.simulate_request(method, self.prefix + path,
                                            **kwargs)

    def get(self, path, body=None, **kw):
        return self.request("GET", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- shortcuts that assert success ------------------------------------
    def create(self, kind, body):
        result = self.post("/" + kind, body)
        assert result.status_code == 201, result.text
        return result.json[kind[:-1] + "_id"]

    def client_id(self, host=None):
        host = host or "host%d" % next(_ids)
        return self.create("clients", {"client_id": "%s_%s" % (
            self.project, host), "hostname": host})

    def job(self, client_id=None, **fields):
        body = {"client_id": client_id or self.client_id(),
                "job_actions": [{"freezer_action": {
                    "action": "backup", "mode": "fs",
                    "path_to_backup": "/etc", "backup_name": "etc",
                    "container": "c1"}}],
                "job_schedule": {"schedule_interval": "1 days"},
                "description": "a job"}
        body.update(fields)
        return self.create("jobs", body)

    def session(self, **fields):
        body = {"schedule": {"schedule_interval": "1 days"}, "hold_off": 30,
                "description": "a session"}
        body.update(fields)
        return self.create("sessions", body)


@pytest.fixture
def app(driver, clock):
    conf = make_conf()
    return app_module.create_app(conf, storage=driver, clock=clock)


@pytest.fixture(params=["v1", "v2"])
def api(request, app):
    return Api(testing.TestClient(app), request.param)
