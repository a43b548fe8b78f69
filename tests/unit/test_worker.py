"""freezer_api.worker's parts that need no server: the in-flight clock
behind the worker timeout, and the access line (never a header). The
worker itself is tested over real sockets (tests/functional)."""

from freezer_api import worker


def _app(environ, start_response):
    start_response("201 Created", [("Content-Length", "2")])
    yield b"{}"


def _start_response(status, headers, exc_info=None):
    return None


def test_in_flight_knows_the_oldest_running_request():
    tracked = worker.InFlight(_app)
    assert tracked.oldest() is None
    body = tracked({}, _start_response)
    assert next(body) == b"{}"
    assert tracked.oldest() is not None  # running until its body ends
    assert list(body) == []
    assert tracked.oldest() is None


def test_in_flight_forgets_a_request_whose_body_is_closed_early():
    tracked = worker.InFlight(_app)
    body = tracked({}, _start_response)
    next(body)
    body.close()  # the server closes a body it stops sending
    assert tracked.oldest() is None


class _Log:
    def __init__(self):
        self.lines = []
        self.access_log = self

    def info(self, fmt, *args):
        self.lines.append(fmt % args)


def test_the_access_line_is_gunicorns_with_no_header_but_the_agent():
    log = _Log()
    app = worker.access_logged(_app, log)
    environ = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/v1/jobs?limit=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_X_AUTH_TOKEN": "secret-token",
               "HTTP_USER_AGENT": "freezer-scheduler"}
    assert b"".join(app(environ, _start_response)) == b"{}"
    (line,) = log.lines
    assert '"POST /v1/jobs?limit=1 HTTP/1.1" 201 2 "-" ' in line
    assert line.startswith("127.0.0.1 - - [")
    assert line.endswith('"freezer-scheduler"')
    assert "secret-token" not in line
