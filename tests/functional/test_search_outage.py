"""The search engine stopped mid-load, against the real server (gunicorn,
2 workers, ``[storage] driver = elasticsearch``):

* a private OpenSearch node (tools/testenv/search.py, in a state
  directory and on an HTTP port of its own, any free transport port;
  never the node the rest of the suite shares) is stopped twice while
  threads create clients, sessions and jobs, put jobs in sessions, start
  sessions, patch jobs and read lists and documents: first with SIGTERM
  (the script's ``stop``), then with SIGKILL;
* while it is down, every request is answered 503 with Retry-After and a
  JSON ``{"title", "description"}`` body, ``/healthcheck`` too; at no time
  is any answer a 500, another 5xx, a 4xx or a cut connection;
* once the node is back (same data directory, same port), the same
  gunicorn master and workers serve writes again by themselves: nobody
  restarts them;
* every acknowledged write is there, and every session and its jobs agree
  (a job naming a session is among that session's jobs, and back), except
  where a join was cut by the SIGKILL of the node: the job and the session
  are two documents, which a killed engine may keep one of (the documented
  limit of the driver's guarantee, doc/elasticsearch.rst);
* the server's log holds no traceback (the client's failed attempts to
  reach the node are debug lines without one).

Waits are bounded; nothing is asserted about how long anything takes.
"""

import json
import os
import threading
import time

import pytest
import requests

from tests.functional import server as server_module

PROJECT = "proj-search-outage"
HEADERS = {"X-User-Id": "agent", "X-Project-Id": PROJECT,
           "X-Roles": "member,reader", "Accept": "application/json"}
ACKNOWLEDGED = (200, 201, 202, 204)
WAIT = 90      # seconds: the bound of every wait for a condition
THREADS = 4
WRITES = 30    # acknowledged writes to see before each outage and after
HOST = PROJECT + "_outage-host"  # a client registered before the load


