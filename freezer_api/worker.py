"""The gunicorn worker that serves freezer-api: gunicorn's master (worker
processes, signals, the listening socket, restarts) with waitress's
asynchronous HTTP channels inside each worker.

Why not gunicorn's own workers: a ``sync`` worker, and each thread of a
``gthread`` one, reads a request with a blocking read once its first byte
has come, so a handful of clients that send one header byte a second, or
announce a body and never send it, hold every worker and starve the
service. Here one thread per worker reads every connection without
blocking (waitress's channels, one select loop) and hands a request to the
worker's threads only once it is whole, headers and body; so:

* a slow or stalled client costs a socket and a buffer, never a thread;
* a request not received whole within ``[api] client_timeout`` seconds of
  its first byte gets ``408`` JSON and its connection is closed;
* a body over ``[api] max_body_size`` is still read (and then refused with
  the application's ``413`` JSON) up to 16 times that size, so a client
  that writes its whole body before reading gets the answer instead of a
  broken pipe; past that the connection is closed after the ``413``;
* an idle kept-alive connection is closed after ``keepalive`` seconds;
* a worker whose master is gone stops serving within a second (it asks the
  kernel for SIGTERM when its parent dies, and checks its parent every
  loop) and releases the port, so a new master can bind it at once;
* a request still running after ``timeout`` seconds (``[api]
  worker_timeout``) restarts the worker, as gunicorn's sync worker did.

Errors waitress answers itself (a malformed request line or chunk, headers
over the limit) are the service's JSON ``{"title", "description"}`` too.
"""

import ctypes
import ctypes.util
import os
import signal
import socket
import threading
import time

from gunicorn.workers import base
from waitress import adjustments
from waitress import channel as waitress_channel
from waitress import server as waitress_server
from waitress import task as waitress_task
from waitress import utilities
from waitress import wasyncore

from freezer_api.api import errors

PR_SET_PDEATHSIG = 1
# A body over max_body_size is read and dropped up to this many times
# that size before the connection is closed.
DISCARD_FACTOR = 16
# Defaults when the application is not freezer-api's (it has no conf).
DEFAULT_CLIENT_TIMEOUT = 15
DEFAULT_MAX_BODY = 1024 * 1024
# How long the input of a client whose request was refused is read and
# dropped before its connection is closed.
LINGER_SECONDS = 2
# How often a worker tells its master it lives and looks for its parent
# and for a request running too long.
HOUSEKEEPING_SECONDS = 0.5
# The request line and headers of one request, at most (431 above).
MAX_HEADER_BYTES = 64 * 1024


class RequestTimeout(utilities.Error):
    code = 408
    reason = "Request Timeout"


class JsonErrorTask(waitress_task.ErrorTask):
    """What waitress answers itself, as the service's JSON error."""

    def execute(self):
        error = self.request.error
        body = errors.error_body(error.reason, error.body)
        self.status = "%d %s" % (error.code, error.reason)
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        # The client may still be sending what was refused: read and drop
        # it before closing, so that it reads this answer.
        self.channel.linger = True


class Channel(waitress_channel.HTTPChannel):
    """One client connection; knows when its current request began, and
    answers a request that cannot be received whole."""

    error_task_class = JsonErrorTask
    request_began = 0.0
    linger = False  # drop the client's input for a while before closing
    lingering_until = None

    def readable(self):
        return self.lingering_until is not None or super().readable()

    def writable(self):
        return self.lingering_until is None and super().writable()

    def handle_close(self):
        """After an error answer, end the sending side and read (and drop)
        what the client still sends, for LINGER_SECONDS at most: closing
        with its bytes unread would reset the connection, and the client,
        still writing, would see a broken pipe instead of the answer."""
        if self.linger and self.lingering_until is None and \
                self.connected and not self.total_outbufs_len:
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                self.lingering_until = time.monotonic() + LINGER_SECONDS
                self.will_close = False
                return
        self.lingering_until = None
        super().handle_close()

    def handle_read(self):
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except OSError:
            self.linger = False  # the connection is gone already
            self.handle_close()
            return
        if self.lingering_until is not None:
            if not data or time.monotonic() > self.lingering_until:
                self.handle_close()
            return
        if data:
            self.last_activity = time.time()
            if self.request is None:
                self.request_began = time.monotonic()
            self.received(data)
        elif not self.refuse(utilities.BadRequest(
                "The request ended before all of it came (a body shorter "
                "than its Content-Length, or its chunks cut short): send "
                "it whole.")):
            self.handle_close()  # between requests: the client is done

    def expire(self, began_before, timeout):
        """408 for a request still incomplete that began before
        ``began_before`` (a monotonic time); the end of a linger."""
        if self.lingering_until is not None:
            if time.monotonic() > self.lingering_until:
                self.handle_close()
            return
        if self.request_began < began_before:
            self.refuse(RequestTimeout(
                "The request was not received whole within %d seconds of "
                "its first byte." % timeout))

    def refuse(self, error):
        """Answer the request being received with ``error`` (then close),
        unless there is none; True when answered."""
        with self.requests_lock:
            request = self.request
            if request is None or self.requests or self.will_close or \
                    self.close_when_flushed:
                return False
            request.error = error
            request.completed = True
            self.request = None
            self.requests.append(request)
        # Not readable again until answered (readable() is False while a
        # request is queued), so the end of input is not seen twice.
        self.server.add_task(self)
        return True


