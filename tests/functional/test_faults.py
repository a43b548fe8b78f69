"""Faults injected into a real server (gunicorn; 2 workers for the
database and SIGKILL tests, 1 for the Keystone one) under load:

* the database stopped mid-load: requests get 503 with Retry-After and a
  JSON body, never a 500, and the server recovers by itself once the
  database is back (no restart);
* SIGKILL of gunicorn workers, then of the master, during a concurrent
  write load: the master's workers stop within 2 s of it and free the
  port, a restart on the same port comes up at once, every acknowledged
  write is there, every session and its jobs agree, and each session
  round (a start retried until answered, then an end) bumped the
  session's tag exactly once;
* Keystone stopped while the server runs (auth_token reaches it through a
  relay this test stops): 503, not 401, then recovery without a restart.

The search engine stopped mid-load (SIGTERM, then SIGKILL, of a private
OpenSearch node) is tests/functional/test_search_outage.py; two servers
on a 3-node OpenSearch cluster whose nodes die, and on a PostgreSQL
restart, are tests/functional/test_cluster.py (with this module's Agent).

PostgreSQL here is a private server (tools/testenv/sql.py, in a state
directory and on a port of its own), never the one the rest of the
suite shares: these tests stop it. Waits are bounded; the only times
asserted are the master-kill bounds above (2 s for the orphaned workers,
5 s for the restart), which are the behaviour under test.
"""

import json
import os
import random
import socket
import threading
import time
import urllib.parse

import pytest
import requests
import sqlalchemy

from tests.functional import keystone_support as ks
from tests.functional import server as server_module

PROJECT = "proj-faults"
HEADERS = {"X-User-Id": "agent", "X-Project-Id": PROJECT,
           "X-Roles": "member,reader", "Accept": "application/json"}
ACKNOWLEDGED = (200, 201, 202, 204)
WAIT = 90  # seconds: the bound of every wait for a condition


def _wait_for(condition, what, timeout=WAIT, required=True):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            if required:
                pytest.fail("gave up waiting for " + what)
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def private_postgres():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = os.path.join(server_module.REPO, ".data", "testenv-faults",
                        worker)
    os.makedirs(base, exist_ok=True)
    postgres = server_module.private_postgres(base)
    postgres.start()
    yield postgres
    postgres.stop()


def _database(backend, directory, postgres):
    if backend == "sqlite":
        return server_module.database("sqlite", directory)
    postgres.start()  # (a no-op when it runs)
    return server_module.database("postgresql", directory,
                                  base_url=postgres.url())


def drop_after_restart(postgres, drop):
    """Drop a test's database on ``postgres``, which it stopped."""
    postgres.start()  # (a no-op when it runs)
    try:
        drop()
    except sqlalchemy.exc.OperationalError:
        drop()  # its pooled connection died with the server: anew


