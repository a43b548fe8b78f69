"""The benchmark's load generator with ``keep_alive``: one connection per
client for as long as the server keeps it, a new one when the server
closes it (gunicorn's sync workers close every one), over real loopback
sockets."""

import http.server
import threading

import pytest

from benchmarks import loadgen


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = []

    def setup(self):
        super().setup()
        self.connections.append(self.client_address)

    def do_GET(self):
        if self.path.endswith("/304"):
            self.send_response(304)
            self.send_header("ETag", '"1"')
            self.end_headers()
            return
        body = b'{"path": "%s"}' % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.path.endswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.connections = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(httpd, keep_alive):
    return loadgen.Client(httpd.server_address[1], "", {},
                          loadgen.Budget(100, 60), keep_alive)


def test_kept_alive_requests_share_one_connection(server):
    client = _client(server, keep_alive=True)
    for number in range(3):
        assert client.call("GET", "/a%d" % number).json() == {
            "path": "/a%d" % number}
    assert client.call("GET", "/304", expect=(304,)).body == b""
    assert client.call("GET", "/b").json() == {"path": "/b"}
    client.close()
    assert len(_Handler.connections) == 1


def test_a_connection_the_server_closes_is_replaced(server):
    client = _client(server, keep_alive=True)
    client.call("GET", "/close")
    client.call("GET", "/close")
    client.call("GET", "/c")
    client.close()
    assert len(_Handler.connections) == 2 + 1


def test_without_keep_alive_every_request_has_its_connection(server):
    client = _client(server, keep_alive=False)
    for number in range(3):
        assert client.call("GET", "/d%d" % number).json() == {
            "path": "/d%d" % number}
    assert len(_Handler.connections) == 3
