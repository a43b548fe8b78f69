"""The search-engine driver's own HTTP connection, over real sockets.

A scripted server on 127.0.0.1 answers with exactly the bytes each test
chooses (chunked bodies, keep-alive, closed connections, truncated or slow
answers...). The last test runs against a real OpenSearch node when
``FREEZER_TEST_OPENSEARCH_URL`` names one.
"""

import base64
import logging
import os
import socket
import threading
import uuid

import opensearchpy
from opensearchpy import exceptions as os_exc
import pytest

from freezer_api.storage.elasticsearch import connection as es_conn
from freezer_api.storage.elasticsearch import driver as es_driver

JSON = b"content-type: application/json; charset=UTF-8\r\n"


# -- the scripted server ------------------------------------------------------
class Peer:
    """One accepted connection, seen from the server."""

    def __init__(self, server, sock):
        self.server = server
        self.sock = sock
        self.rfile = sock.makefile("rb")

    def request(self):
        """The next request as (request line, headers, body), or None at
        the end of the connection; recorded in ``server.requests``."""
        line = self.rfile.readline()
        if not line:
            return None
        headers = {}
        while (header := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            assert name.lower() not in headers, "header sent twice"
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        body = self.rfile.read(length)
        request = (line.decode("latin-1").rstrip("\r\n"), headers, body)
        self.server.requests.append(request)
        return request

    def send(self, data):
        self.sock.sendall(data)


class Server:
    """Accepts connections on 127.0.0.1 and runs ``script(peer)`` for each
    one in a thread, then closes it."""

    def __init__(self, script):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = []
        self.accepted = 0
        self.peers = []        # server side of each accepted connection
        self.clients = []      # Connection objects made by connection()
        self.errors = []       # exceptions raised by the script
        self.closed = threading.Event()   # set when a script ends
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:   # the listener was closed
                return
            self.accepted += 1
            self.peers.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,),
                                      daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock):
        try:
            self.script(Peer(self, sock))
        except OSError:
            pass
        except Exception as e:   # a failed assertion: fails the test
            self.errors.append(e)
        finally:
            sock.close()
            self.closed.set()

    def connection(self, cls=es_conn.Connection, **kwargs):
        conn = cls(host="127.0.0.1", port=self.port, **kwargs)
        self.clients.append(conn)
        return conn

    def stop(self):
        for conn in self.clients:
            conn.close()
        # shutdown() wakes up accept(); close() alone would not.
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self.peers:   # wake up scripts still reading
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(5)
        assert self.errors == []


