"""The deployment examples of ``etc/`` really serve the application:
``freezer_api.wsgi:application`` under uWSGI (``etc/uwsgi/freezer-api.ini``),
gunicorn (``etc/gunicorn.conf.py``) and Apache httpd with Debian's mod_wsgi
(``etc/apache2/freezer-api.conf`` loading ``freezer-api.wsgi``, in daemon
mode, from a venv of the Python mod_wsgi embeds:
tools.testenv.installs.Apache),
configured by FREEZER_API_CONFIG, on a loopback port: without
authentication, and (Apache, uWSGI) behind the test Keystone. Their logs
never show a token."""

import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest
import requests

from tests.functional.keystone_support import keystone  # noqa: F401
from tools.testenv import base as testenv
from tools.testenv import installs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TOKEN = "gAAAAAB-token-never-logged-5f1e0c"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _uwsgi(tmp, port):
    """uwsgi --ini etc/uwsgi/freezer-api.ini: (argv, environment, logs)."""
    return ([os.path.join(BIN, "uwsgi"), "--ini",
             os.path.join(ROOT, "etc", "uwsgi", "freezer-api.ini")],
            # uwsgi from PyPI finds the virtualenv through it.
            {"FREEZER_API_BIND": "127.0.0.1:%d" % port,
             "VIRTUAL_ENV": sys.prefix}, [])


def _gunicorn(tmp, port):
    """gunicorn -c etc/gunicorn.conf.py: (argv, environment, logs)."""
    return ([os.path.join(BIN, "gunicorn"), "-c",
             os.path.join(ROOT, "etc", "gunicorn.conf.py")],
            {"FREEZER_API_BIND": "127.0.0.1:%d" % port}, [])


# What the test changes in etc/apache2/freezer-api.conf: the port, the
# venv and script paths, and the daemon processes' user. Each must be
# found, so the test fails when the example changes shape.
APACHE_EDITS = (
    ("Listen 9090\n", "Listen 127.0.0.1:{port}\n"),
    ("<VirtualHost *:9090>", "<VirtualHost *:{port}>"),
    ("python-home=/opt/freezer-api/venv", "python-home={venv}"),
    ("/opt/freezer-api", "{site}"),
    # (Only root may name them; otherwise they run as the caller.)
    ("user=freezer group=freezer", "{owner}"),
)
# The server configuration around it: what Debian's apache2.conf and
# enabled modules give (the event MPM, authz_core for "Require", wsgi, the
# "combined" log format), with every file in the test's directory.
APACHE_MAIN = """ServerName 127.0.0.1
PidFile {tmp}/httpd.pid
DefaultRuntimeDir {tmp}
Mutex file:{tmp} default
ErrorLog {tmp}/logs/error.log
LogLevel info
{user_lines}LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule wsgi_module {modules}/mod_wsgi.so
LoadModule reqtimeout_module {modules}/mod_reqtimeout.so
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\
\\"%{{User-Agent}}i\\"" combined
WSGISocketPrefix {tmp}/wsgi
Define APACHE_LOG_DIR {tmp}/logs
Include {tmp}/freezer-api-site.conf
"""


def apache_settings():
    """Apache, mod_wsgi and the venv installed (or reused): the APACHE_*
    settings of tools.testenv.installs.Apache."""
    try:
        return installs.Apache().ensure()
    except testenv.ServiceError as exc:
        pytest.fail("installing Apache and its venv failed: %s" % exc)


def _apache(tmp, port):
    """Apache httpd serving etc/apache2/freezer-api.conf (daemon mode, 2
    processes) from a venv made by tools.testenv.installs.Apache: (argv,
    environment, logs). When the test runs as root, httpd's children and
    the WSGI daemons run as www-data, so everything they read lives in a
    directory of mode 0755, and the database directory is theirs."""
    env = apache_settings()
    user = env["APACHE_USER"]
    as_root = os.geteuid() == 0
    (tmp / "logs").mkdir()
    site = tmp / "site"
    site.mkdir()
    shutil.copy(os.path.join(ROOT, "etc", "apache2", "freezer-api.wsgi"),
                site / "freezer-api.wsgi")
    conf = pathlib.Path(ROOT, "etc", "apache2",
                        "freezer-api.conf").read_text()
    for old, new in APACHE_EDITS:
        assert old in conf, "etc/apache2/freezer-api.conf has no %r" % old
        conf = conf.replace(old, new.format(
            port=port, venv=env["APACHE_VENV"], site=site,
            owner="user={0} group={0}".format(user) if as_root else ""))
    (tmp / "freezer-api-site.conf").write_text(conf)
    (tmp / "httpd.conf").write_text(APACHE_MAIN.format(
        tmp=tmp, modules=env["APACHE_MODULES"],
        user_lines="User {0}\nGroup {0}\n".format(user) if as_root else ""))
    if as_root:
        shutil.chown(tmp / "data", user)
    return ([env["APACHE_BIN"], "-f", str(tmp / "httpd.conf"),
             "-DFOREGROUND"], {},
            [tmp / "logs" / name for name in (
                "error.log", "freezer-api-error.log",
                "freezer-api-access.log")])