class _Deadlines:
    """A waitress server whose channels get a deadline per request."""

    channel_class = Channel
    client_timeout = DEFAULT_CLIENT_TIMEOUT

    def maintenance(self, now):
        super().maintenance(now)  # idle connections
        began_before = time.monotonic() - self.client_timeout
        for channel in list(self.active_channels.values()):
            channel.expire(began_before, self.client_timeout)


class TcpServer(_Deadlines, waitress_server.TcpWSGIServer):
    pass


class UnixServer(_Deadlines, waitress_server.UnixWSGIServer):
    pass


def _die_with_parent():
    """Ask the kernel for SIGTERM when the master dies (Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the loop's check stays
        pass


class InFlight:
    """The start times of the requests a worker is running, to find one
    that has run for too long."""

    def __init__(self, application):
        self.application = application
        self.started = {}

    def __call__(self, environ, start_response):
        key = threading.get_ident()
        self.started[key] = time.monotonic()
        try:
            yield from self.application(environ, start_response)
        finally:
            self.started.pop(key, None)

    def oldest(self):
        return min(self.started.values(), default=None)


def access_logged(application, log):
    """``application`` writing one line per request to gunicorn's access
    log, in gunicorn's default format (``%(h)s %(l)s %(u)s %(t)s "%(r)s"
    %(s)s %(b)s "%(f)s" "%(a)s"``): no other header, so never a token."""

    def logged(environ, start_response):
        answer = {}

        def recording_start_response(status, headers, exc_info=None):
            answer["status"] = status.split(" ", 1)[0]
            answer["length"] = next((v for k, v in headers
                                     if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            yield from application(environ, recording_start_response)
        finally:
            log.access_log.info(
                '%s - - [%s] "%s %s %s" %s %s "%s" "%s"',
                environ.get("REMOTE_ADDR", "-"),
                time.strftime("%d/%b/%Y:%H:%M:%S %z"),
                environ.get("REQUEST_METHOD", "-"),
                environ.get("REQUEST_URI") or environ.get("PATH_INFO", ""),
                environ.get("SERVER_PROTOCOL", "-"),
                answer.get("status", "-"), answer.get("length", "-"),
                environ.get("HTTP_REFERER", "-"),
                environ.get("HTTP_USER_AGENT", "-"))

    return logged


class Worker(base.Worker):
    """``worker_class = "freezer_api.worker.Worker"``."""

    def init_process(self):
        _die_with_parent()
        super().init_process()

    def _limits(self):
        conf = getattr(self.wsgi, "conf", None)
        if conf is None:
            return DEFAULT_CLIENT_TIMEOUT, DEFAULT_MAX_BODY
        return conf.api.client_timeout, conf.api.max_body_size

    def run(self):
        client_timeout, max_body = self._limits()
        adj = adjustments.Adjustments(
            threads=self.cfg.threads,
            connection_limit=self.cfg.worker_connections,
            channel_timeout=max(self.cfg.keepalive, 1),
            cleanup_interval=1,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=max_body * DISCARD_FACTOR,
            ident="freezer-api",
            expose_tracebacks=False,
            log_socket_errors=False,
            # X-Forwarded-* reach the application, whose [oslo_middleware]
            # enable_proxy_headers_parsing decides whether to honour them.
            clear_untrusted_proxy_headers=False,
            asyncore_use_poll=True)
        self.in_flight = InFlight(self.wsgi)
        application = self.in_flight
        if self.cfg.accesslog:
            application = access_logged(application, self.log)
        socket_map = {}
        dispatcher = waitress_server.ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        servers = []
        for listener in self.sockets:
            sock = listener.sock
            server_class = UnixServer if sock.family == getattr(
                socket, "AF_UNIX", None) else TcpServer
            server = server_class(
                application, socket_map, True, sock, dispatcher=dispatcher,
                adj=adj, bind_socket=False,
                sockinfo=(sock.family, sock.type, sock.proto,
                          sock.getsockname()))
            server.client_timeout = client_timeout
            servers.append(server)
        try:
            self._serve(socket_map)
        finally:
            self._stop(servers, socket_map, dispatcher)

    def _serve(self, socket_map):
        checked = 0.0
        while self.alive:
            now = time.monotonic()
            if now - checked >= HOUSEKEEPING_SECONDS:
                # Not at every event: each is a system call or two.
                checked = now
                if not self._healthy(now):
                    return
            wasyncore.loop(timeout=HOUSEKEEPING_SECONDS, map=socket_map,
                           use_poll=True, count=1)

    def _healthy(self, now):
        """Tell the master this worker lives; False when it should stop
        (its master is gone, or a request has run for too long)."""
        self.notify()
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            return False
        oldest = self.in_flight.oldest()
        if oldest is not None and now - oldest > self.timeout:
            self.log.critical(
                "A request has run for over %d s (worker_timeout): "
                "restarting this worker", self.timeout)
            return False
        return True

    def _stop(self, servers, socket_map, dispatcher):
        """Stop accepting at once (the port is free when every worker has
        stopped), answer the requests already received, close the rest."""
        for server in servers:
            server.accepting = False
            server.del_channel(socket_map)
            server.socket.close()
        parent_gone = self.ppid != os.getppid()
        deadline = time.monotonic() + (
            1 if parent_gone else self.cfg.graceful_timeout)
        while time.monotonic() < deadline:
            busy = False
            for channel in list(socket_map.values()):
                if not isinstance(channel, Channel):
                    continue
                if channel.requests or channel.total_outbufs_len:
                    busy = True
                elif not channel.will_close:
                    channel.will_close = True  # idle: closed now
            if not busy:
                break
            self.notify()
            wasyncore.loop(timeout=0.2, map=socket_map, use_poll=True,
                           count=1)
        dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(socket_map)
