"""A lean HTTP connection for ``opensearch-py``, for plain-http engines.

Why: the client's default connection (urllib3 over ``http.client``, whose
answers are parsed by the ``email`` package) costs about 0.8-0.9 ms of CPU
per request on a test machine, more than the rest of a whole API request.
This class speaks just the HTTP/1.1 the engine needs over raw sockets, for
a fraction of that.

Supports: plain http, keep-alive (a small pool of idle sockets per
connection object, shared by threads), basic authentication, answers
framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the end of
the connection, interim 1xx answers, ``Warning`` headers. Does not support:
TLS (the driver keeps the client's urllib3 connection for https hosts),
compression, callable ``http_auth``.

Its ``perform_request`` keeps the contract of the client's connections
(``opensearchpy.Urllib3HttpConnection``), except that a JSON answer is
returned as bytes: the client's JSON serializer reads bytes as well.
Unix only (it polls idle sockets with ``select.poll``).
"""

import base64
import logging
import select
import socket
import time
from urllib.parse import urlencode

from opensearchpy import compat as os_compat
from opensearchpy import exceptions as os_exc
from opensearchpy import metrics as os_metrics
from opensearchpy.connection import base as os_base


_MAX_HEAD = 65536        # bytes of status line and headers we accept
_RECV_SIZE = 65536
_NO_BODY_STATUSES = (204, 304)


def basic_authorization(credentials):
    """The Authorization header's value for ``credentials`` ((user,
    password) or 'user:password'): RFC 7617 in UTF-8, as the engines
    decode it (urllib3 would encode latin-1)."""
    if isinstance(credentials, (tuple, list)):
        credentials = ":".join(credentials)
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode()


class _BadResponse(Exception):
    """The server's answer is not HTTP we understand, or is cut short."""


