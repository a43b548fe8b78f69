"""The request path's shortcuts give the answers of the long way: cached
policy decisions, the compiled schema check, the request id wrapper and
the JSON handler (behaviour only; their speed is measured by
``make bench``)."""

import json
import os

import falcon
from falcon import testing
from oslo_context import context as oslo_context
import pytest

from freezer_api.api import context
from freezer_api.api import media
from freezer_api.api import request_id
from freezer_api import exceptions
from freezer_api import policies
from freezer_api import schemas
from tests.conftest import make_conf


def _ctx(roles, user="u", project="p"):
    return oslo_context.RequestContext(user_id=user, project_id=project,
                                       roles=roles)


def test_decisions_depend_on_every_credential():
    # The cache key is these attributes: they must be all a decision can
    # depend on.
    values = _ctx(["reader"]).to_policy_values()
    assert set(values) == set(context.CREDENTIALS)


def _enforcer(policy_file):
    enforcer = context.Enforcer(make_conf(**{
        "oslo_policy.policy_file": str(policy_file)}))
    enforcer.register_defaults(policies.list_rules())
    enforcer.RELOAD_INTERVAL = 0  # look at the file on every check
    return enforcer


def test_cached_decisions_follow_the_policy_file(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"jobs:get_all": "role:reader"\n')
    enforcer = _enforcer(policy)
    target = {"project_id": "p", "user_id": "u"}
    for _ in range(2):
        assert enforcer.allowed("jobs:get_all", target, _ctx(["reader"]))
        assert not enforcer.allowed("jobs:get_all", target, _ctx(["x"]))
    assert enforcer.decisions
    policy.write_text('"jobs:get_all": "role:x"\n')
    # (oslo.policy notices a change by a newer modification time.)
    later = policy.stat().st_mtime + 10
    os.utime(policy, (later, later))
    assert not enforcer.allowed("jobs:get_all", target, _ctx(["reader"]))
    assert enforcer.allowed("jobs:get_all", target, _ctx(["x"]))
    # Another target or another user: decided, not taken from the cache.
    assert enforcer.allowed("jobs:get_all", {"project_id": "q",
                                             "user_id": "v"}, _ctx(["x"]))


def test_one_context_checks_several_rules(tmp_path):
    # A request's credentials are read once, then reused for each of its
    # checks: every rule still decides on them, and another caller's
    # context has its own.
    policy = tmp_path / "policy.yaml"
    policy.write_text('"jobs:get_all": "role:reader"\n'
                      '"jobs:create": "role:member"\n')
    enforcer = _enforcer(policy)
    target = {"project_id": "p", "user_id": "u"}
    reader, member = _ctx(["reader"]), _ctx(["member"])
    for _ in range(2):
        assert enforcer.allowed("jobs:get_all", target, reader)
        assert not enforcer.allowed("jobs:create", target, reader)
        assert not enforcer.allowed("jobs:get_all", target, member)
        assert enforcer.allowed("jobs:create", target, member)
    assert context.credentials_key(reader) != context.credentials_key(
        member)


def test_no_cache_when_a_rule_asks_a_server(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('"jobs:get_all": "role:reader or '
                      'http://127.0.0.1:1/never"\n')
    enforcer = _enforcer(policy)
    assert enforcer.allowed("jobs:get_all", {"project_id": "p",
                                             "user_id": "u"},
                            _ctx(["reader"]))
    assert enforcer.decisions == {}


# Documents where the compiled check's verdict could differ from
# jsonschema's if it were taken blindly.
_JOB = {"job_id": "j1", "client_id": "p_host1", "user_id": "u",
        "project_id": "p", "job_actions": [{"freezer_action": {
            "action": "backup", "mode": "fs"}}],
        "job_schedule": {"status": "scheduled"}, "session_tag": 0}


@pytest.mark.parametrize("name, doc", [
    ("job", _JOB),
    ("job", dict(_JOB, session_tag=1.0)),
    ("job", dict(_JOB, session_tag=1.5)),
    ("job", dict(_JOB, job_id="abc\n")),
    ("job", dict(_JOB, job_id="a\u0300b")),        # a combining mark
    ("job", dict(_JOB, job_id="\u0661\u0662")),    # Arabic-Indic digits
    ("job", dict(_JOB, client_id="p_host1\n")),
    ("job", dict(_JOB, description="tab\there, bell\x07")),
    ("job", dict(_JOB, job_schedule={"schedule_year": "2026\n"})),
    ("job", dict(_JOB, job_schedule={"schedule_date": "2026-01-01T00:00:00"
                                                      "Z"})),
    ("session_action", {"start": {"job_id": "a", "current_tag": "12\n"}}),
    ("session_action", {"start": {"job_id": "a", "current_tag": "12"}}),
    ("session_action", {"start": {"job_id": "\u00e9", "current_tag": 0}}),
])
def test_schema_check_agrees_with_jsonschema(name, doc):
    expected = None
    try:
        schemas.validate(name, doc)
    except exceptions.InvalidInput as exc:
        expected = str(exc)
    reference = schemas._VALIDATORS[name]
    assert (expected is None) == reference.is_valid(doc)
    if expected is not None:
        best = schemas.jsonschema.exceptions.best_match(
            reference.iter_errors(doc))
        assert expected == schemas._describe(best)


def test_request_id_as_oslo_middleware_gives_it():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        headers = [("Content-Type", "text/plain")]
        if environ["PATH_INFO"] == "/own":
            headers.append(("X-OpenStack-Request-ID", "mine"))
        start_response("200 OK", headers)
        return [b""]

    client = testing.TestClient(request_id.wrap(app))
    inbound = "req-%s" % "0123abcd-0123-4567-89ab-0123456789ab"
    result = client.simulate_get("/", headers={
        "X-OpenStack-Request-ID": inbound})
    assert result.headers["x-openstack-request-id"] == \
        seen["openstack.request_id"] != inbound
    assert seen["openstack.global_request_id"] == inbound
    client.simulate_get("/", headers={"X-OpenStack-Request-ID": "bogus"})
    assert "openstack.global_request_id" not in seen or \
        seen["openstack.global_request_id"] == inbound
    own = client.simulate_get("/own")
    assert own.headers["x-openstack-request-id"] == "mine"


def test_json_handler_answers_what_orjson_refuses():
    assert json.loads(media.dumps({"a": [1, "é", None]})) == \
        {"a": [1, "é", None]}
    assert json.loads(media.dumps({1: 2 ** 70})) == {"1": 2 ** 70}

    class Resource:
        def on_get(self, req, resp):
            resp.media = {"x": 2 ** 70}

    app = falcon.App()
    media.install(app)
    app.add_route("/", Resource())
    assert testing.TestClient(app).simulate_get("/").json == {"x": 2 ** 70}


class _Record:
    def __init__(self, returned=None):
        self.info = {} if returned is None else {"returned": returned}


class _Connection:
    """A DBAPI connection that counts pings, and fails them when down."""

    def __init__(self, down=False):
        self.down, self.pings = down, 0

    def cursor(self):
        connection = self

        class Cursor:
            def execute(self, sql):
                connection.pings += 1
                if connection.down:
                    raise OSError("server closed the connection")

            def fetchall(self):
                return [(1,)]

            def close(self):
                pass
        return Cursor()


def test_pooled_connections_are_pinged_only_after_a_rest():
    import time
    from sqlalchemy import exc as sa_exc
    from freezer_api.storage.sqlalchemy import driver as sql_driver
    busy, new = _Connection(down=True), _Connection(down=True)
    sql_driver._ping_if_idle(busy, _Record(time.monotonic()), None)
    sql_driver._ping_if_idle(new, _Record(), None)
    assert busy.pings == new.pings == 0
    rested = time.monotonic() - sql_driver.PING_AFTER - 1
    alive = _Connection()
    sql_driver._ping_if_idle(alive, _Record(rested), None)
    assert alive.pings == 1
    # A dead one: the pool is told to replace it.
    with pytest.raises(sa_exc.DisconnectionError):
        sql_driver._ping_if_idle(_Connection(down=True), _Record(rested),
                                 None)
    record = _Record()
    sql_driver._stamp_checkin(alive, record)
    assert time.monotonic() - record.info["returned"] < 5


def test_the_search_engine_client_does_not_log_every_request(tmp_path):
    # opensearch-py logs each request it sends at INFO ("POST .../_search
    # [status:200 ...]"): one line per poll at the default log level.
    # [DEFAULT] default_log_levels quiets it; a log file shows it.
    import logging
    from oslo_log import log as oslo_log
    from freezer_api import config
    log_file = tmp_path / "api.log"
    conf = config.parse(args=["--log-file", str(log_file)])
    assert "opensearch=WARN" in conf.default_log_levels
    names = [""] + [pair.partition("=")[0] for pair in
                    conf.default_log_levels]
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(logging.getLogger().handlers)
    oslo_log.setup(conf, "freezer-api")
    try:
        logging.getLogger("opensearch").info("POST /x/_search [status:200]")
        logging.getLogger("opensearch").warning("GET /x [status:N/A]")
        logging.getLogger("freezer_api.test").info("kept")
    finally:
        for handler in logging.getLogger().handlers[:]:
            if handler not in handlers:
                logging.getLogger().removeHandler(handler)
                handler.close()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    text = log_file.read_text()
    assert "_search" not in text
    assert "status:N/A" in text and "kept" in text
