"""Errors raised below the HTTP layer.

Nothing here imports falcon: ``freezer_api.api.errors`` maps each class to an
HTTP status, title and body, once, for every route.
"""


class FreezerError(Exception):
    """Base class; ``str(exc)`` is the client-facing description."""

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class InvalidInput(FreezerError):
    """The request is malformed or violates a schema (HTTP 400)."""


class NotFound(FreezerError):
    """No such document in the caller's scope (HTTP 404).

    Another tenant's document raises this too: its existence is never
    confirmed.
    """


class AlreadyExists(FreezerError):
    """A document with this id already exists (HTTP 409)."""


class Conflict(FreezerError):
    """A write lost a race too many times, or a precondition failed (409)."""


class PreconditionFailed(FreezerError):
    """``If-Match`` named a version that is not the current one (412)."""


class Unprocessable(FreezerError):
    """Well-formed but refers to something unusable, e.g. an unknown client
    for a job (HTTP 422)."""


class Forbidden(FreezerError):
    """The caller may not do this (HTTP 403)."""


class Unauthenticated(FreezerError):
    """No usable identity on the request (HTTP 401)."""


class StorageUnavailable(FreezerError):
    """The storage backend cannot be reached (HTTP 503, Retry-After)."""


class IdentityUnavailable(FreezerError):
    """Keystone cannot be reached to create or delete a trust (HTTP 503,
    Retry-After)."""


class VersionConflict(FreezerError):
    """Internal: a compare-and-set write found a newer version.

    Services retry on it; it reaches HTTP only as ``Conflict``.
    """