class Connection(os_base.Connection):
    """``connection_class`` for ``opensearchpy.OpenSearch``: plain-http
    hosts only. Thread-safe; ``pool_maxsize`` idle sockets are kept."""

    def __init__(self, host="localhost", port=None, http_auth=None,
                 use_ssl=False, headers=None, http_compress=None,
                 pool_maxsize=None, metrics=None, **kwargs):
        super().__init__(host=host, port=port, use_ssl=use_ssl,
                         headers=headers, http_compress=http_compress,
                         **kwargs)
        if self.use_ssl:
            raise os_exc.ImproperlyConfigured(
                "%s speaks plain http only; use opensearch-py's "
                "Urllib3HttpConnection for %s"
                % (type(self).__name__, self.host))
        if http_compress:
            raise os_exc.ImproperlyConfigured(
                "%s does not support http_compress" % type(self).__name__)
        if http_auth is not None:
            if callable(http_auth):
                raise os_exc.ImproperlyConfigured(
                    "%s supports only a (user, password) or 'user:password' "
                    "http_auth" % type(self).__name__)
            self.headers["authorization"] = basic_authorization(http_auth)
        self.metrics = (metrics if metrics is not None
                        else os_metrics.MetricsNone())
        self.pool_maxsize = (pool_maxsize if isinstance(pool_maxsize, int)
                             and pool_maxsize > 0 else 10)
        # "host:port" ("[v6]:port"), as the base class wrote it in self.host.
        self._host_line = "host: " + self.host.split("://", 1)[1]
        # Idle sockets, most recently used last; list.append and list.pop
        # are atomic, so threads share it without a lock.
        self._idle = []

    def perform_request(self, method, url, params=None, body=None,
                        timeout=None, ignore=(), headers=None):
        url = self.url_prefix + url
        if params:
            url = "%s?%s" % (url, urlencode(params))
        full_url = self.host + url
        request = self._request(method, url, body, headers)
        timeout = timeout or self.timeout

        start = time.time()
        self.metrics.request_start()
        sock = None
        try:
            sock = self._checkout(timeout)
            sock.sendall(request)
            status, resp_headers, warnings, data, reusable = (
                _read_response(sock, method))
        except BaseException as e:
            if sock is not None:   # never reuse a socket in unknown state
                sock.close()
            if (not isinstance(e, Exception)
                    or isinstance(e, os_compat.reraise_exceptions)):
                raise
            self.log_request_fail(method, full_url, url, body,
                                  time.time() - start, exception=e)
            # No socket: connecting failed (timed out or not), which
            # urllib3 reports as a ConnectionError too.
            if isinstance(e, TimeoutError) and sock is not None:
                raise os_exc.ConnectionTimeout("TIMEOUT", str(e), e)
            raise os_exc.ConnectionError("N/A", str(e), e)
        finally:
            self.metrics.request_end()
        duration = time.time() - start
        if reusable and len(self._idle) < self.pool_maxsize:
            self._idle.append(sock)
        else:
            sock.close()

        self._raise_warnings(warnings)
        content_type = resp_headers.get("content-type")
        if not (200 <= status < 300) and status not in ignore:
            text = data.decode("utf-8", "replace")
            self.log_request_fail(method, full_url, url, body, duration,
                                  status, text)
            self._raise_error(status, text, content_type)
        if (os_base.logger.isEnabledFor(logging.INFO)
                or os_base.tracer.isEnabledFor(logging.INFO)):
            self.log_request_success(method, full_url, url, body, status,
                                     data.decode("utf-8", "replace"),
                                     duration)
        if content_type and "json" not in content_type:
            data = data.decode("utf-8", "replace")   # e.g. text/plain: str
        return status, resp_headers, data

    def close(self):
        """Close the idle sockets (one in use is closed by its request)."""
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return

    def _request(self, method, url, body, headers):
        """The request's bytes: head and body, to send in one write."""
        if headers:
            headers = {**self.headers,
                       **{k.lower(): v for k, v in headers.items()}}
        else:
            headers = self.headers
        lines = ["%s %s HTTP/1.1" % (method, url), self._host_line]
        lines.extend("%s: %s" % item for item in headers.items())
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append("content-length: %d" % len(body or b""))
        head = "\r\n".join(lines)
        # A line break inside the url or a value would inject headers.
        breaks = len(lines) - 1
        if head.count("\n") != breaks or head.count("\r") != breaks:
            raise ValueError("line break in the head of %r" % lines[0])
        head = (head + "\r\n\r\n").encode("latin-1")
        return head + body if body else head

    def _checkout(self, timeout):
        """An idle socket still open, or a new one."""
        while self._idle:
            try:
                sock = self._idle.pop()
            except IndexError:   # another thread took the last one
                break
            # An idle socket has nothing to read: if it is readable, the
            # server closed it (or said something out of turn).
            poll = select.poll()
            poll.register(sock, select.POLLIN)
            if not poll.poll(0):
                if sock.gettimeout() != timeout:
                    sock.settimeout(timeout)
                return sock
            sock.close()
        sock = socket.create_connection((self.hostname, self.port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def _read_response(sock, method):
    """Read one answer: (status, headers, warnings, body, reusable).

    ``headers`` has lowercase names (a repeated header's values joined by
    ", "), ``warnings`` every ``Warning`` value; ``reusable`` tells whether
    the socket is ready for another request.
    """
    buf = bytearray()   # bytes received and not consumed yet
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                raise _BadResponse("response head too long")
            _recv(sock, buf)
            continue
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[:end + 4]
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise _BadResponse("bad status line %r" % lines[0][:100])
        status = int(rest[:3])
        if not 100 <= status < 200:
            break    # else an interim answer (100 Continue): skip it

    headers, warnings = {}, []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadResponse("bad header line %r" % line[:100])
        name, value = name.strip().lower(), value.strip()
        headers[name] = (headers[name] + ", " + value if name in headers
                         else value)
        if name == "warning":
            warnings.append(value)

    reusable = (version == "HTTP/1.1"
                and "close" not in headers.get("connection", "").lower())
    if method == "HEAD" or status in _NO_BODY_STATUSES:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _read_chunked(sock, buf)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            length = -1
        if length < 0:
            raise _BadResponse("bad content-length %r"
                               % headers["content-length"])
        body = _read_exact(sock, buf, length)
    else:   # the body ends with the connection
        while _recv(sock, buf, eof_ok=True):
            pass
        body, reusable = bytes(buf), False
        buf.clear()
    # Bytes beyond the answer: the server is out of step, drop the socket.
    return status, headers, warnings, body, reusable and not buf


def _recv(sock, buf, eof_ok=False):
    """Append what the socket has to ``buf``; False at the end of it."""
    data = sock.recv(_RECV_SIZE)
    if not data and not eof_ok:
        raise _BadResponse("connection closed before the end of the answer")
    buf += data
    return bool(data)


def _read_exact(sock, buf, length):
    """The next ``length`` bytes, from ``buf`` and then the socket."""
    while len(buf) < length:
        _recv(sock, buf)
    data = bytes(buf[:length])
    del buf[:length]
    return data


def _read_chunked(sock, buf):
    """A chunked body, its trailers skipped."""
    chunks = []
    while True:
        line = _read_line(sock, buf)
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            size = -1
        if size < 0:
            raise _BadResponse("bad chunk size %r" % line[:100])
        if size == 0:
            break
        chunks.append(_read_exact(sock, buf, size))
        if _read_exact(sock, buf, 2) != b"\r\n":
            raise _BadResponse("chunk not followed by CRLF")
    while _read_line(sock, buf):    # trailers, up to an empty line
        pass
    return b"".join(chunks)


def _read_line(sock, buf):
    """The next line, without its CRLF."""
    while (end := buf.find(b"\r\n")) < 0:
        if len(buf) > _MAX_HEAD:
            raise _BadResponse("line too long")
        _recv(sock, buf)
    line = bytes(buf[:end])
    del buf[:end + 2]
    return line
