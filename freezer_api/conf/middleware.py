"""This service's defaults for oslo.middleware's options.

``[cors]`` (cross-origin requests, off until ``allowed_origin`` is set) and
``[oslo_middleware] enable_proxy_headers_parsing`` (honour
``X-Forwarded-Proto``/``-Host``/``-Prefix`` and ``Forwarded`` from a
reverse proxy) are registered by their middlewares, which the app factory
installs; they are listed in the sample by oslo.middleware's own
``oslo.config.opts`` namespaces. ``set_defaults`` is called by this
project's ``oslo.config.opts.defaults`` entry point
(``freezer_api.conf.set_defaults``), so the sample shows the headers the
API really uses.
"""

from oslo_middleware import cors
from oslo_middleware import http_proxy_to_wsgi

ALLOW_HEADERS = [
    "X-Auth-Token", "X-Identity-Status", "X-Roles", "X-Service-Catalog",
    "X-User-Id", "X-Project-Id", "X-Tenant-Id", "X-User-Name",
    "X-OpenStack-Request-ID", "Content-Type", "If-Match",
]
EXPOSE_HEADERS = ["X-OpenStack-Request-ID", "ETag", "Retry-After"]
ALLOW_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def register_opts(conf):
    """Register [cors] and [oslo_middleware] up front (the middlewares
    would register them only when the application is built)."""
    set_defaults()
    conf.register_opts(cors.OPTS, group="cors")
    conf.register_opts(http_proxy_to_wsgi.OPTS, group="oslo_middleware")


def set_defaults():
    cors.set_defaults(allow_headers=ALLOW_HEADERS,
                      expose_headers=EXPOSE_HEADERS,
                      allow_methods=ALLOW_METHODS)
