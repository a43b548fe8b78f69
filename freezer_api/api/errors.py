"""One table from service exceptions to HTTP errors, installed once."""

import json
import logging

import falcon

from freezer_api import exceptions

LOG = logging.getLogger(__name__)

# exception class -> (status, title). Titles are upstream's, so clients
# that print them keep printing the same words.
ERRORS = (
    (exceptions.InvalidInput, falcon.HTTP_400, "Bad request format"),
    (exceptions.Unauthenticated, falcon.HTTP_401, "Unauthorized"),
    (exceptions.Forbidden, falcon.HTTP_403, "Access Forbidden"),
    (exceptions.NotFound, falcon.HTTP_404, "Not Found"),
    (exceptions.AlreadyExists, falcon.HTTP_409, "Document already existing"),
    (exceptions.Conflict, falcon.HTTP_409, "Conflict"),
    (exceptions.PreconditionFailed, falcon.HTTP_412, "Precondition Failed"),
    (exceptions.Unprocessable, falcon.HTTP_422, "Unprocessable Entity"),
    (exceptions.StorageUnavailable, falcon.HTTP_503, "Service Unavailable"),
    (exceptions.IdentityUnavailable, falcon.HTTP_503, "Service Unavailable"),
)
RETRY_AFTER = 5

# Falcon's own errors carry no description; give every one of them one.
DEFAULT_DESCRIPTIONS = {
    400: "The request is not valid.",
    401: "Authentication is required.",
    403: "You are not allowed to access this resource.",
    404: "The resource could not be found.",
    405: "This method is not allowed on this resource.",
    406: "This API only serves application/json.",
    411: "A Content-Length header is required.",
    413: "The request body is too large.",
    415: "The request body must be application/json.",
    500: "An unexpected error occurred.",
}


def _handler(status, title):
    def handle(req, resp, exc, params):
        headers = None
        if status == falcon.HTTP_503:
            headers = {"Retry-After": str(RETRY_AFTER)}
        if status == falcon.HTTP_401 and \
                "keystone.token_auth" not in req.env:
            # (Behind auth_token, which adds the challenge naming the real
            # Keystone to every 401 on its way out.)
            headers = {"WWW-Authenticate": 'Keystone uri="unset"'}
        raise falcon.HTTPError(status, title=title,
                               description=str(exc) or title,
                               headers=headers)
    return handle


def _unexpected(req, resp, exc, params):
    if isinstance(exc, falcon.HTTPError):
        raise exc
    LOG.exception("unexpected error serving %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(
        title="Internal Server Error",
        description="An unexpected error occurred; it has been logged.")


def serialize_error(req, resp, exc):
    """Every error body is ``{"title", "description"}`` JSON."""
    body = {"title": exc.title or "Error",
            "description": exc.description or DEFAULT_DESCRIPTIONS.get(
                exc.status_code, exc.title or "Error")}
    resp.media = body
    resp.content_type = falcon.MEDIA_JSON


def error_body(title, description):
    """The bytes of a JSON error answered outside Falcon (by the server,
    freezer_api.worker, or a WSGI wrapper), the same shape as every other
    one."""
    return json.dumps({"title": title, "description": description}).encode()


def install(app):
    app.add_error_handler(Exception, _unexpected)
    for exc_class, status, title in ERRORS:
        app.add_error_handler(exc_class, _handler(status, title))
    app.set_error_serializer(serialize_error)