SERVERS = {"uwsgi": _uwsgi, "gunicorn": _gunicorn, "apache": _apache}


@contextlib.contextmanager
def _serving(kind, conf_text):
    """Serve with ``kind`` (a key of SERVERS) and a freezer-api.conf of
    ``conf_text`` plus a SQLite database of its own; yield (base URL, a
    function returning the server's logs as text)."""
    # Not pytest's tmp_path: its parents are private to root, and httpd's
    # children (www-data) must read the configuration and write the data.
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="freezer-deploy-%s-" % kind))
    try:
        tmp.chmod(0o755)
        (tmp / "data").mkdir()
        conf = tmp / "freezer-api.conf"
        conf.write_text(conf_text + "\n[database]\nconnection = sqlite:///%s\n"
                        % (tmp / "data" / "freezer.sqlite"))
        port = _free_port()
        argv, extra_env, logs = SERVERS[kind](tmp, port)
        env = dict(os.environ, FREEZER_API_CONFIG=str(conf), **extra_env)
        output = tmp / "server.log"
        with open(output, "wb") as log:
            proc = subprocess.Popen(argv, cwd=str(tmp), env=env, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)

        def read_logs():
            return "\n".join(path.read_text(errors="replace")
                             for path in [output, *logs] if path.exists())

        try:
            base = "http://127.0.0.1:%d" % port
            _wait_healthy(base, proc, kind, read_logs)
            yield base, read_logs
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_healthy(base, proc, kind, read_logs):
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthcheck", timeout=10).ok:
                return
        except requests.RequestException:
            pass  # not listening yet, or still building the application
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("%s did not start:\n%s" % (kind, read_logs()[-4000:]))
        time.sleep(0.2)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request):
    """(base URL, logs) of a server without authentication (noauth)."""
    with _serving(request.param,
                  "[DEFAULT]\nauth_strategy = noauth\ndebug = true\n\n"
                  "[oslo_middleware]\nenable_proxy_headers_parsing = true\n"
                  ) as served:
        yield served


@pytest.fixture(scope="module", params=["apache", "uwsgi"])
def keystone_server(request, keystone):  # noqa: F811
    """(base URL, logs) of a server validating tokens with the test
    Keystone (keystonemiddleware's auth_token, as operators deploy it)."""
    with _serving(request.param, "[DEFAULT]\nauth_strategy = keystone\n\n"
                  + keystone.authtoken_conf()) as served:
        yield served


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
    base, read_logs = server
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
    log = read_logs()
    assert "log_opt_values" in log  # debug logging was on
    assert TOKEN not in log


def test_a_chunked_body_is_read_whole(server):
    """A body sent in chunks (Transfer-Encoding: chunked, no
    Content-Length) is read whole, as a client streaming it expects."""
    base, _ = server
    body = json.dumps({"client_id": "deploy-c_chunked",
                       "hostname": "chunked", "description": "x" * 5000})
    pieces = iter([body[:7].encode(), body[7:3000].encode(),
                   body[3000:].encode()])
    headers = dict(_headers("deploy-c"), **{
        "Content-Type": "application/json"})
    created = requests.post(base + "/v2/deploy-c/clients", data=pieces,
                            headers=headers)
    assert created.status_code == 201, created.text
    stored = requests.get(base + "/v2/deploy-c/clients/deploy-c_chunked",
                          headers=_headers("deploy-c"))
    assert stored.status_code == 200
    assert stored.json()["client"]["description"] == "x" * 5000