class Client:
    """HTTP to whichever server is current (the base URL changes when the
    server is restarted on another port)."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.local = threading.local()

    def request(self, method, path, **kwargs):
        http = getattr(self.local, "http", None)
        if http is None:
            http = self.local.http = requests.Session()
            http.headers.update(HEADERS)
        kwargs.setdefault("timeout", 30)
        return http.request(method, "%s/v2/%s%s" % (
            self.base_url, PROJECT, path), **kwargs)


# -- the database stopped mid-load ---------------------------------------
@pytest.mark.slow
def test_database_outage_is_503_with_retry_after_and_heals(
        private_postgres, tmp_path):
    url, drop = _database("postgresql", tmp_path, private_postgres)
    server = server_module.Server(tmp_path, url).start()
    client = Client(server.base_url)
    answers, created, stop = [], [], threading.Event()

    def load(n):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 2:
                    result = client.request("POST", "/actions", json={
                        "action_id": "a%d-%d" % (n, i),
                        "freezer_action": {"action": "backup"}})
                else:
                    result = client.request("GET", "/actions?limit=5")
            except requests.RequestException as exc:
                answers.append((None, repr(exc), {}))
                continue
            answers.append((result.status_code, result.text,
                            result.headers))
            if result.status_code == 201:
                created.append(result.json()["action_id"])

    def count(status):
        return sum(1 for answer in answers if answer[0] == status)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(created) >= 20, "writes before the outage")
        master = server.proc.pid
        private_postgres.stop()
        _wait_for(lambda: count(503) >= 20, "503s during the outage")
        health = requests.get(server.base_url + "/healthcheck", timeout=30)
        assert health.status_code == 503
        assert health.headers["Retry-After"].isdigit()
        before = len(created)
        private_postgres.start()
        _wait_for(lambda: len(created) >= before + 20,
                  "writes after the database came back")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    try:
        # The same processes served it all: it healed, nobody restarted it.
        assert server.proc.poll() is None and server.proc.pid == master
        assert requests.get(server.base_url + "/healthcheck",
                            timeout=30).status_code == 200
        unexpected = [a for a in answers if a[0] not in (200, 201, 503)]
        assert not unexpected, unexpected[:5]
        for status, text, headers in answers:
            if status == 503:
                assert headers["Retry-After"].isdigit(), headers
                assert headers["Content-Type"] == "application/json"
                assert set(json.loads(text)) == {"title", "description"}
        # Every acknowledged write survived the outage.
        stored = set()
        offset = 0
        while True:
            page = client.request("GET", "/actions?limit=1000&offset=%d"
                                  % offset).json()["actions"]
            stored.update(a["action_id"] for a in page)
            if len(page) < 1000:
                break
            offset += 1000
        assert set(created) <= stored
        assert "Traceback" not in server.log_tail(10 ** 7)
    finally:
        server.stop()
        drop_after_restart(private_postgres, drop)


# -- SIGKILL under a concurrent write load -------------------------------
class Agent(threading.Thread):
    """Works on jobs and sessions of its own, and knows what state each
    must end in: a write whose answer was lost (connection reset by a
    killed process, 5xx) is retried until it is acknowledged, and every
    write used here is idempotent, so the expected state is exact."""

    def __init__(self, name, client, client_id, stop, acks):
        super().__init__(name=name)
        self.client, self.client_id = client, client_id
        self.stop, self.acks = stop, acks
        self.jobs = {}      # job_id -> expected session_id ("" for none)
        self.deleted = set()
        self.texts = {}     # job_id -> expected description
        self.sessions = set()
        self.tags = {}      # session_id -> expected session_tag (None:
        #                     unknown, a start went unanswered)
        self.errors = []
        self.failures = []  # (time, method, path, status or None, headers,
        #                     text) of each 5xx or cut attempt
        self.cut = 0        # requests whose answer was lost
        self.rng = random.Random(name)

    pause = 0.05  # seconds between two attempts of a request

    def _call(self, method, path, ok, body=None, retry=True):
        deadline = time.monotonic() + WAIT
        while True:
            try:
                result = self.client.request(method, path, json=body)
                if result.status_code in ok:
                    self.acks.append(time.monotonic())
                    return result
                if result.status_code < 500:
                    self.errors.append((method, path, result.status_code,
                                        result.text))
                    return None
                self.failures.append((time.monotonic(), method, path,
                                      result.status_code, result.headers,
                                      result.text))
            except requests.RequestException as exc:
                self.cut += 1  # the process answering it was killed
                self.failures.append((time.monotonic(), method, path, None,
                                      {}, repr(exc)))
            if not retry or time.monotonic() > deadline:
                return None
            time.sleep(self.pause)

    def _round(self, session_id, job_id):
        """One run of the session: its job starts, which bumps the
        session's tag exactly once however often the start is retried (a
        start repeated with the old tag is out of sync and changes
        nothing), then ends with the new tag (idempotent too)."""
        tag = self.tags.get(session_id, 0)
        if tag is None:
            return
        path = "/sessions/%s/action" % session_id
        started = self._call("POST", path, (202,), {"start": {
            "job_id": job_id, "current_tag": tag}})
        if started is None:
            self.tags[session_id] = None  # applied or not: unknown
            return
        self.tags[session_id] = tag + 1
        answer = started.json()
        if answer != {"result": "success", "session_tag": tag + 1} and \
                answer != {"result": "out-of-sync", "session_tag": tag + 1}:
            self.errors.append(("POST", path, "start", answer))
        self._call("POST", path, (202,), {"end": {
            "job_id": job_id, "result": "success", "current_tag": tag + 1}})

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            session_id = "%s-s%d" % (self.name, n)
            # Created with the id we chose: a retry after a lost answer
            # finds it created (409) or creates it (201).
            # (hold_off -1: no window, so every round's start bumps the
            # tag; see _round.)
            if self._call("POST", "/sessions", (201, 409), {
                    "session_id": session_id, "hold_off": -1,
                    "schedule": {"schedule_interval": "1 days"}}):
                self.sessions.add(session_id)
            members = []
            for k in range(3):
                job_id = "%s-j%d-%d" % (self.name, n, k)
                if not self._call("POST", "/jobs", (201, 409), {
                        "job_id": job_id, "client_id": self.client_id,
                        "description": "new", "job_actions": [
                            {"freezer_action": {"action": "backup"}}]}):
                    continue
                self.jobs[job_id], self.texts[job_id] = "", "new"
                if self._call("PUT", "/sessions/%s/jobs/%s" % (
                        session_id, job_id), (204,)):
                    self.jobs[job_id] = session_id
                    members.append(job_id)
            for job_id in members:
                text = "v%d" % self.rng.randrange(10 ** 6)
                if self._call("PATCH", "/jobs/" + job_id, (200,),
                              {"description": text}):
                    self.texts[job_id] = text
            if members:
                for _ in range(2):
                    self._round(session_id, members[0])
            if len(members) > 1:
                # Out of the session, then deleted.
                gone, moved = members[1], members[-1]
                if self._call("DELETE", "/sessions/%s/jobs/%s" % (
                        session_id, moved), (204,)):
                    self.jobs[moved] = ""
                if self._call("DELETE", "/jobs/" + gone, (204, 404)):
                    self.deleted.add(gone)
                    del self.jobs[gone]


def _until_refused(port, timeout):
    """Seconds until nothing accepts connections on ``port`` any more."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return time.monotonic() - began
        time.sleep(0.02)
    return timeout


