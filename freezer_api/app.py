"""The one WSGI application factory."""

import logging
import re
import time
import urllib.parse
import uuid

import falcon
from oslo_middleware import cors
from oslo_middleware import http_proxy_to_wsgi

from freezer_api import exceptions
from freezer_api import services as services_module
from freezer_api import storage as storage_module
from freezer_api.api import context
from freezer_api.api import errors
from freezer_api.api import media
from freezer_api.api import request_id
from freezer_api.api import resources
from freezer_api.api import routes
from freezer_api.api import versions

LOG = logging.getLogger(__name__)
_SLASHES = re.compile(r"//+")


def _route_path(environ, raw, path):
    """PATH_INFO to route on: ``path`` (the server's PATH_INFO, decoded,
    so an encoded slash already split its segment in two) or, when the
    raw request target ``raw`` holds an encoded slash, that target decoded
    segment by segment, each "/" inside a segment kept in it as
    resources.ENCODED_SLASH."""
    if "%2f" not in raw.lower():
        return path
    target = raw.split("?", 1)[0]
    if "://" in target:  # absolute form: http://host/path
        target = urllib.parse.urlsplit(target).path
    segments = [urllib.parse.unquote_to_bytes(segment).decode("latin-1")
                .replace("/", resources.ENCODED_SLASH)
                for segment in target.split("/")]
    rebuilt = "/".join(segments)
    script_name = environ.get("SCRIPT_NAME", "")
    if script_name and rebuilt.startswith(script_name):
        rebuilt = rebuilt[len(script_name):]
    return rebuilt or "/"


def _clock():
    return int(time.time())


def _new_id():
    return uuid.uuid4().hex


def needs_auto_upgrade(conf):
    if conf.storage.auto_upgrade is not None:
        return conf.storage.auto_upgrade
    return conf.storage.driver == "sqlalchemy" and \
        (conf.database.connection or "").startswith("sqlite")


def _trusts(conf):
    """The Keystone trusts of central clients' jobs, or None when none
    are made (``[centralized_scheduler] enabled`` off, or no Keystone)."""
    if not conf.centralized_scheduler.enabled:
        return None
    if conf.auth_strategy != "keystone":
        LOG.info("auth_strategy = noauth: jobs of central clients get no "
                 "Keystone trust")
        return None
    from freezer_api import keystone
    return keystone.Trusts(conf)


def create_app(conf, storage=None, clock=None, new_id=None, trusts=None):
    """Build the WSGI application from a parsed ``conf``.

    ``storage``, ``clock``, ``new_id`` and ``trusts`` may be injected
    (tests); by default the driver named by ``[storage] driver`` is loaded
    (and, for the embedded SQLite default, its schema created or
    upgraded), and trusts are made as ``[centralized_scheduler]`` says.
    """
    if storage is None:
        storage = storage_module.load_driver(conf)
        if needs_auto_upgrade(conf):
            storage.upgrade()
    enabled = [v for v, on in (("v1", conf.enable_v1_api),
                               ("v2", conf.enable_v2_api)) if on]
    if not enabled:
        raise exceptions.FreezerError("enable_v1_api and enable_v2_api are "
                                      "both off: nothing to serve")
    services = services_module.Services(
        storage, clock or _clock, new_id or _new_id,
        max_retries=conf.api.max_write_retries,
        trusts=trusts if trusts is not None else _trusts(conf),
        enforce_trusts=conf.centralized_scheduler.enforce_trusts)
    authorizer = context.Authorizer(conf)

    app = falcon.App(middleware=[context.RequireJSON(),
                                 context.ContextMiddleware(
                                     conf.auth_strategy, routes.is_public),
                                 resources.CheckPathIds()])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = False
    app.req_options.auto_parse_qs_csv = False
    errors.install(app)
    media.install(app)

    app.add_route("/", versions.Versions(enabled))
    app.add_route("/healthcheck", versions.Healthcheck(
        storage, conf.healthcheck.disable_by_file_path,
        conf.healthcheck.check_storage))
    for version in enabled:
        home = versions.HomeDocument(routes.PREFIXES[version])
        app.add_route("/" + version, home)
    routes.mount(app, enabled, services, authorizer, conf.api)

    protected = app
    if conf.auth_strategy == "keystone":
        from freezer_api.api import auth
        protected = auth.AuthProtocol(app, conf)
    else:
        LOG.warning("auth_strategy = noauth: X-User-Id, X-Project-Id and "
                    "X-Roles are trusted as sent. Never expose this "
                    "server beyond a trusted host.")

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        # The raw request target: gunicorn's RAW_URI, or REQUEST_URI
        # (freezer_api.worker's waitress, uWSGI, mod_wsgi).
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw and "%" in raw:
            path = environ["PATH_INFO"] = _route_path(environ, raw, path)
        if "//" in path:
            path = environ["PATH_INFO"] = _SLASHES.sub("/", path)
        if routes.is_public(path):
            return app(environ, start_response)
        return protected(environ, start_response)

    with_request_id = request_id.wrap(dispatch)
    # The client's scheme, host and prefix as a reverse proxy forwarded
    # them ([oslo_middleware] enable_proxy_headers_parsing), then CORS
    # ([cors]), outermost so that preflight requests need no token.
    with_proxy = with_request_id
    if conf.oslo_middleware.enable_proxy_headers_parsing:
        # (When off, the middleware changes nothing: not even wrapped.)
        with_proxy = http_proxy_to_wsgi.HTTPProxyToWSGI(with_request_id,
                                                        conf)
    with_cors = cors.CORS(with_proxy, conf)

    def application(environ, start_response):
        # CORS acts on preflight requests and on requests naming an
        # Origin; it leaves every other request and its answer as they
        # are, so those skip it (and its webob round trip).
        if environ.get("REQUEST_METHOD") == "OPTIONS" or \
                "HTTP_ORIGIN" in environ:
            return with_cors(environ, start_response)
        return with_proxy(environ, start_response)

    application.storage = storage  # for tools that need the driver
    application.conf = conf  # for the server: freezer_api.worker
    application.falcon_app = app  # for introspection (routes, OpenAPI)
    return application
