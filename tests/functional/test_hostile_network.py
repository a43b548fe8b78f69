"""The real server (``freezer-api``: gunicorn's master with
freezer_api.worker's workers, 2 of them, the defaults of [api] but a
``client_timeout`` of 5 s) against what a hostile network sends, over
loopback sockets, on SQLite and PostgreSQL:

* 200 slowloris connections (a header byte a second each, reconnecting
  when cut) for 14 s while an agent polls: none of its polls fails and
  their p99 stays under 100 ms; meanwhile a request whose body stalls gets
  408 JSON within ``client_timeout`` and stores nothing. (The default of
  15 s is the same code with another number; test_deploy.py's slow
  clients meet it, through the shipped etc/gunicorn.conf.py.)
* a body over ``max_body_size`` written whole before the answer is read
  (no ``Expect: 100-continue``, as http.client and requests send it) gets
  the 413 JSON, not a broken pipe, also far over the limit;
* an encoded slash in a path is part of the id on the wire too, and a
  negative hold_off is taken (no hold-off window).

Every loop here is bounded in time and count and talks to 127.0.0.1 only.
"""

import http.client
import json
import selectors
import socket
import threading
import time

import pytest
import requests

from tests.functional import server as server_module

SLOW_CONNECTIONS = 200
ATTACK_SECONDS = 14
HEADERS = {"X-User-Id": "netuser", "X-Project-Id": "netproj",
           "X-Roles": "member", "Content-Type": "application/json"}
CLIENT_TIMEOUT = 5  # [api] client_timeout here (the default is 15)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-net")
    url, drop = server_module.database(request.param, tmp)
    process = server_module.Server(
        tmp, url, extra_conf="client_timeout = %d\n" % CLIENT_TIMEOUT).start()
    yield process
    process.stop()
    drop()


def _host_port(server):
    return "127.0.0.1", server.port