@pytest.fixture
def serve():
    servers = []

    def start(script):
        server = Server(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def answer(status=200, body=b'{"ok":true}', headers=JSON, reason=b"OK"):
    """An HTTP/1.1 answer framed by Content-Length."""
    return (b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\n\r\n%s"
            % (status, reason, headers, len(body), body))


def keep_alive(*answers):
    """A script answering each request on the connection with the next of
    ``answers`` (bytes, or a function of the request returning bytes)."""
    def script(peer):
        for reply in answers:
            request = peer.request()
            if request is None:
                return
            peer.send(reply(request) if callable(reply) else reply)
        peer.request()   # wait until the client closes
    return script


def echo_path(peer):
    """Answer every request with its request line, kept alive."""
    while (request := peer.request()) is not None:
        peer.send(answer(body=b'{"line":"%s"}' % request[0].encode()))


# -- requests and answers -----------------------------------------------------
def test_request_is_one_write_of_head_and_body(serve):
    received = []

    def script(peer):
        received.append(peer.sock.recv(65536))
        peer.send(answer())

    server = serve(script)
    conn = server.connection()
    conn.perform_request("POST", "/i/_doc", params={"refresh": "true"},
                         body=b'{"a":1}')
    user_agent = conn._get_default_user_agent()
    assert received == [
        b"POST /i/_doc?refresh=true HTTP/1.1\r\n"
        b"host: 127.0.0.1:%d\r\n"
        b"content-type: application/json\r\n"
        b"user-agent: %s\r\n"
        b"content-length: 7\r\n\r\n"
        b'{"a":1}' % (server.port, user_agent.encode())]


def test_answer_status_headers_and_body(serve):
    body = b'{"hits":{"total":1}}'
    server = serve(keep_alive(answer(body=body, headers=JSON + (
        b"X-Elastic-Product: OpenSearch\r\nVary: a\r\nVary: b\r\n"))))
    conn = server.connection()
    status, headers, data = conn.perform_request("GET", "/i/_search")
    assert status == 200
    assert data == body
    assert headers == {"content-type": "application/json; charset=UTF-8",
                       "x-elastic-product": "OpenSearch",
                       "vary": "a, b", "content-length": str(len(body))}
    line, sent, sent_body = server.requests[0]
    assert line == "GET /i/_search HTTP/1.1"
    assert "content-length" not in sent and sent_body == b""
    assert sent["host"] == "127.0.0.1:%d" % server.port


def test_bodies_and_headers_sent(serve):
    server = serve(keep_alive(answer(), answer(), answer()))
    conn = server.connection(headers={"X-Custom": "1"}, opaque_id="op-1",
                             url_prefix="/es/")
    conn.perform_request("PUT", "/i", body='{"name":"ü\ud800"}')
    conn.perform_request("POST", "/i/_refresh")
    conn.perform_request("POST", "/_bulk", body=b"{}\n",
                         headers={"Content-Type": "application/x-ndjson"})
    (put_line, put, put_body), (_, post, post_body), (_, bulk, _) = (
        server.requests)
    assert put_line == "PUT /es/i HTTP/1.1"
    assert put_body == '{"name":"ü\ud800"}'.encode("utf-8", "surrogatepass")
    assert put["content-length"] == str(len(put_body))
    assert put["x-custom"] == "1" and put["x-opaque-id"] == "op-1"
    assert post["content-length"] == "0" and post_body == b""
    assert bulk["content-type"] == "application/x-ndjson"
    assert conn.headers["content-type"] == "application/json"


@pytest.mark.parametrize("auth", [("elastic", "pä:ss"), ["elastic", "pä:ss"],
                                  "elastic:pä:ss"])
def test_basic_auth_header(serve, auth):
    server = serve(keep_alive(answer()))
    server.connection(http_auth=auth).perform_request("GET", "/")
    token = base64.b64encode("elastic:pä:ss".encode()).decode()
    assert server.requests[0][1]["authorization"] == "Basic " + token


def test_line_break_in_a_header_is_refused(serve):
    server = serve(keep_alive())
    conn = server.connection()
    for value in ("a\r\nx-injected: 1", "a\rb", "a\nb"):
        with pytest.raises(ValueError):
            conn.perform_request("GET", "/", headers={"x-a": value})
    assert server.requests == []


def test_chunked_body_in_pieces_then_reuse(serve):
    def script(peer):
        peer.request()
        for piece in (b"HTTP/1.1 200 OK\r\n", JSON,
                      b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\n",
                      b'{"a":', b"\r\n", b"4\r\n1,\"b\r\n", b"3\r\n\":2\r\n",
                      b"1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n"):
            peer.send(piece)
            threading.Event().wait(0.01)
        peer.request()
        peer.send(answer(body=b'{"second":1}'))
        peer.request()

    server = serve(script)
    conn = server.connection()
    assert conn.perform_request("GET", "/")[2] == b'{"a":1,"b":2}'
    assert conn.perform_request("GET", "/")[2] == b'{"second":1}'
    assert server.accepted == 1


def test_body_until_the_end_of_the_connection(serve):
    def script(peer):
        peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\n" + JSON + b"\r\n" + b'{"a":1}')

    server = serve(script)
    conn = server.connection()
    assert conn.perform_request("GET", "/")[2] == b'{"a":1}'
    assert conn._idle == []


def test_head_has_no_body(serve):
    # Content-Length of a HEAD answer is what a GET would return: the next
    # answer follows at once on the same connection.
    server = serve(keep_alive(answer(body=b"x" * 50)[:-50], answer()))
    conn = server.connection()
    status, headers, data = conn.perform_request("HEAD", "/_alias/a")
    assert (status, headers["content-length"], data) == (200, "50", b"")
    assert conn.perform_request("GET", "/")[2] == b'{"ok":true}'
    assert server.accepted == 1


def test_no_content_and_text_answers(serve):
    server = serve(keep_alive(
        b"HTTP/1.1 204 No Content\r\n\r\n",
        answer(body="green ü\n".encode(), headers=b"content-type: "
               b"text/plain; charset=UTF-8\r\n")))
    conn = server.connection()
    assert conn.perform_request("DELETE", "/x")[::2] == (204, b"")
    # Only JSON stays bytes: a text answer is text, as with urllib3.
    assert conn.perform_request("GET", "/_cat/health")[2] == "green ü\n"


def test_interim_answer_is_skipped(serve):
    server = serve(keep_alive(
        b"HTTP/1.1 100 Continue\r\n\r\n" + answer(body=b'{"done":1}')))
    conn = server.connection()
    assert conn.perform_request("PUT", "/i", body=b"{}")[::2] == (
        200, b'{"done":1}')


def test_warning_headers_are_raised(serve):
    server = serve(keep_alive(answer(headers=JSON + (
        b'Warning: 299 OpenSearch-2 "first"\r\n'
        b'Warning: 299 OpenSearch-2 "second"\r\n'))))
    with pytest.warns(os_exc.OpenSearchWarning) as caught:
        server.connection().perform_request("GET", "/")
    assert [str(w.message) for w in caught] == ["first", "second"]


# -- keep-alive ---------------------------------------------------------------
def test_keep_alive_reuses_the_connection(serve):
    server = serve(echo_path)
    conn = server.connection()
    for path in ("/a", "/b", "/c"):
        assert conn.perform_request("GET", path)[2] == (
            b'{"line":"GET %s HTTP/1.1"}' % path.encode())
    assert server.accepted == 1 and len(conn._idle) == 1
    conn.close()
    assert conn._idle == []
    assert server.closed.wait(5)   # the server saw the end


@pytest.mark.parametrize("first", [
    answer(headers=JSON + b"Connection: close\r\n"),
    b"HTTP/1.0 200 OK\r\n" + JSON + b"content-length: 2\r\n\r\n{}",
])
def test_connection_not_kept_when_server_does_not(serve, first):
    server = serve(keep_alive(first, answer()))
    conn = server.connection()
    conn.perform_request("GET", "/")
    assert conn._idle == []
    assert conn.perform_request("GET", "/")[0] == 200
    assert server.accepted == 2


def test_idle_connection_closed_by_server_is_replaced(serve):
    def script(peer):
        peer.request()
        peer.send(answer(body=b'{"n":%d}' % server.accepted))
        # returning closes this connection while the client keeps it idle

    server = serve(script)
    conn = server.connection()
    assert conn.perform_request("GET", "/")[2] == b'{"n":1}'
    assert len(conn._idle) == 1
    assert server.closed.wait(5)
    assert conn.perform_request("GET", "/")[2] == b'{"n":2}'
    assert server.accepted == 2


def test_pool_is_bounded_and_shared_by_threads(serve):
    server = serve(echo_path)
    conn = server.connection(pool_maxsize=3)
    errors, barrier = [], threading.Barrier(8)

    def work(n):
        try:
            barrier.wait()
            for i in range(40):
                path = "/t%d/%d" % (n, i)
                status, _, data = conn.perform_request("GET", path)
                assert (status, data) == (
                    200, b'{"line":"GET %s HTTP/1.1"}' % path.encode())
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(server.requests) == 8 * 40
    assert 1 <= len(conn._idle) <= 3
    assert server.accepted < 8 * 40   # connections were reused


# -- failures -----------------------------------------------------------------
@pytest.mark.parametrize("status,error", [
    (404, os_exc.NotFoundError), (409, os_exc.ConflictError),
    (500, os_exc.TransportError), (400, os_exc.RequestError)])
def test_error_status_raises_its_exception(serve, status, error):
    body = b'{"error":{"type":"some_exception","reason":"r"},"status":%d}' % (
        status)
    server = serve(keep_alive(answer(status, body), answer(status, body)))
    conn = server.connection()
    with pytest.raises(error) as caught:
        conn.perform_request("GET", "/x")
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert caught.value.error == "some_exception"
    assert caught.value.info == {"error": {"type": "some_exception",
                                           "reason": "r"}, "status": status}
    # The connection stays usable; an ignored status is an answer.
    assert conn.perform_request("GET", "/x", ignore=(status,))[::2] == (
        status, body)
    assert server.accepted == 1


def test_error_status_with_text_body(serve):
    server = serve(keep_alive(answer(503, b"busy", b"content-type: "
                                     b"text/plain\r\n", b"Unavailable")))
    with pytest.raises(os_exc.TransportError) as caught:
        server.connection().perform_request("GET", "/")
    assert (caught.value.status_code, caught.value.error) == (503, "busy")


def test_timeout(serve):
    release = threading.Event()

    def script(peer):
        peer.request()
        release.wait(10)

    server = serve(script)
    conn = server.connection(timeout=5)
    try:
        with pytest.raises(os_exc.ConnectionTimeout) as caught:
            conn.perform_request("GET", "/", timeout=0.2)
    finally:
        release.set()
    assert caught.value.status_code == "TIMEOUT"
    assert isinstance(caught.value.info, TimeoutError)
    assert conn._idle == []


def test_refused_port_is_a_connection_error():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    conn = es_conn.Connection(host="127.0.0.1", port=port)
    with pytest.raises(os_exc.ConnectionError) as caught:
        conn.perform_request("GET", "/")
    assert not isinstance(caught.value, os_exc.ConnectionTimeout)
    assert caught.value.status_code == "N/A"
    assert isinstance(caught.value.info, ConnectionRefusedError)


def test_connect_timeout_is_a_connection_error():
    # Nothing was sent: like urllib3, a ConnectionError (the client may
    # retry it), not a ConnectionTimeout. A listener that never accepts
    # and whose backlog is full leaves new connections unanswered.
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(5):
            filler = socket.socket()
            fillers.append(filler)
            try:
                filler.settimeout(0.2)
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.skip("this system completes every connection")
        conn = es_conn.Connection(host="127.0.0.1", port=port, timeout=0.2)
        with pytest.raises(os_exc.ConnectionError) as caught:
            conn.perform_request("GET", "/")
        assert not isinstance(caught.value, os_exc.ConnectionTimeout)
        assert isinstance(caught.value.info, TimeoutError)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize("reply", [
    answer(body=b'{"a":1}' * 10)[:-20],                        # cut body
    b"HTTP/1.1 200 OK\r\ncontent-le",                          # cut head
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",                            # not HTTP
    b"",                                                       # no answer
])
def test_bad_or_truncated_answer_is_a_connection_error(serve, reply):
    def script(peer):
        peer.request()
        peer.send(reply)

    failures = []

    class Recording(es_conn.Connection):
        def log_request_fail(self, *args, exception=None, **kwargs):
            failures.append(exception)

    server = serve(script)
    conn = server.connection(Recording)
    with pytest.raises(os_exc.ConnectionError) as caught:
        conn.perform_request("GET", "/")
    assert not isinstance(caught.value, os_exc.ConnectionTimeout)
    assert failures == [caught.value.info]
    assert conn._idle == []


def test_extra_bytes_after_answer_drop_the_connection(serve):
    server = serve(keep_alive(answer() + b"HTTP/1.1 200 OK\r\n"))
    conn = server.connection()
    assert conn.perform_request("GET", "/")[0] == 200
    assert conn._idle == []


@pytest.mark.parametrize("kwargs", [
    {"use_ssl": True}, {"scheme": "https"}, {"http_compress": True},
    {"http_auth": lambda *args: {}}])
def test_unsupported_options(kwargs):
    with pytest.raises(os_exc.ImproperlyConfigured):
        es_conn.Connection(host="127.0.0.1", port=9200, **kwargs)


def test_https_host_through_the_client():
    with pytest.raises(os_exc.ImproperlyConfigured):
        opensearchpy.OpenSearch(hosts=["https://127.0.0.1:9200"],
                                connection_class=es_conn.Connection)


# -- logging ------------------------------------------------------------------
def test_success_is_logged_only_when_someone_listens(serve, caplog):
    server = serve(echo_path)
    logged = []

    class Recording(es_conn.Connection):
        def log_request_success(self, *args):
            logged.append(args)
            super().log_request_success(*args)

    conn = server.connection(Recording)
    with caplog.at_level(logging.WARNING, logger="opensearch"):
        conn.perform_request("GET", "/quiet")
    assert logged == []
    with caplog.at_level(logging.INFO, logger="opensearch"):
        conn.perform_request("GET", "/loud")
    assert len(logged) == 1
    assert logged[0][4:6] == (200, '{"line":"GET /loud HTTP/1.1"}')
    assert "GET http://127.0.0.1:%d/loud [status:200" % server.port in (
        caplog.text)


# -- through the client -------------------------------------------------------
def test_plugs_into_the_client(serve):
    hits = b'{"hits":{"total":{"value":1},"hits":[{"_id":"x"}]}}'

    def search(request):
        line, headers, body = request
        assert line == "POST /idx/_search?size=1 HTTP/1.1"
        assert body == b'{"query":{"match_all":{}}}'
        return answer(body=hits)

    server = serve(keep_alive(
        search, answer(body=b""), answer(404, b"", b""),
        answer(404, b'{"error":"not found","status":404}')))
    client = opensearchpy.OpenSearch(
        hosts=["http://127.0.0.1:%d" % server.port],
        connection_class=es_conn.Connection,
        serializer=es_driver._Serializer(), max_retries=0)
    assert client.search(index="idx", size=1,
                         body={"query": {"match_all": {}}}) == {
        "hits": {"total": {"value": 1}, "hits": [{"_id": "x"}]}}
    assert client.indices.exists_alias(name="a") is True
    assert client.indices.exists_alias(name="b") is False
    with pytest.raises(os_exc.NotFoundError):
        client.get(index="idx", id="1")
    assert server.accepted == 1
    client.close()


@pytest.mark.skipif(not os.environ.get("FREEZER_TEST_OPENSEARCH_URL"),
                    reason="FREEZER_TEST_OPENSEARCH_URL is not set")
def test_real_node():
    client = opensearchpy.OpenSearch(
        hosts=[os.environ["FREEZER_TEST_OPENSEARCH_URL"]],
        connection_class=es_conn.Connection,
        serializer=es_driver._Serializer(), max_retries=0)
    index = "conn-test-%s" % uuid.uuid4().hex
    try:
        assert client.indices.exists(index=index) is False
        client.indices.create(index=index, body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0}})
        assert client.indices.exists(index=index) is True
        text = "ü\u20ac" * 5000   # a large body, not ASCII
        client.index(index=index, id="1", body={"text": text, "n": 1},
                     refresh="wait_for")
        assert client.get(index=index, id="1")["_source"] == {
            "text": text, "n": 1}
        result = client.bulk(body=[
            {"index": {"_index": index, "_id": str(n)}} if i == 0
            else {"n": n} for n in range(2, 40) for i in (0, 1)],
            refresh="wait_for")
        assert result["errors"] is False
        found = client.search(index=index, body={
            "query": {"range": {"n": {"gte": 10}}}, "size": 100})
        assert found["hits"]["total"]["value"] == 30
        with pytest.raises(os_exc.NotFoundError):
            client.get(index=index, id="missing")
        with pytest.raises(os_exc.ConflictError):
            client.create(index=index, id="1", body={"n": 0})
        assert "green" in client.cat.health() or "yellow" in (
            client.cat.health())
    finally:
        client.indices.delete(index=index, ignore=[404])
        assert client.indices.exists(index=index) is False
        client.close()
