"""freezer_api.wsgi's chunked-input adapter (what uWSGI's http-socket
needs; tests/functional/test_deploy.py runs it under the real uWSGI)."""

import io
import json

from freezer_api import wsgi


def _chunks(*parts):
    calls = []
    pending = list(parts) + [b""]

    def read_chunk():
        calls.append(len(pending))
        return pending.pop(0) if pending else b""
    return read_chunk, calls


def test_reads_across_chunks_and_stops_at_the_end():
    read_chunk, calls = _chunks(b"abc", b"defg", b"h")
    stream = wsgi.ChunkedInput(read_chunk)
    assert stream.read(2) == b"ab"
    assert len(calls) == 1  # no chunk read beyond what was asked
    assert stream.read(5) == b"cdefg"
    assert stream.read() == b"h"
    assert stream.read(10) == b""
    assert stream.read() == b""


def test_a_bounded_read_does_not_drain_a_long_body():
    read_chunk, calls = _chunks(*[b"x" * 100] * 50)
    stream = wsgi.ChunkedInput(read_chunk)
    assert stream.read(250) == b"x" * 250
    assert len(calls) == 3


def _seen(environ):
    seen = {}

    def app(env, start_response):
        seen.update(env)
        return [b""]
    read_chunk, _ = _chunks(b'{"a": ', b'1}')
    wsgi.with_chunked_input(app, read_chunk)(environ, None)
    return seen


def test_another_transfer_coding_is_501_and_never_reaches_the_app():
    for coding in ("gzip", "gzip, chunked", "chunked, gzip"):
        seen, answered = {}, []

        def app(env, start_response):
            seen.update(env)
            return [b""]
        read_chunk, calls = _chunks(b"x")
        body = b"".join(wsgi.with_chunked_input(app, read_chunk)(
            {"HTTP_TRANSFER_ENCODING": coding},
            lambda status, headers: answered.append(status)))
        assert answered == ["501 Not Implemented"]
        assert set(json.loads(body)) == {"title", "description"}
        assert seen == {} and calls == []


def test_only_chunked_requests_the_server_left_unread_are_wrapped():
    for coding in ("chunked", "Chunked", " chunked "):
        seen = _seen({"HTTP_TRANSFER_ENCODING": coding,
                      "wsgi.input": io.BytesIO(b"raw")})
        assert seen["wsgi.input_terminated"] is True
        assert seen["wsgi.input"].read() == b'{"a": 1}'
    plain = io.BytesIO(b"{}")
    seen = _seen({"CONTENT_LENGTH": "2", "wsgi.input": plain})
    assert seen["wsgi.input"] is plain
    assert "wsgi.input_terminated" not in seen
    # A server that already ends the stream itself is left alone.
    terminated = io.BytesIO(b"{}")
    seen = _seen({"HTTP_TRANSFER_ENCODING": "chunked",
                  "wsgi.input_terminated": True, "wsgi.input": terminated})
    assert seen["wsgi.input"] is terminated
