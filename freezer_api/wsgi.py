"""``freezer_api.wsgi:application`` for gunicorn, uwsgi and mod_wsgi.

The configuration comes from the file named by ``FREEZER_API_CONFIG``;
without it, from the files oslo.config finds for the CLI tools too:
``freezer.conf`` (the name kolla, openstack-helm and puppet write) and
then ``freezer-api.conf`` (read last, so it wins), each looked for in
``~/.freezer``, ``~``, ``/etc/freezer`` and ``/etc``. The host server's
own command line is never parsed.
"""

import os
import sys

DEFAULT_CONFIG = "/etc/freezer/freezer-api.conf"


def config_files(environ):
    """The configuration files the application reads (see above)."""
    from oslo_config import cfg

    path = environ.get("FREEZER_API_CONFIG")
    if path:
        return [path]
    return cfg.find_config_files(project="freezer", prog="freezer-api")


def init_application(environ=None):
    from oslo_log import log as oslo_log

    from freezer_api import app
    from freezer_api import config

    environ = os.environ if environ is None else environ
    conf = config.parse(args=[], config_files=config_files(environ))
    oslo_log.setup(conf, "freezer-api")
    application = app.create_app(conf)
    # With debug = true, every option (those of keystonemiddleware too,
    # registered by now; secret ones masked) is logged once.
    conf.log_opt_values(oslo_log.getLogger(__name__), oslo_log.DEBUG)
    return application


def __getattr__(name):
    # Built on first access, so importing this module has no side effects
    # beyond what the WSGI server asks for.
    if name == "application":
        application = init_application()
        globals()["application"] = application
        return application
    raise AttributeError(name)


class ChunkedInput:
    """``wsgi.input`` of a chunked request, read through ``read_chunk()``
    (a function returning the next chunk's bytes, b"" after the last)."""

    def __init__(self, read_chunk):
        self._read_chunk = read_chunk
        self._buffer = b""
        self._ended = False

    def read(self, size=-1):
        whole = size is None or size < 0
        while not self._ended and (whole or len(self._buffer) < size):
            chunk = self._read_chunk()
            if chunk:
                self._buffer += chunk
            else:
                self._ended = True
        if whole:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def with_chunked_input(application, read_chunk):
    """``application`` given the chunked bodies a server leaves unread
    (uWSGI's http-socket passes a chunked request on with its body still
    encoded on the socket and no Content-Length): they are read through
    ``read_chunk`` and marked ``wsgi.input_terminated``, as gunicorn and
    mod_wsgi present them. Any other transfer coding is ``501``."""
    from freezer_api.api import errors

    def chunked_input(environ, start_response):
        coding = environ.get("HTTP_TRANSFER_ENCODING", "")
        if not coding or environ.get("wsgi.input_terminated"):
            return application(environ, start_response)
        if coding.strip().lower() != "chunked":
            # A coding this service cannot undo (gzip...), or chunked
            # after another one: refused as RFC 9112 asks, not read as an
            # empty body.
            body = errors.error_body(
                "Not Implemented",
                "Transfer-Encoding %r is not supported: send the body "
                "chunked or with Content-Length." % coding[:64])
            start_response("501 Not Implemented", [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body)))])
            return [body]
        environ["wsgi.input"] = ChunkedInput(read_chunk)
        environ["wsgi.input_terminated"] = True
        return application(environ, start_response)

    return chunked_input


if "uwsgi" in sys.modules:
    import uwsgi

    # uWSGI looks the callable up in this module's dictionary, where
    # __getattr__ is never asked: build it now (with lazy-apps, in each
    # worker).
    application = with_chunked_input(init_application(), uwsgi.chunked_read)