def _all(client, kind):
    docs, offset = [], 0
    while True:
        page = client.request("GET", "/%s?limit=1000&offset=%d" % (
            kind, offset)).json()[kind]
        docs.extend(page)
        if len(page) < 1000:
            return docs
        offset += 1000


def _check_consistency(client, agents):
    jobs = {j["job_id"]: j for j in _all(client, "jobs")}
    sessions = {s["session_id"]: s for s in _all(client, "sessions")}
    # Every session/job pair agrees, both ways.
    for job_id, job in jobs.items():
        session_id = job.get("session_id")
        if session_id:
            assert session_id in sessions, (job_id, session_id)
            assert job_id in sessions[session_id]["jobs"], (job_id,
                                                            session_id)
    for session_id, session in sessions.items():
        assert isinstance(session["jobs"], dict)
        for job_id in session["jobs"]:
            assert job_id in jobs, (session_id, job_id)
            assert jobs[job_id]["session_id"] == session_id, (
                session_id, job_id, jobs[job_id]["session_id"])
    # Every acknowledged write is there.
    for agent in agents:
        assert agent.sessions <= set(sessions), agent.name
        for job_id, session_id in agent.jobs.items():
            assert job_id in jobs, (agent.name, job_id)
            assert jobs[job_id]["session_id"] == session_id, (
                job_id, session_id, jobs[job_id]["session_id"])
            assert jobs[job_id]["description"] == agent.texts[job_id]
        assert not agent.deleted & set(jobs), agent.name
        # Each round bumped its session's tag exactly once.
        for session_id, tag in agent.tags.items():
            if tag is not None:
                assert sessions[session_id]["session_tag"] == tag, (
                    session_id, sessions[session_id]["session_tag"], tag)
    return len(jobs), len(sessions)


