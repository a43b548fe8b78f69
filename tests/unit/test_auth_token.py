"""Authentication without a Keystone: the default configuration puts
keystonemiddleware's auth_token in front of everything but ``/`` and
``/healthcheck``, trusts no identity header, answers in JSON when
Keystone cannot be reached or auth_token is not configured, and only the
request context reads identity headers."""

import ast
import logging
import os
import socket

import pytest
from falcon import testing

import freezer_api
from freezer_api import app as app_module
from freezer_api import config
from freezer_api.storage.sqlalchemy import driver as sql_driver
from tests.conftest import make_conf

KEYSTONE = "http://keystone.invalid:5000/v3"
FORGED = {"X-User-Id": "mallory", "X-Project-Id": "p", "X-Roles": "admin",
          "X-Identity-Status": "Confirmed", "Accept": "application/json"}


@pytest.fixture
def storage(tmp_path):
    driver = sql_driver.SQLAlchemyDriver(make_conf(**{
        "database.connection": "sqlite:///%s" % (tmp_path / "db.sqlite")}))
    driver.upgrade()
    yield driver
    driver.close()


def _client(tmp_path, storage, text=""):
    """The app built from a config file holding ``text`` (nothing else:
    every other option has its default)."""
    path = tmp_path / "freezer-api.conf"
    path.write_text(text)
    conf = config.parse(config_files=[str(path)])
    return testing.TestClient(app_module.create_app(conf, storage=storage))


def _refused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_default_is_keystone_and_trusts_no_header(tmp_path, storage):
    assert config.parse(config_files=[]).auth_strategy == "keystone"
    client = _client(tmp_path, storage, "[keystone_authtoken]\n"
                     "www_authenticate_uri = %s\n" % KEYSTONE)
    for path in ("/v1/jobs", "/v2/p/jobs", "/v1", "/v2/p/sessions/x"):
        result = client.simulate_get(path, headers=FORGED)
        assert result.status_code == 401, path
        assert result.headers["WWW-Authenticate"] == \
            'Keystone uri="%s"' % KEYSTONE
        assert result.json["error"]["code"] == 401
        assert result.json["title"] == "Unauthorized"
        assert result.json["description"] == \
            result.json["error"]["message"]
    assert client.simulate_get("/").status_code == 300
    assert client.simulate_get("/healthcheck").json == {"status": "OK"}
    assert client.simulate_head("/healthcheck").status_code == 200


def test_keystone_unreachable_is_503_json(tmp_path, storage):
    url = "http://127.0.0.1:%d/v3" % _refused_port()
    client = _client(tmp_path, storage, "[keystone_authtoken]\n"
                     "www_authenticate_uri = %s\nauth_url = %s\n"
                     "auth_type = password\nusername = freezer\n"
                     "password = secret\nproject_name = service\n"
                     "user_domain_name = Default\n"
                     "project_domain_name = Default\n"
                     "http_request_max_retries = 0\n" % (url, url))
    for accept in ("application/json", "text/html", None):
        headers = {"X-Auth-Token": "some-token"}
        if accept:
            headers["Accept"] = accept
        result = client.simulate_get("/v2/p/jobs", headers=headers)
        assert result.status_code == 503, accept
        assert result.headers["Content-Type"] == "application/json"
        assert set(result.json) == {"title", "description"}
        assert "Keystone" in result.json["description"]
        assert result.headers["Retry-After"] == "5"
    assert client.simulate_get("/v1/jobs").status_code == 401
    assert client.simulate_get("/healthcheck").status_code == 200


def test_unconfigured_auth_token_is_a_json_500(tmp_path, storage, caplog):
    client = _client(tmp_path, storage)
    with caplog.at_level(logging.ERROR, "freezer_api.api.auth"):
        result = client.simulate_get("/v1/jobs", headers=FORGED)
    assert result.status_code == 500
    assert set(result.json) == {"title", "description"}
    assert "keystone_authtoken" in caplog.text
    assert client.simulate_get("/").status_code == 300


def test_noauth_only_when_configured_and_it_warns(tmp_path, storage,
                                                  caplog):
    with caplog.at_level(logging.WARNING, "freezer_api.app"):
        _client(tmp_path, storage, "[keystone_authtoken]\n"
                "www_authenticate_uri = %s\n" % KEYSTONE)
    assert "noauth" not in caplog.text
    with caplog.at_level(logging.WARNING, "freezer_api.app"):
        client = _client(tmp_path, storage,
                         "[DEFAULT]\nauth_strategy = noauth\n")
    assert "auth_strategy = noauth" in caplog.text
    assert client.simulate_get("/v1/jobs", headers=FORGED).status_code == \
        200


def test_a_401_of_the_app_has_one_challenge(tmp_path, storage):
    """With delay_auth_decision, auth_token lets an anonymous request
    through and our 401 gets auth_token's challenge, and no other."""
    client = _client(tmp_path, storage, "[keystone_authtoken]\n"
                     "www_authenticate_uri = %s\n"
                     "delay_auth_decision = true\n" % KEYSTONE)
    result = client.simulate_get("/v1/jobs", headers=FORGED)
    assert result.status_code == 401
    assert [v for k, v in result.headers.items()
            if k.lower() == "www-authenticate"] == \
        ['Keystone uri="%s"' % KEYSTONE]
    assert result.json["title"] == "Unauthorized"


# -- who reads identity headers ---------------------------------------------
IDENTITY = ("X-USER", "X-PROJECT", "X-ROLE", "X-TENANT", "X-IDENTITY",
            "X-DOMAIN", "X-SERVICE", "X-IS-ADMIN", "X-SYSTEM", "X-AUTH")


def _is_identity_header(value):
    name = value.upper().replace("_", "-")
    if name.startswith("HTTP-"):
        name = name[len("HTTP-"):]
    return name.startswith(IDENTITY)


def _header_reads(tree):
    """Lines where a string naming an identity header is used to read a
    request: an argument of a call (``get_header("X-Roles")``,
    ``env.get("HTTP_X_ROLES")``) or a subscript (``env["HTTP_X_..."]``)."""
    lines = []
    for node in ast.walk(tree):
        keys = []
        if isinstance(node, ast.Call):
            keys = node.args[:1]
        elif isinstance(node, ast.Subscript):
            keys = [node.slice]
        for key in keys:
            if isinstance(key, ast.Constant) and \
                    isinstance(key.value, str) and \
                    _is_identity_header(key.value):
                lines.append(node.lineno)
    return lines


def test_only_the_request_context_reads_identity_headers():
    root = os.path.dirname(freezer_api.__file__)
    readers = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path) as source:
                    lines = _header_reads(ast.parse(source.read()))
                if lines:
                    readers[os.path.relpath(path, root)] = lines
    assert set(readers) == {os.path.join("api", "context.py")}, readers
