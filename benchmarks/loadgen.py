"""A small, bounded HTTP/1.1 load generator for loopback servers.

Each request opens a connection, sends pre-encoded bytes with
``Connection: close`` and reads the answer to the end (gunicorn's sync
workers close every connection anyway), so the client spends little CPU
of the two cores it shares with the server; or, with ``keep_alive``, sends
every request of a thread on one connection for as long as the server
keeps it open (a new one when it closed it). A phase runs a *script* in a
few threads until a deadline or a request budget, whichever comes first.
"""

import json
import socket
import threading
import time

LOOPBACK = "127.0.0.1"


class HTTPFailure(Exception):
    """An answer the script did not expect."""


class Answer:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def encode(method, path, body=None, headers=None, keep_alive=False):
    """The bytes of one request (``body``: a JSON-able value, or bytes)."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % LOOPBACK,
             "Accept: application/json"]
    if not keep_alive:
        lines.append("Connection: close")
    for name, value in (headers or {}).items():
        lines.append("%s: %s" % (name, value))
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return raw + (body or b"")


def _parse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body)


def exchange(port, raw, timeout=60):
    """Send ``raw`` to ``port`` on loopback; the whole answer."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return _parse(b"".join(chunks))


def _read_answer(sock):
    """One answer from a kept-alive connection: ``(Answer, closing)``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed before an answer")
        data += chunk
    answer = _parse(data)
    length = answer.headers.get("content-length")
    closing = answer.headers.get("connection", "").lower() == "close"
    if length is None and answer.status not in (204, 304):
        closing = True  # the body ends with the connection
        length = 1 << 62
    length = int(length or 0)
    body = answer.body
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    answer.body = body
    return answer, closing


class Client:
    """One thread's connections (with ``keep_alive``, one kept open while
    the server keeps it), timing every request."""

    def __init__(self, port, prefix, headers, budget, keep_alive=False):
        self.port, self.prefix, self.headers = port, prefix, headers
        self.budget, self.keep_alive = budget, keep_alive
        self.sock = None
        self.latencies = []

    def _exchange(self, raw):
        if not self.keep_alive:
            return exchange(self.port, raw)
        while True:
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection((LOOPBACK, self.port),
                                                     timeout=60)
            try:
                self.sock.sendall(raw)
                answer, closing = _read_answer(self.sock)
            except OSError:
                self.close()
                if fresh:
                    raise
                continue  # the server had closed the idle connection
            if closing:
                self.close()
            return answer

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def call(self, method, path, body=None, headers=None, expect=(200,)):
        all_headers = dict(self.headers, **(headers or {}))
        raw = encode(method, self.prefix + path, body, all_headers,
                     self.keep_alive)
        if not self.budget.take():
            raise Exhausted()
        started = time.perf_counter()
        answer = self._exchange(raw)
        self.latencies.append(time.perf_counter() - started)
        if answer.status not in expect:
            raise HTTPFailure("%s %s: %d %s" % (
                method, path, answer.status, answer.body[:300]))
        return answer


class Exhausted(Exception):
    """The phase's request budget or time is used up."""


class Budget:
    """At most ``requests`` requests, until ``seconds`` have passed."""

    def __init__(self, requests, seconds):
        self.left = requests
        self.deadline = time.monotonic() + seconds
        self.lock = threading.Lock()

    def take(self):
        if time.monotonic() > self.deadline:
            return False
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


class Result:
    def __init__(self, latencies, elapsed, errors):
        self.latencies = sorted(latencies)
        self.elapsed = elapsed
        self.errors = errors

    @property
    def requests(self):
        return len(self.latencies)

    @property
    def rate(self):
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p):
        if not self.latencies:
            return float("nan")
        index = min(len(self.latencies) - 1,
                    int(round(p / 100.0 * (len(self.latencies) - 1))))
        return self.latencies[index] * 1000.0


def run(port, prefix, headers, script, threads=4, seconds=3.0,
        requests=20000, keep_alive=False):
    """Run ``script(client, thread_index, iteration)`` in ``threads``
    threads until the budget is spent; a script may make several
    requests. Returns a Result (latencies of every request)."""
    budget = Budget(requests, seconds)
    clients = [Client(port, prefix, headers, budget, keep_alive)
               for _ in range(threads)]
    errors = []

    def loop(index):
        client, iteration = clients[index], 0
        try:
            while True:
                script(client, index, iteration)
                iteration += 1
        except Exhausted:
            pass
        except Exception as exc:  # reported, and ends this thread only
            errors.append("%s: %s" % (type(exc).__name__, exc))
        finally:
            client.close()

    workers = [threading.Thread(target=loop, args=(i,), daemon=True)
               for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 120)
    elapsed = time.perf_counter() - started
    latencies = [x for client in clients for x in client.latencies]
    return Result(latencies, elapsed, errors)