@pytest.mark.slow
@pytest.mark.alone
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_of_workers_and_master_loses_no_acknowledged_write(
        backend, private_postgres, tmp_path, request):
    url, drop = _database(backend, tmp_path, private_postgres)
    request.addfinalizer(drop)
    server = server_module.Server(tmp_path, url).start()
    # Stopped whatever fails, even an assertion on the restart (a server
    # left running would load the tests after this one).
    request.addfinalizer(server.stop)
    client = Client(server.base_url)
    client_id = PROJECT + "_faults-host"
    assert client.request("POST", "/clients", json={
        "client_id": client_id, "hostname": "faults-host"}).status_code == 201
    stop, acks = threading.Event(), []
    agents = [Agent("agent%d" % n, client, client_id, stop, acks)
              for n in range(4)]
    killed = []
    try:
        for agent in agents:
            agent.start()
        for _ in range(2):
            mark = len(acks)
            _wait_for(lambda: len(acks) >= mark + 40, "writes")
            _wait_for(lambda: len(server.worker_pids()) == 2, "2 workers")
            victim = random.Random(len(killed)).choice(server.worker_pids())
            os.kill(victim, 9)
            killed.append(victim)
        mark = len(acks)
        _wait_for(lambda: len(acks) >= mark + 40, "writes")
        # The master now. Its workers notice at once (the kernel signals
        # them when their parent dies; they also look twice a second),
        # stop serving and release the port within 2 s, then exit; a new
        # server starts on the same port straight away.
        server.kill_master()
        killed_at = time.monotonic()
        served_for = _until_refused(server.port, timeout=10)
        server.wait_workers_gone(timeout=10)
        orphans_lasted = time.monotonic() - killed_at
        assert not server.group_pids(), "orphaned workers still run"
        assert served_for < 2, served_for
        mark = len(acks)
        restart_began = time.monotonic()
        server.start()
        restart_took = time.monotonic() - restart_began
        assert restart_took < 5, restart_took
        print("\nmaster SIGKILL: the port refused connections after %.2f s, "
              "the workers were gone after %.2f s; a restart on the same "
              "port answered after %.2f s"
              % (served_for, orphans_lasted, restart_took))
        _wait_for(lambda: len(acks) >= mark + 40, "writes after restart")
    finally:
        stop.set()
        for agent in agents:
            agent.join()
    errors = [e for agent in agents for e in agent.errors]
    assert not errors, errors[:5]
    jobs, sessions = _check_consistency(client, agents)
    assert jobs and sessions
    assert len(killed) == 2
    # The kills did cut requests short (else nothing was tested).
    assert sum(agent.cut for agent in agents) > 0


# -- Keystone stopped while the server runs ------------------------------
class Relay:
    """A TCP relay to the suite's Keystone that this test can stop and
    start again. freezer-api reaches Keystone only through it (it is the
    server's HTTP proxy: Keystone's gunicorn takes the absolute URIs a
    proxy is sent), so for freezer-api Keystone is gone while the other
    tests keep the real one."""

    def __init__(self, target):
        self.target = target
        self.port = server_module.free_port()
        self.listener = None
        self.open = []

    @property
    def url(self):
        return "http://127.0.0.1:%d/v3" % self.port

    def start(self):
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,),
                         daemon=True).start()

    def stop(self):
        """Refuse new connections and cut the open ones."""
        try:
            # (close() alone would not wake the thread blocked in accept,
            # and the socket would go on listening.)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in list(self.open):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.open.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.open.extend((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.slow
def test_keystone_stopped_is_503_not_401_and_heals(tmp_path):
    """keystonemiddleware validates every token (no cache) through a
    Keystone that stops while the server runs: 503 with Retry-After (not
    401), then, once Keystone is back, the same server answers again."""
    keystone = ks.require_keystone()
    target = urllib.parse.urlsplit(keystone.url)
    relay = Relay((target.hostname, target.port))
    relay.start()
    proxy = "http://127.0.0.1:%d" % relay.port
    server = server_module.Server(
        tmp_path, "sqlite:///%s" % (tmp_path / "freezer.sqlite"), workers=1,
        auth_strategy="keystone", extra_conf="\n" + keystone.authtoken_conf(
            token_cache_time=-1),
        env={"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "",
             "NO_PROXY": ""}).start()
    try:
        alice = keystone.user("alice")
        url = "%s/v2/%s/jobs" % (server.base_url, alice.project_id)

        def get(token):
            return requests.get(url, timeout=60, headers={
                "X-Auth-Token": token, "Accept": "application/json"})
        assert get(keystone.new_token("alice")).status_code == 200
        token = keystone.new_token("alice")  # issued while Keystone is up
        relay.stop()
        for attempt in (token, token, keystone.new_token("alice")):
            down = get(attempt)
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"].isdigit()
            assert down.headers["Content-Type"] == "application/json"
            assert set(down.json()) == {"title", "description"}
        relay.start()
        assert get(token).status_code == 200
        assert get(keystone.new_token("alice")).status_code == 200
    finally:
        server.stop()
        relay.stop()
