"""The policy rules themselves: every rule the API enforces is registered,
every registered operation rule is enforced, each documents its /v1 and
/v2 routes, and the standard oslo tools generate the policy and config
samples from the entry points."""

import ast
import os
import re
import subprocess
import sys

import pytest
from falcon import testing
from oslo_policy import policy as oslo_policy

from freezer_api import app as app_module
from freezer_api import policies
from freezer_api.api import context
from freezer_api.api import routes
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests.conftest import make_conf

BIN = os.path.dirname(sys.executable)
API_DIR = os.path.dirname(context.__file__)
RULE_NAME = re.compile(r"^[a-z_]+(:[a-z_]+)+$")  # "jobs:event:create"
RESPONDERS = ("get", "post", "put", "patch", "delete")


def _registered():
    return {rule.name: rule for rule in policies.list_rules()}


def _operation_rules():
    return {name: rule for name, rule in _registered().items()
            if isinstance(rule, oslo_policy.DocumentedRuleDefault)}


def _served():
    """(METHOD, path with every {param} as {}) of every versioned route."""
    served = set()
    for path, cls, _kind in routes.ROUTES:
        for responder in RESPONDERS:
            if hasattr(cls, "on_" + responder):
                for prefix in routes.PREFIXES.values():
                    served.add((responder.upper(),
                                re.sub(r"\{\w+\}", "{}", prefix + path)))
    return served


