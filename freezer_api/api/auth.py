"""keystonemiddleware's ``auth_token``, answering in this API's format.

auth_token rejects a missing, invalid, expired or revoked token itself
with ``401``, ``WWW-Authenticate: Keystone uri=...`` and its JSON body
``{"error": {"code", "title", "message"}}``, as in every OpenStack
service; here that body also carries this API's ``title`` and
``description``. When Keystone cannot be reached auth_token answers ``503``
with a page webob renders as HTML or text; here that ``503`` is JSON
``{"title", "description"}`` with ``Retry-After``, like every other error
of this API, and so is the ``500`` of an exception inside auth_token (e.g.
``[keystone_authtoken]`` left unconfigured), which would otherwise reach
the WSGI server.
"""

import json
import logging

import webob.exc
from keystonemiddleware import auth_token

from freezer_api.api import errors

LOG = logging.getLogger(__name__)

KEYSTONE_UNAVAILABLE = {
    "title": "Service Unavailable",
    "description": "The identity service (Keystone) cannot be reached to "
                   "validate the token; try again later.",
}

AUTH_FAILED = {
    "title": "Internal Server Error",
    "description": "The token could not be validated because of an "
                   "unexpected error; it has been logged.",
}


def _json_error(exc_class, body, headers=()):
    return exc_class(body=json.dumps(body), content_type="application/json",
                     charset="UTF-8", headers=list(headers))


def _add_title(exc):
    """auth_token's 401 body, plus ``title`` and ``description``."""
    try:
        body = json.loads(exc.body)
        error = body["error"]
        body.update(title=error["title"], description=error["message"])
    except (ValueError, TypeError, KeyError):
        return  # not the body this was written for: leave it alone
    exc.body = json.dumps(body).encode("utf-8")


class AuthProtocol(auth_token.AuthProtocol):
    """auth_token configured from ``[keystone_authtoken]`` of ``conf``."""

    def __init__(self, app, conf):
        super().__init__(app, {"oslo_config_config": conf})

    def process_request(self, request):
        try:
            return super().process_request(request)
        except webob.exc.HTTPUnauthorized as exc:
            _add_title(exc)
            raise
        except webob.exc.HTTPException:
            raise
        except Exception:
            LOG.exception("auth_token failed on %s %s (is "
                          "[keystone_authtoken] configured?)",
                          request.method, request.path)
            raise _json_error(webob.exc.HTTPInternalServerError,
                              AUTH_FAILED)

    def fetch_token(self, token, **kwargs):
        try:
            return super().fetch_token(token, **kwargs)
        except webob.exc.HTTPServiceUnavailable:
            raise _json_error(webob.exc.HTTPServiceUnavailable,
                              KEYSTONE_UNAVAILABLE,
                              [("Retry-After", str(errors.RETRY_AFTER))])
