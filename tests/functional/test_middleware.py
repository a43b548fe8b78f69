"""What wraps the application (a request id as oslo.middleware's
``RequestId`` makes it, oslo.middleware's proxy headers and CORS) and
oslo.log: no token and no password ever reaches a log."""

import os
import re
import subprocess
import sys
import textwrap

from falcon import testing

from freezer_api import app as app_module
from freezer_api import config
from tests import conftest

ORIGIN = "https://dashboard.example.com"


class _Storage:
    def healthcheck(self):
        pass


def _client(**overrides):
    conf = conftest.make_conf(**overrides)
    return testing.TestClient(app_module.create_app(conf, storage=_Storage()))


def test_every_answer_has_a_request_id():
    client = _client()
    for path in ("/", "/healthcheck", "/v1/nothing"):
        result = client.simulate_get(path)
        assert re.fullmatch(r"req-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                            result.headers["x-openstack-request-id"])


def test_proxy_headers_only_when_enabled():
    forwarded = {"X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "backup.example.com",
                 "X-Forwarded-Prefix": "/freezer"}
    plain = _client().simulate_get("/", headers=forwarded).json
    assert plain["versions"][0]["links"][0]["href"].startswith("http://")
    assert "backup.example.com" not in str(plain)

    client = _client(**{"oslo_middleware.enable_proxy_headers_parsing":
                        True})
    links = [v["links"][0]["href"] for v in
             client.simulate_get("/", headers=forwarded).json["versions"]]
    assert links == ["https://backup.example.com/freezer/v1/",
                     "https://backup.example.com/freezer/v2/"]
    rfc7239 = client.simulate_get("/", headers={
        "Forwarded": "for=192.0.2.1;proto=https;host=api.example.org"})
    assert rfc7239.json["versions"][0]["links"][0]["href"] == \
        "https://api.example.org/v1/"


def test_cors_when_an_origin_is_allowed(tmp_path):
    # Keystone on: a preflight (which never carries a token) still gets
    # its answer.
    conf_file = tmp_path / "cors.conf"
    conf_file.write_text(
        "[DEFAULT]\nauth_strategy = keystone\n\n[cors]\n"
        "allowed_origin = %s\n\n[keystone_authtoken]\n"
        "www_authenticate_uri = http://127.0.0.1:1/identity\n" % ORIGIN)
    conf = config.parse(config_files=[str(conf_file)])
    application = app_module.create_app(conf, storage=_Storage())
    client = testing.TestClient(application)
    # (oslo.middleware's preflight answer has no Content-Type, which
    # TestClient's wsgiref validator refuses: call the application.)
    answer = {}
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH",
                 "Access-Control-Request-Headers": "X-Auth-Token,If-Match"}
    environ = testing.create_environ("/v2/p1/jobs", method="OPTIONS",
                                     headers=preflight)
    b"".join(application(environ, lambda status, headers, exc=None:
                         answer.update(status=status,
                                       headers=dict(headers))))
    assert answer["status"].startswith("200")
    assert answer["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in answer["headers"]["Access-Control-Allow-Methods"]
    allowed = answer["headers"]["Access-Control-Allow-Headers"].lower()
    assert "x-auth-token" in allowed and "if-match" in allowed

    simple = client.simulate_get("/", headers={"Origin": ORIGIN})
    assert simple.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-OpenStack-Request-ID" in \
        simple.headers["Access-Control-Expose-Headers"]
    stranger = client.simulate_get("/", headers={
        "Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    # Without a token, anything but a preflight is still refused.
    assert client.simulate_get("/v2/p1/jobs", headers={
        "Origin": ORIGIN}).status_code == 401


def test_no_cors_headers_by_default():
    result = _client().simulate_get("/", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in result.headers


SECRETS = {
    "token": "gAAAAAB-5e2f-never-logged-token",
    "subject": "gAAAAAB-9a1c-subject-token",
    "db": "DbPw-4c1e-never-logged",
    "keystone": "KsPw-88d0-never-logged",
    "memcache": "McKey-0b7f-never-logged",
}

_SCRIPT = textwrap.dedent("""\
    from falcon import testing
    from freezer_api import wsgi
    client = testing.TestClient(wsgi.application)
    headers = {"X-Auth-Token": %(token)r, "X-Subject-Token": %(subject)r,
               "X-User-Id": "u", "X-Project-Id": "p"}
    for path in ("/", "/healthcheck", "/v1/jobs", "/v2/p/jobs"):
        client.simulate_get(path, headers=headers)
    client.simulate_post("/v2/p/jobs", json={"client_id": "c"},
                         headers=headers)
    print("status", client.simulate_get("/v1/jobs", headers=headers).status)
""")


def _logs_of_requests(tmp_path, auth_strategy):
    conf = tmp_path / ("%s.conf" % auth_strategy)
    conf.write_text(textwrap.dedent("""\
        [DEFAULT]
        debug = true
        auth_strategy = %(auth)s
        default_log_levels = %(levels)s

        [database]
        connection = postgresql+psycopg://freezer:%(db)s@127.0.0.1:1/freezer

        [keystone_authtoken]
        www_authenticate_uri = http://127.0.0.1:1/identity
        auth_url = http://127.0.0.1:1/identity
        auth_type = password
        username = freezer
        password = %(keystone)s
        project_name = service
        user_domain_name = Default
        project_domain_name = Default
        memcache_secret_key = %(memcache)s
        http_connect_timeout = 2
        http_request_max_retries = 0
        """) % dict(SECRETS, auth=auth_strategy, levels=",".join((
        "keystonemiddleware=DEBUG", "keystoneauth=DEBUG",
        "sqlalchemy=WARN"))))
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT % SECRETS], capture_output=True,
        text=True, timeout=120, cwd=str(tmp_path),
        env=dict(os.environ, FREEZER_API_CONFIG=str(conf)))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_no_token_or_password_in_the_logs(tmp_path):
    for auth_strategy, answer in (("keystone", "503"), ("noauth", "503")):
        logs = _logs_of_requests(tmp_path, auth_strategy)
        # Logging was on, at debug, and saw the failures...
        assert "database.connection" in logs and "= ****" in logs
        assert "status %s" % answer in logs
        assert "database unavailable" in logs
        if auth_strategy == "keystone":
            assert "Unable to validate token" in logs
            assert "keystone_authtoken.password" in logs
        # ...and never a secret.
        for name, secret in SECRETS.items():
            assert secret not in logs, "%s in the %s logs" % (
                name, auth_strategy)