def _constants(node):
    return {n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_rule_names_in_the_source_are_registered():
    """Every rule name written in the resources and the context is
    registered: literal names, and ``self.kind + ":suffix"`` for each kind
    a route serves with that class (or a subclass)."""
    used = set()
    for name in ("resources.py", "context.py"):
        with open(os.path.join(API_DIR, name)) as source:
            tree = ast.parse(source.read())
        classes = {node.name: _constants(node) for node in tree.body
                   if isinstance(node, ast.ClassDef)}
        used.update(v for v in _constants(tree) if RULE_NAME.match(v))
        for _path, cls, kind in routes.ROUTES:
            for base in cls.__mro__:
                used.update(kind + v for v in classes.get(base.__name__, ())
                            if v.startswith(":") and RULE_NAME.match(kind + v))
    assert {"jobs:event:create", "backups:get_all", "sessions:replace"} \
        <= used, "no rule names found: did the resources change shape?"
    assert used <= set(_registered()), used - set(_registered())


@pytest.fixture
def recording_app(tmp_path, monkeypatch):
    """A noauth app on SQLite recording every rule it enforces."""
    driver = sql_driver.SQLAlchemyDriver(make_conf(**{
        "database.connection": "sqlite:///%s" % (tmp_path / "db.sqlite")}))
    driver.upgrade()
    enforced = []
    allowed = context.Authorizer.allowed

    def recording(self, req, rule, project_id=None):
        enforced.append(rule)
        return allowed(self, req, rule, project_id)
    monkeypatch.setattr(context.Authorizer, "allowed", recording)
    client = testing.TestClient(app_module.create_app(make_conf(),
                                                      storage=driver))
    yield client, enforced
    driver.close()


def test_every_route_enforces_a_registered_rule(recording_app):
    """Each route and method, on v1 and v2, enforces at least one rule;
    all of them registered, and every operation rule is enforced."""
    client, enforced = recording_app
    headers = {"X-User-Id": "u", "X-Project-Id": "p",
               "X-Roles": "admin,service,member,reader"}
    registered = _registered()
    everything = set()
    for path, cls, _kind in routes.ROUTES:
        for responder in RESPONDERS:
            if not hasattr(cls, "on_" + responder):
                continue
            for prefix in ("/v1", "/v2/p"):
                url = prefix + path.replace("{doc_id}", "x").replace(
                    "{job_id}", "y")
                del enforced[:]
                result = client.simulate_request(
                    responder.upper(), url, headers=headers, json={})
                assert result.status_code != 500, (url, result.text)
                assert enforced, (responder, url)
                assert set(enforced) <= set(registered), enforced
                everything.update(enforced)
    seen = set()
    # The two rules that depend on the request, not only on the route.
    for prefix in ("/v1", "/v2/p"):
        del enforced[:]
        client.simulate_get(prefix + "/jobs", headers=headers,
                            query_string="all_projects=true")
        seen.update(enforced)
        client.simulate_post(prefix + "/clients", headers=headers, json={
            "client_id": "p_central", "hostname": "h", "is_central": True})
        seen.update(enforced)
    assert {"jobs:get_all_projects", "clients:create_central"} <= seen
    assert everything | seen == set(_operation_rules())


def test_every_route_has_an_operation_rule():
    """Routes and the rules' documented operations are the same set."""
    documented = set()
    for rule in _operation_rules().values():
        for operation in rule.operations:
            documented.add((operation["method"],
                            re.sub(r"\{\w+\}", "{}", operation["path"])))
    assert documented == _served()


def test_every_operation_rule_lists_v1_and_v2():
    for name, rule in _operation_rules().items():
        paths = {(op["method"], op["path"]) for op in rule.operations}
        v1 = {(m, p[len("/v1"):]) for m, p in paths if p.startswith("/v1/")}
        v2 = {(m, p[len("/v2/{project_id}"):]) for m, p in paths
              if p.startswith("/v2/{project_id}/")}
        assert v1 and v1 == v2 and len(paths) == 2 * len(v1), name
        assert rule.description, name


def test_upstream_rule_names_are_kept():
    """Existing policy files name these (upstream freezer-api)."""
    upstream = {
        "backups:get_all", "backups:create", "backups:get",
        "backups:delete", "clients:get_all", "clients:create",
        "clients:get", "clients:delete", "jobs:get_all", "jobs:create",
        "jobs:get", "jobs:update", "jobs:delete", "jobs:event:create",
        "actions:get_all", "actions:create", "actions:get",
        "actions:update", "actions:replace", "actions:delete",
        "sessions:get_all", "sessions:create", "sessions:get",
        "sessions:update", "sessions:replace", "sessions:delete",
        "sessions:action:create", "sessions:job:add",
        "sessions:job:remove"}
    assert upstream <= set(_registered())
    assert "jobs:get_all_projects" in _registered()
    assert "jobs:replace" in _registered()


@pytest.mark.parametrize("rule,roles", [
    ("jobs:get", {"reader"}), ("jobs:update", {"member"}),
    ("jobs:get_all_projects", {"admin"})])
def test_defaults_are_secure_rbac(rule, roles):
    """Reader reads, member writes, admin lists every project; nobody
    without a role does anything."""
    enforcer = oslo_policy.Enforcer(make_conf())
    enforcer.register_defaults(policies.list_rules())
    target = {"project_id": "p", "user_id": "u"}
    ladder = ["reader", "member", "admin"]
    lowest = min(ladder.index(role) for role in roles)
    for index, role in enumerate(ladder):
        creds = {"roles": [role], "project_id": "p", "user_id": "u"}
        assert enforcer.authorize(rule, target, creds) == (index >= lowest)
    assert not enforcer.authorize(rule, target, {"roles": ["guest"]})


def test_a_policy_file_may_name_upstreams_admin_or_owner(tmp_path):
    """Upstream's base rule exists, so an operator's policy file that
    names it keeps working: a caller in the target project passes."""
    rules = tmp_path / "policy.yaml"
    rules.write_text('"jobs:get_all": "rule:admin_or_owner"\n')
    enforcer = oslo_policy.Enforcer(make_conf(
        **{"oslo_policy.policy_file": str(rules)}))
    enforcer.register_defaults(policies.list_rules())
    creds = {"roles": [], "project_id": "p", "user_id": "u"}
    assert enforcer.authorize("jobs:get_all", {"project_id": "p"}, creds)
    assert not enforcer.authorize("jobs:get_all", {"project_id": "q"},
                                  creds)


def _run(tool, *args):
    result = subprocess.run([os.path.join(BIN, tool), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_policy_sample_generates(tmp_path):
    out = tmp_path / "policy.yaml.sample"
    _run("oslopolicy-sample-generator", "--namespace", "freezer-api",
         "--output-file", str(out))
    sample = out.read_text()
    for name, rule in _registered().items():
        assert '#"%s": "%s"' % (name, rule.check_str) in sample, name
    assert "# GET  /v2/{project_id}/jobs" in sample


def test_config_sample_generates(tmp_path):
    out = tmp_path / "freezer-api.conf.sample"
    _run("oslo-config-generator", "--namespace", "freezer-api",
         "--namespace", "keystonemiddleware.auth_token",
         "--namespace", "oslo.policy", "--output-file", str(out))
    sample = out.read_text()
    assert "#auth_strategy = keystone" in sample
    assert "[keystone_authtoken]" in sample
    assert "#www_authenticate_uri = <None>" in sample
    assert "#policy_file = policy.yaml" in sample