def _send_raw(base, request):
    """Send ``request`` (bytes) on a new connection, end the sending side,
    and return (status code, head, body) of the answer."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


BODY = b'{"client_id": "deploy-m_bad", "hostname": "h"}'


def _post_client_raw(base, project, framing, payload):
    """POST ``payload`` to ``project``'s clients with the body framing
    header ``framing``, byte for byte: (status, head, body)."""
    head = ("POST /v2/%s/clients HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            "%s\r\n" % (project, framing) + "".join(
                "%s: %s\r\n" % item for item in _headers(project).items())
            + "\r\n").encode()
    return _send_raw(base, head + payload)


@pytest.mark.parametrize("name, framing, payload", [
    ("a chunk size that is not hex", "Transfer-Encoding: chunked",
     b"zz\r\n{}\r\n0\r\n\r\n"),
    ("a chunked body cut short", "Transfer-Encoding: chunked",
     b"40\r\n" + BODY[:30]),
    ("a body shorter than its Content-Length", "Content-Length: 100",
     BODY),
])
def test_a_malformed_or_cut_short_body_is_refused_and_stores_nothing(
        server, request, name, framing, payload):
    """A body that cannot be read whole is refused, and nothing of it is
    stored, even when what came parses. gunicorn's worker
    (freezer_api.worker) answers 400 in JSON itself; uWSGI hands it to the
    application, which answers 400 in JSON. Apache refuses it before the
    application: 400 for a bad chunk size and, in mod_wsgi's daemon mode,
    500 for a body cut short (its child fails to pass the body on to the
    daemon process; doc/compatibility.rst)."""
    base, _ = server
    kind = request.node.callspec.params["server"]
    status, _head, body = _post_client_raw(base, "deploy-m", framing,
                                           payload)
    if kind == "apache":
        assert status == (400 if "hex" in name else 500), (status, body)
    else:
        assert status == 400, (status, body)
        error = json.loads(body)
        assert set(error) == {"title", "description"}, error
    listed = requests.get(base + "/v2/deploy-m/clients",
                          headers=_headers("deploy-m"))
    assert listed.json()["clients"] == []


@pytest.mark.parametrize("server", ["gunicorn"], indirect=True)
@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /v2/p/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
     + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET /v2/p/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
     400),
])
def test_what_the_server_refuses_itself_is_a_json_error(
        server, request_bytes, status):
    """etc/gunicorn.conf.py's worker (freezer_api.worker) answers what it
    refuses before the application (headers over 64 KiB, a malformed
    header line) with the service's JSON error, as the freezer-api
    command does."""
    base, _ = server
    got, head, body = _send_raw(base, request_bytes)
    assert got == status, head
    assert b"application/json" in head.lower()
    assert set(json.loads(body)) == {"title", "description"}


@pytest.mark.alone
@pytest.mark.parametrize("server", ["gunicorn", "apache"], indirect=True)
def test_slow_clients_starve_nothing(server):
    """50 slowloris connections (a header byte a second each, more than
    both examples' workers and threads together) for 18 s: every poll is
    answered, p99 under 100 ms, and the server cuts every slow one
    (gunicorn's worker after [api] client_timeout, 15 s; Apache's
    mod_reqtimeout after 10 s). gunicorn's worker (freezer_api.worker)
    reads them without a thread; Apache's event MPM gives each a thread of
    its own, of which it has hundreds.
    (uWSGI's http-socket workers read requests with a blocking read: the
    uwsgi example is not for untrusted networks, README.rst.)"""
    from tests.functional import test_hostile_network as hostile

    base, _ = server
    port = int(urllib.parse.urlsplit(base).port)
    attack = hostile.Slowloris(("127.0.0.1", port), 50, 18)
    attack.start()
    time.sleep(1.5)
    latencies, failures = [], []
    end = time.monotonic() + 15
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            poll = requests.get(base + "/v2/deploy-s/jobs", timeout=10,
                                headers=_headers("deploy-s"))
            if poll.status_code != 200:
                failures.append(poll.status_code)
            latencies.append(time.monotonic() - began)
        except requests.RequestException as exc:
            failures.append(repr(exc))
        time.sleep(0.05)
    attack.join(timeout=30)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    assert not failures, failures[:5]
    assert len(latencies) > 50
    assert p99 < 0.100, p99
    assert attack.refused == 0 and attack.opened >= 50
    assert attack.cut >= 50, (attack.cut, attack.answers)


def test_behind_keystone(keystone_server, keystone):  # noqa: F811
    """Under Apache and uWSGI too, auth_token validates the real Keystone's
    tokens: the public documents need none, a request without one is 401,
    a v2 URL of another project is 403, another project's document is 404,
    and no log shows the token."""
    base, read_logs = keystone_server
    alice, bob = keystone.user("alice"), keystone.user("bob")
    as_alice = {"X-Auth-Token": keystone.token("alice")}
    as_bob = {"X-Auth-Token": keystone.token("bob")}
    assert requests.get(base + "/").status_code == 300
    assert requests.get(base + "/healthcheck").status_code == 200
    mine = base + "/v2/%s/clients" % alice.project_id
    assert requests.get(mine).status_code == 401
    client_id = "%s_deploy-%s" % (alice.project_id, os.getpid())
    created = requests.post(mine, headers=as_alice, json={
        "client_id": client_id, "hostname": "deploy"})
    assert created.status_code == 201, created.text
    listed = requests.get(mine, headers=as_alice)
    assert [c["client_id"] for c in listed.json()["clients"]] == [client_id]
    assert requests.get(base + "/v1/clients/" + client_id,
                        headers=as_alice).status_code == 200
    assert requests.get(mine, headers=as_bob).status_code == 403
    assert requests.get(base + "/v2/%s/clients/%s" % (
        bob.project_id, client_id), headers=as_bob).status_code == 404
    time.sleep(0.5)  # let the workers flush their logs
    log = read_logs()
    assert as_alice["X-Auth-Token"] not in log
    assert as_bob["X-Auth-Token"] not in log


def test_a_transfer_coding_other_than_chunked_is_refused(server, request):
    """A body in a transfer coding the service cannot undo (gzip) is
    refused, never read as an empty body: gunicorn and Apache refuse it
    themselves (400), uWSGI passes it on and freezer_api.wsgi answers 501
    (RFC 9112)."""
    base, _ = server
    kind = request.node.callspec.params["server"]
    status, _head, body = _post_client_raw(
        base, "deploy-g", "Transfer-Encoding: gzip", BODY)
    assert status == (400 if kind == "apache" else 501), (status, body)
    if kind != "apache":
        assert set(json.loads(body)) == {"title", "description"}
    listed = requests.get(base + "/v2/deploy-g/clients",
                          headers=_headers("deploy-g"))
    assert listed.json()["clients"] == []
