"""The deployment examples of ``etc/`` really serve the application:
``freezer_api.wsgi:application`` under uWSGI (``etc/uwsgi/freezer-api.ini``)
and gunicorn (``etc/gunicorn.conf.py``), configured by FREEZER_API_CONFIG,
on a loopback port. Their logs never show a token."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TOKEN = "gAAAAAB-token-never-logged-5f1e0c"
SERVERS = {
    "uwsgi": [os.path.join(BIN, "uwsgi"), "--ini",
              os.path.join(ROOT, "etc", "uwsgi", "freezer-api.ini")],
    "gunicorn": [os.path.join(BIN, "gunicorn"), "-c",
                 os.path.join(ROOT, "etc", "gunicorn.conf.py")],
}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    conf = tmp / "freezer-api.conf"
    conf.write_text(
        "[DEFAULT]\nauth_strategy = noauth\ndebug = true\n\n"
        "[database]\nconnection = sqlite:///%s\n\n"
        "[oslo_middleware]\nenable_proxy_headers_parsing = true\n"
        % (tmp / "freezer.sqlite"))
    port = _free_port()
    env = dict(os.environ, FREEZER_API_CONFIG=str(conf),
               FREEZER_API_BIND="127.0.0.1:%d" % port,
               # uwsgi from PyPI finds the virtualenv through it.
               VIRTUAL_ENV=sys.prefix)
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(SERVERS[request.param], cwd=str(tmp),
                                env=env, stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthcheck", timeout=10).ok:
                break
        except requests.RequestException:
            pass  # not listening yet, or still building the application
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            pytest.fail("%s did not start:\n%s" % (
                request.param, log_path.read_text()[-4000:]))
        time.sleep(0.2)
    yield base, log_path
    _stop(proc)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _headers(project):
    return {"X-User-Id": "deployer-" + project, "X-Project-Id": project,
            "X-Roles": "member,reader", "X-Auth-Token": TOKEN,
            "Accept": "application/json"}


def test_versions_create_and_list(server):
    base, log_path = server
    versions = requests.get(base + "/", headers={"X-Auth-Token": TOKEN})
    assert versions.status_code == 300
    assert [v["id"] for v in versions.json()["versions"]] == ["v1", "v2"]
    assert re.fullmatch(r"req-[0-9a-f-]{36}",
                        versions.headers["x-openstack-request-id"])
    assert versions.json()["versions"][0]["links"][0]["href"] == \
        base + "/v1/"

    # Behind a TLS-terminating proxy ([oslo_middleware]
    # enable_proxy_headers_parsing = true).
    proxied = requests.get(base + "/", headers={
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "backup.example.com"}).json()
    assert proxied["versions"][1]["links"][0]["href"] == \
        "https://backup.example.com/v2/"

    for prefix, project in (("/v2/deploy-p", "deploy-p"),
                            ("/v1", "deploy-q")):
        created = requests.post(base + prefix + "/clients", json={
            "client_id": "%s_host" % project, "hostname": "host"},
            headers=_headers(project))
        assert created.status_code == 201, created.text
        action = requests.post(base + prefix + "/actions", json={
            "freezer_action": {"action": "backup", "mode": "fs"}},
            headers=_headers(project))
        assert action.status_code == 201, action.text
        listed = requests.get(base + prefix + "/clients?limit=5",
                              headers=_headers(project))
        assert listed.status_code == 200
        assert [c["client_id"] for c in listed.json()["clients"]] == \
            ["%s_host" % project]
        actions = requests.get(base + prefix + "/actions",
                               headers=_headers(project)).json()["actions"]
        assert [a["action_id"] for a in actions] == \
            [action.json()["action_id"]]

    time.sleep(0.5)  # let the workers flush their logs
    log = log_path.read_text(errors="replace")
    assert "log_opt_values" in log  # debug logging was on
    assert TOKEN not in log
