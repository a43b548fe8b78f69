"""tools.testenv.keystone.Keystone for real: a private Keystone (its own
venv, database and keys under the test's directory) on free loopback
ports, never the shared one on 35357. The venv is the shared cache's
(built once, by whoever needs it first: base.CachedVenv); the bootstrap is
made once for the module (per pytest worker)."""

import concurrent.futures
import json
import os
import signal
import socket
import urllib.request

import pytest

from tools.testenv import base
from tools.testenv import keystone as keystone_module
from tests.functional import keystone_support

SHARED_PORT = 35357


def free_port():
    port = base.free_port()
    assert port != SHARED_PORT
    return port


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("testenv-keystone")


@pytest.fixture
def keystone(home, monkeypatch):
    """A Keystone of the module's directory on a free port, stopped after
    the test (whatever port it ended on)."""
    for variable in ("KEYSTONE_PORT", "FREEZER_API_PORT"):
        monkeypatch.delenv(variable, raising=False)
    service = keystone_module.Keystone(base=home, port=free_port(),
                                       freezer_port=free_port())
    yield service
    keystone_module.Keystone(base=home).stop()
    assert not service.running()


def token(url, user, password, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": "default"},
                 "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    request = urllib.request.Request(
        url + "/auth/tokens", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201
        return answer.headers["X-Subject-Token"], json.load(answer)


def test_start_reuse_environment_stop(keystone):
    url = keystone.start()
    assert url == "http://127.0.0.1:%d/v3" % keystone.port
    assert keystone.status()
    pid = keystone.pid()
    assert pid and base.alive(pid)
    # Started again, and from two threads at once: the same server.
    assert keystone.start() == url
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        urls = list(pool.map(lambda _: keystone_module.Keystone(
            base=keystone.base, port=keystone.port,
            freezer_port=keystone.freezer_port).start(), range(2)))
    assert urls == [url, url]
    assert keystone.pid() == pid

    env = keystone.environment()
    assert env["KEYSTONE_URL"] == url
    assert env["FREEZER_API_URL"] == "http://127.0.0.1:%d" % (
        keystone.freezer_port)
    assert env["KEYSTONE_LOG_FILE"] == keystone.log_file
    assert os.path.getsize(keystone.log_file) > 0
    assert env["KEYSTONE_ADMIN_PASSWORD"] == "secret-admin"
    # What the end-to-end tests read: every seeded user, with a password
    # that logs in to the project named.
    client = keystone_support.Keystone(env)
    assert set(client.users) == set(keystone_support.USER_NAMES)
    alice = client.user("alice")
    assert (alice.project_name, alice.role) == ("freezer-a", "member")
    _, answer = token(url, alice.name, alice.password, alice.project_name)
    assert answer["token"]["project"]["id"] == alice.project_id
    assert {r["name"] for r in answer["token"]["roles"]} >= {"member",
                                                              "reader"}
    catalog = {s["type"]: s for s in answer["token"]["catalog"]}
    assert [e["url"] for e in catalog["backup"]["endpoints"]] == [
        env["FREEZER_API_URL"]]

    keystone.stop()
    assert not keystone.running() and not keystone.status()
    assert not base.alive(pid)
    assert not base.port_in_use(keystone.port)
    keystone.stop()         # stopping a stopped one succeeds
    with pytest.raises(base.ServiceError, match="not running"):
        keystone.environment()


def test_restarts_on_another_port(keystone):
    first = keystone.start()
    pid = keystone.pid()
    other = keystone_module.Keystone(base=keystone.base, port=free_port(),
                                     freezer_port=keystone.freezer_port)
    url = other.start()
    assert url != first and other.status()
    assert other.pid() != pid and not base.alive(pid)
    assert not base.port_in_use(keystone.port)
    # Without a port asked for, status and environment follow it; the
    # catalog's identity endpoints moved with it.
    follower = keystone_module.Keystone(base=keystone.base)
    assert follower.status()
    assert follower.environment()["KEYSTONE_URL"] == url
    _, answer = token(url, "bob", "secret-bob", "freezer-b")
    identity = [s for s in answer["token"]["catalog"]
                if s["type"] == "identity"][0]
    assert {e["url"] for e in identity["endpoints"]} == {url}


def test_restarts_one_that_does_not_answer(keystone):
    keystone.start()
    pid = keystone.pid()
    workers = [int(p) for p in os.listdir("/proc")
               if p.isdigit() and _parent(int(p)) == pid]
    assert workers, "no gunicorn worker under %d" % pid
    for worker in workers:
        os.kill(worker, signal.SIGSTOP)
    try:
        assert not base.http_ok(keystone.url())
        assert keystone.start() == keystone.url()
    finally:
        for worker in workers:
            try:
                os.kill(worker, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert keystone.pid() != pid and not base.alive(pid)
    assert keystone.status()


def _parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_a_foreign_server_on_the_port_is_an_error(keystone):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = keystone_module.Keystone(
            base=keystone.base, port=sock.getsockname()[1])
        with pytest.raises(base.ServiceError,
                           match="another process listens"):
            taken.start()
        assert not taken.running()