def _wait_for(condition, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("gave up waiting for " + what)
        time.sleep(0.1)


@pytest.fixture
def private_node():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    node = server_module.private_opensearch(os.path.join(
        server_module.REPO, ".data", "testenv-search-outage", worker))
    node.wipe()  # a node an interrupted run left behind, and its data
    try:
        node.start()
        yield node
    finally:
        node.stop()


class Load:
    """What every thread shares: the phase of the test when each request
    was sent and answered, every answer, the acknowledged writes."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.phase = "up"
        self.answers = []  # (sent, received, method, path, status, headers,
        #                     text)
        self.acks = []     # (phase, method, path) of each 2xx write
        self.stop = threading.Event()

    def acks_in(self, phase):
        return sum(1 for ack in self.acks if ack[0] == phase)

    def answers_in(self, phase):
        return [a for a in self.answers if a[0] == a[1] == phase]


class Worker(threading.Thread):
    """Creates and changes documents of its own (no two threads touch the
    same one, so nothing but the outage can refuse a write), and keeps
    what each must be: a write answered 2xx fixes it, a write answered
    otherwise leaves it either way."""

    def __init__(self, name, load):
        super().__init__(name=name)
        self.load = load
        self.http = requests.Session()
        self.http.headers.update(HEADERS)
        self.clients, self.sessions = set(), set()
        self.texts = {}     # job_id -> possible descriptions
        self.members = {}   # job_id -> possible session ids ("" for none)
        # Jobs whose joining a session was cut by the SIGKILL of the node:
        # the job and the session are two documents, written by one bulk
        # request, and an engine killed while applying it may keep one
        # write and lose the other (doc/elasticsearch.rst, "Several
        # writes at once").
        self.torn = set()
        self.crashed = None

    def call(self, method, path, body=None):
        """True if the request was acknowledged; ``self.last`` holds the
        phases it was sent and answered in."""
        sent = self.load.phase
        self.last = (sent, sent)
        try:
            answer = self.http.request(
                method, "%s/v2/%s%s" % (self.load.base_url, PROJECT, path),
                json=body, timeout=60)
        except requests.RequestException as exc:
            self.load.answers.append((sent, self.load.phase, method, path,
                                      None, {}, repr(exc)))
            return False
        self.last = (sent, self.load.phase)
        self.load.answers.append((sent, self.load.phase, method, path,
                                  answer.status_code, answer.headers,
                                  answer.text))
        if answer.status_code not in ACKNOWLEDGED:
            if answer.status_code == 503:
                # A pause, as a client honouring Retry-After would (but
                # shorter): leave the CPU to the node starting again.
                time.sleep(0.1)
            return False
        if method != "GET":
            self.load.acks.append((sent, method, path))
        return True

    def run(self):
        try:
            self._run()
        except Exception as exc:  # reported by the test, not lost
            self.crashed = repr(exc)

    def _run(self):
        n = 0
        while not self.load.stop.is_set():
            n += 1
            client_id = "%s_%s-c%d" % (PROJECT, self.name, n)
            if self.call("POST", "/clients", {"client_id": client_id,
                                              "hostname": self.name}):
                self.clients.add(client_id)
            session_id = "%s-s%d" % (self.name, n)
            if self.call("POST", "/sessions", {
                    "session_id": session_id, "hold_off": 0,
                    "schedule": {"schedule_interval": "1 days"}}):
                self.sessions.add(session_id)
            jobs, joined = [], []
            # (A job names a registered client, else 422.)
            owner = client_id if client_id in self.clients else HOST
            for k in range(2):
                job_id = "%s-j%d-%d" % (self.name, n, k)
                if not self.call("POST", "/jobs", {
                        "job_id": job_id, "client_id": owner,
                        "description": "new", "job_actions": [
                            {"freezer_action": {"action": "backup"}}]}):
                    continue
                jobs.append(job_id)
                self.texts[job_id], self.members[job_id] = {"new"}, {""}
                if session_id not in self.sessions:
                    continue
                if self.call("PUT", "/sessions/%s/jobs/%s" % (session_id,
                                                              job_id)):
                    self.members[job_id] = {session_id}
                    joined.append(job_id)
                else:
                    self.members[job_id].add(session_id)
                    if any(phase in ("stopping-sigkill", "down-sigkill")
                           for phase in self.last):
                        self.torn.add(job_id)
            for job_id in jobs:
                text = "v%d-%s" % (n, job_id)
                if self.call("PATCH", "/jobs/" + job_id,
                             {"description": text}):
                    self.texts[job_id] = {text}
                else:
                    self.texts[job_id].add(text)
            if joined:
                self.call("POST", "/sessions/%s/action" % session_id,
                          {"start": {"job_id": joined[0],
                                     "current_tag": 0}})
            # Reads: documents known to exist, and lists.
            for job_id in jobs[:1]:
                self.call("GET", "/jobs/" + job_id)
            if session_id in self.sessions:
                self.call("GET", "/sessions/" + session_id)
                self.call("GET", "/jobs?session_id=" + session_id)
            if client_id in self.clients:
                self.call("GET", "/clients/" + client_id)
            for kind in ("jobs", "sessions", "clients"):
                self.call("GET", "/%s?limit=5&offset=%d" % (kind, n % 7))


def _all(http, base_url, kind):
    docs, offset = [], 0
    while True:
        answer = http.get("%s/v2/%s/%s?limit=1000&offset=%d" % (
            base_url, PROJECT, kind, offset), timeout=60)
        assert answer.status_code == 200, answer.text
        page = answer.json()[kind]
        docs.extend(page)
        if len(page) < 1000:
            return docs
        offset += 1000


def _check_stored(base_url, workers):
    """Every acknowledged write is there; sessions and jobs agree."""
    http = requests.Session()
    http.headers.update(HEADERS)
    jobs = {j["job_id"]: j for j in _all(http, base_url, "jobs")}
    sessions = {s["session_id"]: s for s in _all(http, base_url, "sessions")}
    clients = {c["client_id"] for c in _all(http, base_url, "clients")}
    torn = set().union(*(worker.torn for worker in workers))
    disagree = set()
    for job_id, job in jobs.items():
        session_id = job.get("session_id")
        if session_id and (session_id not in sessions or
                           job_id not in sessions[session_id]["jobs"]):
            disagree.add(job_id)
    for session_id, session in sessions.items():
        for job_id in session.get("jobs") or {}:
            if job_id not in jobs or \
                    jobs[job_id].get("session_id") != session_id:
                disagree.add(job_id)
    # Only a join the engine's SIGKILL cut may have left its two
    # documents apart; every other session and its jobs agree.
    assert disagree <= torn, sorted(disagree - torn)
    if disagree:
        print("search outage: %d session joins torn by the SIGKILL of the "
              "node: %s" % (len(disagree), sorted(disagree)))
    for worker in workers:
        assert worker.clients <= clients, worker.name
        assert worker.sessions <= set(sessions), worker.name
        for job_id, texts in worker.texts.items():
            assert job_id in jobs, (worker.name, job_id)
            assert jobs[job_id]["description"] in texts, (
                job_id, jobs[job_id]["description"], texts)
            assert (jobs[job_id].get("session_id") or "") in \
                worker.members[job_id], (job_id, jobs[job_id].get(
                    "session_id"), worker.members[job_id])
    return len(jobs), len(sessions), len(clients)


def _assert_error_body(headers, text, what):
    assert headers.get("Retry-After", "").isdigit(), (what, headers)
    assert headers.get("Content-Type") == "application/json", (
        what, headers)
    body = json.loads(text)
    assert set(body) == {"title", "description"}, (what, body)


@pytest.mark.slow
def test_search_engine_outage_is_503_with_retry_after_and_heals(
        private_node, tmp_path):
    server = server_module.Server(
        tmp_path, "sqlite:///%s" % (tmp_path / "unused.sqlite"),
        extra_conf="\n[storage]\ndriver = elasticsearch\n\n"
        "[elasticsearch]\nhosts = %s\nindex_prefix = freezer-outage\n"
        "refresh_interval = 50ms\n" % private_node.url())
    server.start()
    try:
        _run_and_check(server, private_node)
    finally:
        server.stop()


def _run_and_check(server, node):
    load = Load(server.base_url)
    workers = [Worker("t%d" % n, load) for n in range(THREADS)]
    healthchecks = {}
    _wait_for(lambda: len(server.worker_pids()) == 2, "2 workers")
    master, pids = server.proc.pid, sorted(server.worker_pids())
    assert requests.post(
        "%s/v2/%s/clients" % (server.base_url, PROJECT), headers=HEADERS,
        json={"client_id": HOST, "hostname": "outage-host"},
        timeout=60).status_code == 201
    try:
        for worker in workers:
            worker.start()
        previous = "up"
        for how, stop in (("sigterm", node.stop), ("sigkill", node.kill)):
            _wait_for(lambda: load.acks_in(previous) >= WRITES,
                      "writes before the %s outage" % how)
            load.phase = "stopping-" + how
            stop()
            down = load.phase = "down-" + how
            _wait_for(lambda: len(load.answers_in(down)) >= 20,
                      "answers during the %s outage" % how)
            health = requests.get(server.base_url + "/healthcheck",
                                  timeout=60)
            healthchecks[how] = (health.status_code, health.headers,
                                 health.text)
            load.phase = "starting-" + how
            node.start()  # the same data directory and port
            previous = load.phase = "back-" + how
            _wait_for(lambda: load.acks_in(previous) >= WRITES,
                      "writes after the %s outage" % how)
    finally:
        load.stop.set()
        for worker in workers:
            worker.join()
    for worker in workers:
        assert worker.crashed is None, (worker.name, worker.crashed)
    # It healed by itself: the same processes served it all.
    assert server.proc.poll() is None and server.proc.pid == master
    assert sorted(server.worker_pids()) == pids
    assert requests.get(server.base_url + "/healthcheck",
                        timeout=60).status_code == 200
    for how, (status, headers, text) in healthchecks.items():
        assert status == 503, (how, status, text)
        _assert_error_body(headers, text, "/healthcheck")
    # While down, only 503; at any time, only 2xx or 503.
    for sent, received, method, path, status, headers, text in \
            load.answers:
        what = (sent, received, method, path, status, text[:300])
        if sent == received and sent.startswith("down-"):
            assert status == 503, what
        assert status in ACKNOWLEDGED or status == 503, what
        if status == 503:
            _assert_error_body(headers, text, what)
    jobs, sessions, clients = _check_stored(server.base_url, workers)
    log = server.log_tail(10 ** 7)
    assert "Traceback" not in log
    assert "WORKER TIMEOUT" not in log
    print("search outage: %d requests, %d answered 503 (%d of them sent "
          "and answered while the node was down), %d acknowledged writes; "
          "stored %d jobs, %d sessions, %d clients" % (
              len(load.answers),
              sum(1 for answer in load.answers if answer[4] == 503),
              sum(len(load.answers_in("down-" + how))
                  for how in ("sigterm", "sigkill")),
              len(load.acks), jobs, sessions, clients))