class Slowloris(threading.Thread):
    """``count`` connections that each send a request's head one byte a
    second and never finish it; one reopened whenever the server closes
    it. One thread, one selector: bounded by ``seconds``."""

    def __init__(self, address, count, seconds):
        super().__init__(daemon=True)
        self.address, self.count, self.seconds = address, count, seconds
        self.opened = self.cut = self.refused = 0
        self.answers = {}  # status line -> count

    def _open(self, selector):
        try:
            sock = socket.create_connection(self.address, timeout=5)
        except OSError:
            self.refused += 1
            return
        sock.setblocking(False)
        self.opened += 1
        try:
            sock.send(b"GET /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            pass
        selector.register(sock, selectors.EVENT_READ)

    def run(self):
        selector = selectors.DefaultSelector()
        for _ in range(self.count):
            self._open(selector)
        end = time.monotonic() + self.seconds
        next_byte = time.monotonic() + 1
        while time.monotonic() < end:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if data:
                    line = data.split(b"\r\n", 1)[0].decode("latin-1")
                    self.answers[line] = self.answers.get(line, 0) + 1
                selector.unregister(sock)
                sock.close()
                self.cut += 1
                self._open(selector)
            if time.monotonic() >= next_byte:
                next_byte += 1
                for key in list(selector.get_map().values()):
                    try:
                        key.fileobj.send(b"X")
                    except OSError:
                        pass
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()


def _stalled_body(address, result):
    """A PATCH announcing 200 bytes that sends 10 and waits: (status line,
    body, seconds until the answer)."""
    sock = socket.create_connection(address, timeout=CLIENT_TIMEOUT + 15)
    began = time.monotonic()
    head = "".join("%s: %s\r\n" % item for item in HEADERS.items())
    sock.sendall(("PATCH /v1/jobs/stalled-job HTTP/1.1\r\nHost: 127.0.0.1"
                  "\r\n%sContent-Length: 200\r\n\r\n" % head).encode()
                 + b'{"descrip')
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    except OSError as exc:
        answer += repr(exc).encode()
    result["took"] = time.monotonic() - began
    head, _, body = answer.partition(b"\r\n\r\n")
    result["status"] = head.split(b"\r\n", 1)[0].decode("latin-1")
    result["head"], result["body"] = head, body
    sock.close()


@pytest.mark.alone
def test_slowloris_and_a_stalled_body_starve_nothing(server):
    address = _host_port(server)
    base = server.base_url
    agent = requests.Session()
    agent.headers.update(HEADERS)
    client_id = "netproj_agent-host"
    assert agent.post(base + "/v1/clients", json={
        "client_id": client_id, "hostname": "agent-host"}).status_code == 201
    job = agent.post(base + "/v1/jobs", json={
        "client_id": client_id, "job_actions": [],
        "job_schedule": {"schedule_interval": "continuous"}})
    assert job.status_code == 201

    attack = Slowloris(address, SLOW_CONNECTIONS, ATTACK_SECONDS)
    attack.start()
    time.sleep(2)  # every slow connection is open and holding
    stalled = {}
    staller = threading.Thread(target=_stalled_body,
                               args=(address, stalled), daemon=True)
    staller.start()

    latencies, failures = [], []
    end = time.monotonic() + ATTACK_SECONDS - 4
    fresh = requests.Session()  # a new connection for each poll
    fresh.headers.update(HEADERS)
    n = 0
    while time.monotonic() < end:
        n += 1
        http_session = agent if n % 2 else fresh
        began = time.monotonic()
        try:
            poll = http_session.get(
                base + "/v1/jobs?limit=10&offset=0", timeout=10,
                json={"match": [{"client_id": client_id}]},
                headers={"Connection": "close"} if n % 2 == 0 else None)
            took = time.monotonic() - began
            if poll.status_code != 200 or len(poll.json()["jobs"]) != 1:
                failures.append((poll.status_code, poll.text[:200]))
            latencies.append(took)
        except requests.RequestException as exc:
            failures.append(repr(exc))
        time.sleep(0.05)
    staller.join(timeout=CLIENT_TIMEOUT + 20)
    attack.join(timeout=ATTACK_SECONDS + 10)

    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print("\nslowloris x%d for %d s: %d polls, p50 %.1f ms, p99 %.1f ms, "
          "max %.1f ms; slow connections opened %d, cut by the server %d "
          "(%s); stalled body answered %r after %.2f s" % (
              SLOW_CONNECTIONS, ATTACK_SECONDS, len(latencies), p50 * 1000,
              p99 * 1000, latencies[-1] * 1000, attack.opened, attack.cut,
              attack.answers, stalled.get("status"), stalled.get("took", -1)))
    assert not failures, failures[:5]
    assert len(latencies) > 100
    assert p99 < 0.100, p99
    assert attack.refused == 0
    # The slow ones were held, not refused: each was open until the
    # server cut it after client_timeout, with a 408.
    assert attack.opened >= SLOW_CONNECTIONS
    assert set(attack.answers) <= {"HTTP/1.0 408 Request Timeout",
                                   "HTTP/1.1 408 Request Timeout"}, \
        attack.answers
    # after client_timeout, all of them once
    assert attack.cut >= SLOW_CONNECTIONS
    # The stalled body: 408 JSON within the timeout (and the 1 s the
    # server takes to look), nothing stored.
    assert stalled["status"] == "HTTP/1.1 408 Request Timeout", stalled
    assert b"application/json" in stalled["head"].lower()
    assert set(json.loads(stalled["body"])) == {"title", "description"}
    assert CLIENT_TIMEOUT - 0.5 <= stalled["took"] <= CLIENT_TIMEOUT + 2.5
    assert agent.get(base + "/v1/jobs/stalled-job").status_code == 404


@pytest.mark.parametrize("size", [3 * 1024 * 1024, 20 * 1024 * 1024])
def test_a_body_over_the_limit_sent_whole_gets_its_413(server, size):
    """http.client writes the whole body before it reads: the answer is
    the 413 JSON, never a reset connection. 3 MiB is read and refused by
    the application; 20 MiB, past what the worker reads (16 x the limit),
    is refused by the worker, which reads and drops the rest for a while
    before it closes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                            timeout=30)
    body = b'{"description": "' + b"x" * size + b'"}'
    connection.request("POST", "/v1/actions", body=body, headers=HEADERS)
    answer = connection.getresponse()
    payload = answer.read()
    connection.close()
    assert answer.status == 413, payload[:300]
    assert answer.getheader("Content-Type").startswith("application/json")
    assert set(json.loads(payload)) == {"title", "description"}
    listed = requests.get(server.base_url + "/v1/actions", headers=HEADERS)
    assert listed.json()["actions"] == []


def _session_of_jobs(server, prefix, host, jobs, **session):
    """A client, a session (``session``: its fields) and ``jobs`` jobs of
    that client in it: (HTTP session, base URL, session id, job ids)."""
    base = server.base_url + prefix
    http_session = requests.Session()
    http_session.headers.update(HEADERS)
    client_id = "netproj_" + host
    http_session.post(base + "/clients", json={"client_id": client_id,
                                               "hostname": host})
    created = http_session.post(base + "/sessions",
                                json=dict({"schedule": {}}, **session))
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    job_ids = []
    for _ in range(jobs):
        job_id = http_session.post(base + "/jobs", json={
            "client_id": client_id, "job_actions": []}).json()["job_id"]
        assert http_session.put("%s/sessions/%s/jobs/%s" % (
            base, session_id, job_id)).status_code == 204
        job_ids.append(job_id)
    return http_session, base, session_id, job_ids


def test_an_encoded_slash_stays_in_the_id_on_the_wire(server):
    http_session, base, session_id, (job_id,) = _session_of_jobs(
        server, "/v1", "slash-host", 1)
    gone = http_session.delete("%s/sessions/%s%%2Fjobs%%2F%s" % (
        base, session_id, job_id))
    assert gone.status_code == 404, gone.text
    assert set(gone.json()) == {"title", "description"}
    session = http_session.get("%s/sessions/%s" % (base, session_id)).json()
    assert list(session["jobs"]) == [job_id]
    assert http_session.get("%s/jobs/%s" % (base, job_id)).json()[
        "session_id"] == session_id


def test_a_negative_hold_off_over_the_wire(server):
    """Upstream accepted any integer: -1 is taken and means no window."""
    http_session, base, session_id, jobs = _session_of_jobs(
        server, "/v2/netproj", "hold-host", 2, hold_off=-1)
    assert http_session.get("%s/sessions/%s" % (base, session_id)).json()[
        "hold_off"] == -1
    answers = [http_session.post("%s/sessions/%s/action" % (
        base, session_id), json={"start": {"job_id": job_id,
                                           "current_tag": 0}}).json()
        for job_id in jobs]
    assert answers == [{"result": "success", "session_tag": 1},
                       {"result": "out-of-sync", "session_tag": 1}]
